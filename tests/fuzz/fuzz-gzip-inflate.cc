// ISA-L's inflate against zlib's on the same bytes, as a gzip layer stream: both accept with the
// same output and diff ID, or both refuse. A stream that one decoder takes and the other does not
// would make the same layer unpack on one build and fail on another.
#include <kj/debug.h>
#include <layer-stream.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

namespace {

struct Outcome {
  bool ok = false;
  std::string bytes;
  std::string digest;
};

Outcome inflateWith(ctrd::Inflater inflater, const uint8_t* data, size_t size) {
  Outcome out;
  int fd = memfd_create("layer", MFD_CLOEXEC);
  KJ_ASSERT(write(fd, data, size) == ssize_t(size));
  lseek(fd, 0, SEEK_SET);
  auto error = kj::runCatchingExceptions([&]() {
    ctrd::LayerStream stream(fd, ctrd::Compression::GZIP,
                             "application/vnd.oci.image.layer.v1.tar+gzip", inflater);
    kj::byte buf[4096];
    size_t n;
    // Bounded: a small input may claim a huge output.
    while ((n = stream.read(buf)) > 0 && out.bytes.size() < (64 << 20)) {
      out.bytes.append(reinterpret_cast<char*>(buf), n);
    }
    if (out.bytes.size() < (64 << 20)) out.digest = stream.finish().digest.cStr();
  });
  close(fd);
  out.ok = error == nullptr;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!ctrd::haveInflater(ctrd::Inflater::ISAL)) return 0;
  auto isal = inflateWith(ctrd::Inflater::ISAL, data, size);
  auto zlib = inflateWith(ctrd::Inflater::ZLIB, data, size);
  KJ_ASSERT(isal.ok == zlib.ok, "one decoder accepted what the other refused", isal.ok);
  if (isal.ok) {
    KJ_ASSERT(isal.bytes == zlib.bytes, "the decoders disagree on the bytes");
    KJ_ASSERT(isal.digest == zlib.digest);
  }
  return 0;
}
