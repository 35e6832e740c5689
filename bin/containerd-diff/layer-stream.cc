#include "layer-stream.h"

#include <archive.h>
#include <common/errors.h>
#include <errno.h>
#include <kj/debug.h>
#include <string.h>
#include <unistd.h>

namespace ctrd {
namespace {

constexpr size_t INPUT_BUFFER = 1 << 20;

struct MediaType {
  kj::StringPtr name;
  Compression compression;
};

const MediaType MEDIA_TYPES[] = {
    {"application/vnd.oci.image.layer.v1.tar"_kj, Compression::NONE},
    {"application/vnd.oci.image.layer.v1.tar+gzip"_kj, Compression::GZIP},
    {"application/vnd.oci.image.layer.v1.tar+zstd"_kj, Compression::ZSTD},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar"_kj, Compression::NONE},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"_kj, Compression::GZIP},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"_kj, Compression::ZSTD},
    {"application/vnd.docker.image.rootfs.diff.tar"_kj, Compression::NONE},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip"_kj, Compression::GZIP},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"_kj, Compression::GZIP},
};

[[noreturn]] void corrupt(kj::StringPtr what) {
  throwError(ErrorKind::INVALID_ARGUMENT, kj::str("layer stream: ", what));
}

}  // namespace

Compression compressionForMediaType(kj::StringPtr mediaType) {
  for (auto& m : MEDIA_TYPES) {
    if (m.name == mediaType) return m.compression;
  }
  throwError(ErrorKind::INVALID_ARGUMENT,
             kj::str("unsupported layer media type \"", mediaType, "\""));
}

LayerStream::LayerStream(int fd, Compression compression, kj::StringPtr mediaType)
    : fd(fd), compression(compression), input(kj::heapArray<kj::byte>(INPUT_BUFFER)) {
  memset(&zs, 0, sizeof(zs));
  fill();
  auto head = input.slice(inputPos, inputEnd);
  auto starts = [&](std::initializer_list<kj::byte> magic) {
    if (head.size() < magic.size()) return false;
    return memcmp(head.begin(), magic.begin(), magic.size()) == 0;
  };
  bool gzip = starts({0x1f, 0x8b});
  bool zst = starts({0x28, 0xb5, 0x2f, 0xfd});
  bool ok = compression == Compression::GZIP   ? gzip
            : compression == Compression::ZSTD ? zst
                                               : !gzip && !zst;
  if (!ok) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str("layer with media type \"", mediaType, "\" starts with ",
                       gzip  ? "gzip"
                       : zst ? "zstd"
                             : "neither gzip nor zstd",
                       " magic bytes"));
  }
  if (compression == Compression::GZIP) {
    KJ_ASSERT(inflateInit2(&zs, 15 + 16) == Z_OK);
  } else if (compression == Compression::ZSTD) {
    zstd = ZSTD_createDStream();
    KJ_ASSERT(zstd != nullptr);
    ZSTD_initDStream(zstd);
  }
}

LayerStream::~LayerStream() noexcept(false) {
  if (compression == Compression::GZIP) inflateEnd(&zs);
  if (zstd != nullptr) ZSTD_freeDStream(zstd);
}

bool LayerStream::fill() {
  if (inputPos < inputEnd) return true;
  if (inputEof) return false;
  ssize_t n;
  do {
    n = ::read(fd, input.begin(), input.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) throwError(ErrorKind::UNKNOWN, kj::str("reading the layer: ", strerror(errno)));
  inputPos = 0;
  inputEnd = n;
  if (n == 0) inputEof = true;
  return n > 0;
}

size_t LayerStream::decompress(kj::ArrayPtr<kj::byte> out) {
  while (!streamEnd) {
    if (!fill()) corrupt("truncated: the compressed stream ends early");
    if (compression == Compression::GZIP) {
      zs.next_in = input.begin() + inputPos;
      zs.avail_in = inputEnd - inputPos;
      zs.next_out = out.begin();
      zs.avail_out = out.size();
      int rc = inflate(&zs, Z_NO_FLUSH);
      inputPos = inputEnd - zs.avail_in;
      size_t produced = out.size() - zs.avail_out;
      if (rc == Z_STREAM_END) {
        // Concatenated gzip members are one stream to gunzip; carry on if more follows.
        if (fill()) {
          KJ_ASSERT(inflateReset(&zs) == Z_OK);
        } else {
          streamEnd = true;
        }
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        corrupt(kj::str("gzip: ", zs.msg ? zs.msg : "corrupt data"));
      }
      if (produced > 0) return produced;
    } else {
      ZSTD_inBuffer in = {input.begin() + inputPos, inputEnd - inputPos, 0};
      ZSTD_outBuffer o = {out.begin(), out.size(), 0};
      size_t rc = ZSTD_decompressStream(zstd, &o, &in);
      if (ZSTD_isError(rc)) corrupt(kj::str("zstd: ", ZSTD_getErrorName(rc)));
      inputPos += in.pos;
      if (rc == 0 && !fill()) streamEnd = true;
      if (o.pos > 0) return o.pos;
    }
  }
  return 0;
}

size_t LayerStream::read(kj::ArrayPtr<kj::byte> out) {
  size_t n;
  if (compression == Compression::NONE) {
    if (!fill()) return 0;
    n = kj::min(out.size(), inputEnd - inputPos);
    memcpy(out.begin(), input.begin() + inputPos, n);
    inputPos += n;
  } else {
    n = decompress(out);
  }
  hash.update(out.slice(0, n));
  total += n;
  return n;
}

LayerStream::Finished LayerStream::finish() {
  auto buf = kj::heapArray<kj::byte>(1 << 16);
  while (read(buf) > 0) {
  }
  return {hash.digest(), total};
}

kj::StringPtr archiveError(struct archive* a) {
  const char* message = archive_error_string(a);
  return message == nullptr ? "unknown error"_kj : kj::StringPtr(message);
}

}  // namespace ctrd
