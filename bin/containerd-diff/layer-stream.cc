#include "layer-stream.h"

#include <archive.h>
#include <common/errors.h>
#include <errno.h>
#include <kj/debug.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#if CTRD_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

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

class ZlibDecoder final : public GzipDecoder {
public:
  ZlibDecoder() {
    memset(&zs, 0, sizeof(zs));
    KJ_ASSERT(inflateInit2(&zs, 15 + 16) == Z_OK);
  }
  ~ZlibDecoder() noexcept(false) { inflateEnd(&zs); }

  Step inflate(kj::ArrayPtr<const kj::byte> in, kj::ArrayPtr<kj::byte> out) override {
    zs.next_in = const_cast<kj::byte*>(in.begin());
    zs.avail_in = in.size();
    zs.next_out = out.begin();
    zs.avail_out = out.size();
    int rc = ::inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) {
      corrupt(kj::str("gzip: ", zs.msg ? zs.msg : "corrupt data"));
    }
    return {in.size() - zs.avail_in, out.size() - zs.avail_out, rc == Z_STREAM_END};
  }
  void nextMember() override { KJ_ASSERT(inflateReset(&zs) == Z_OK); }

private:
  z_stream zs;
};

#if CTRD_HAVE_ISAL
class IsalDecoder final : public GzipDecoder {
public:
  IsalDecoder() : state(kj::heap<inflate_state>()) { nextMember(); }

  Step inflate(kj::ArrayPtr<const kj::byte> in, kj::ArrayPtr<kj::byte> out) override {
    // ISA-L counts in 32 bits.
    auto take = in.slice(0, kj::min(in.size(), size_t(1) << 30));
    auto give = out.slice(0, kj::min(out.size(), size_t(1) << 30));
    // RFC 1952: a decoder must refuse a member whose reserved flag bits are set. zlib does;
    // ISA-L does not look (found by fuzz-gzip-inflate), and both must take the same layers.
    // (After ISA-L's own checks of the bytes before them, as zlib orders its errors.)
    constexpr size_t FLAGS_AT = 3;
    bool reservedFlags = memberOffset <= FLAGS_AT && memberOffset + take.size() > FLAGS_AT &&
                         (take[FLAGS_AT - memberOffset] & 0xe0) != 0;
    state->next_in = const_cast<kj::byte*>(take.begin());
    state->avail_in = take.size();
    state->next_out = give.begin();
    state->avail_out = give.size();
    int rc = isal_inflate(state);
    if (rc != ISAL_DECOMP_OK) corrupt(kj::str("gzip: ", describe(rc)));
    if (reservedFlags) corrupt("gzip: unknown header flags set");
    memberOffset += take.size() - state->avail_in;
    return {take.size() - state->avail_in, give.size() - state->avail_out,
            state->block_state == ISAL_BLOCK_FINISH};
  }
  void nextMember() override {
    isal_inflate_init(state);
    memberOffset = 0;
    // The header parsed, and the trailer's CRC-32 and size checked against the output.
    state->crc_flag = ISAL_GZIP;
  }

private:
  kj::Own<inflate_state> state;
  size_t memberOffset = 0;  // bytes of the current member consumed

  static kj::StringPtr describe(int rc) {
    switch (rc) {
      case ISAL_INVALID_BLOCK:
        return "invalid deflate block";
      case ISAL_INVALID_SYMBOL:
        return "invalid deflate symbol";
      case ISAL_INVALID_LOOKBACK:
        return "invalid distance too far back";
      case ISAL_INVALID_WRAPPER:
        return "incorrect header check";
      case ISAL_UNSUPPORTED_METHOD:
        return "unknown compression method";
      case ISAL_INCORRECT_CHECKSUM:
        return "incorrect data check";
      default:
        return "corrupt data";
    }
  }
};
#endif

}  // namespace

#if CTRD_HAVE_ISAL
const Inflater DEFAULT_INFLATER = Inflater::ISAL;
#else
const Inflater DEFAULT_INFLATER = Inflater::ZLIB;
#endif

bool haveInflater(Inflater inflater) {
  return inflater == Inflater::ZLIB || CTRD_HAVE_ISAL;
}

kj::Own<GzipDecoder> newGzipDecoder(Inflater inflater) {
#if CTRD_HAVE_ISAL
  if (inflater == Inflater::ISAL) return kj::heap<IsalDecoder>();
#endif
  KJ_REQUIRE(inflater == Inflater::ZLIB, "this build has no ISA-L");
  return kj::heap<ZlibDecoder>();
}

Compression compressionForMediaType(kj::StringPtr mediaType) {
  for (auto& m : MEDIA_TYPES) {
    if (m.name == mediaType) return m.compression;
  }
  throwError(ErrorKind::INVALID_ARGUMENT,
             kj::str("unsupported layer media type \"", mediaType, "\""));
}

LayerStream::LayerStream(int fd, Compression compression, kj::StringPtr mediaType,
                         Inflater inflater)
    : fd(fd), compression(compression), input(kj::heapArray<kj::byte>(INPUT_BUFFER)) {
  fill();
  auto head = input.slice(inputPos, inputEnd);
  auto starts = [&](std::initializer_list<kj::byte> magic) {
    if (head.size() < magic.size()) return false;
    return memcmp(head.begin(), magic.begin(), magic.size()) == 0;
  };
  bool gzipMagic = starts({0x1f, 0x8b});
  bool zstdMagic = starts({0x28, 0xb5, 0x2f, 0xfd});
  bool ok = compression == Compression::GZIP   ? gzipMagic
            : compression == Compression::ZSTD ? zstdMagic
                                               : !gzipMagic && !zstdMagic;
  if (!ok) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str("layer with media type \"", mediaType, "\" starts with ",
                       gzipMagic   ? "gzip"
                       : zstdMagic ? "zstd"
                                   : "neither gzip nor zstd",
                       " magic bytes"));
  }
  if (compression == Compression::GZIP) {
    gzip = newGzipDecoder(inflater);
  } else if (compression == Compression::ZSTD) {
    zstd = ZSTD_createDStream();
    KJ_ASSERT(zstd != nullptr);
    ZSTD_initDStream(zstd);
  }
}

LayerStream::~LayerStream() noexcept(false) {
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
      auto step = gzip->inflate(input.slice(inputPos, inputEnd), out);
      inputPos += step.consumed;
      if (step.memberEnd) {
        // Concatenated gzip members are one stream to gunzip; carry on if more follows.
        if (fill()) {
          gzip->nextMember();
        } else {
          streamEnd = true;
        }
      } else if (step.consumed == 0 && step.produced == 0) {
        corrupt("gzip: the decoder made no progress");
      }
      if (step.produced > 0) return step.produced;
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
