// A layer blob read as its uncompressed tar stream, hashed on the way: the hash is the layer's
// diff ID, which the caller checks against the image config's rootfs.diff_ids.
#pragma once

#include <common/digest.h>
#include <kj/array.h>
#include <kj/memory.h>
#include <kj/string.h>
#include <stdint.h>
#include <zstd.h>

struct archive;

namespace ctrd {

enum class Compression { NONE, GZIP, ZSTD };

Compression compressionForMediaType(kj::StringPtr mediaType);
// OCI and Docker layer media types; anything else is `invalid argument: unsupported media type`.

enum class Inflater {
  ISAL,  // Intel's ISA-L (`isal_inflate`): about 4x zlib's speed on this kind of CPU
  ZLIB,
};
extern const Inflater DEFAULT_INFLATER;
// ISA-L where the build found it (`libisal-dev`), zlib otherwise.
bool haveInflater(Inflater inflater);

class GzipDecoder {
public:
  virtual ~GzipDecoder() noexcept(false) = default;
  struct Step {
    size_t consumed;
    size_t produced;
    bool memberEnd;  // a gzip member ended, its CRC and size checked
  };
  virtual Step inflate(kj::ArrayPtr<const kj::byte> in, kj::ArrayPtr<kj::byte> out) = 0;
  // Throws `invalid argument` on corrupt data.
  virtual void nextMember() = 0;
  // Concatenated members are one stream to gunzip.
};
kj::Own<GzipDecoder> newGzipDecoder(Inflater inflater);

class LayerStream {
public:
  LayerStream(int fd, Compression compression, kj::StringPtr mediaType,
              Inflater inflater = DEFAULT_INFLATER);
  // Checks the first bytes against the compression the media type promises.
  ~LayerStream() noexcept(false);
  KJ_DISALLOW_COPY(LayerStream);

  size_t read(kj::ArrayPtr<kj::byte> out);
  // Uncompressed bytes; 0 at the end. A corrupt or truncated stream throws.

  struct Finished {
    kj::String digest;  // of the uncompressed stream
    int64_t size;
  };
  Finished finish();
  // Reads (and hashes) whatever follows the tar's end-of-archive blocks, then reports.

private:
  int fd;
  Compression compression;
  kj::Array<kj::byte> input;
  size_t inputPos = 0;
  size_t inputEnd = 0;
  bool inputEof = false;
  bool streamEnd = false;
  kj::Own<GzipDecoder> gzip;
  ZSTD_DStream* zstd = nullptr;
  Sha256 hash;
  int64_t total = 0;

  bool fill();
  size_t decompress(kj::ArrayPtr<kj::byte> out);
};

kj::StringPtr archiveError(struct archive* a);
// libarchive's message for its last error; it may have none (a null pointer, which formatting
// would crash on: found by the layer-apply fuzzer).

}  // namespace ctrd
