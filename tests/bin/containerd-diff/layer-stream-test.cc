// The layer stream's gzip decoders, ISA-L's and zlib's, on the same inputs: whatever one accepts
// the other accepts with the same bytes and diff ID, and whatever one refuses the other refuses.
#include <common/digest.h>
#include <common/errors.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <layer-stream.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <random>
#include <string>

namespace ctrd {
namespace {

std::string gzipOf(const std::string& raw, int level = 6) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  KJ_ASSERT(deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, raw.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = raw.size();
  zs.next_out = reinterpret_cast<Bytef*>(&out[0]);
  zs.avail_out = out.size();
  KJ_ASSERT(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// Text-like bytes that compress about as a layer's files do, from a fixed seed.
std::string payload(size_t size) {
  static const char* words[] = {"usr", "lib", "include", "#define", "return", "int ",
                                "\n",  "{",   "}",       "const",   "0x",     "static "};
  std::mt19937 rng(42);
  std::string s;
  s.reserve(size + 16);
  while (s.size() < size) {
    s += words[rng() % 12];
    if (rng() % 7 == 0) s += static_cast<char>(rng() % 256);
  }
  s.resize(size);
  return s;
}

std::string sha256Of(const std::string& raw) {
  Sha256 h;
  h.update(kj::arrayPtr(reinterpret_cast<const kj::byte*>(raw.data()), raw.size()));
  return h.digest().cStr();
}

struct Read {
  std::string bytes;
  std::string digest;
  kj::Maybe<kj::Exception> error;
};

class LayerStreamTest : public testing::TestWithParam<Inflater> {
protected:
  void SetUp() override {
    if (!haveInflater(GetParam())) GTEST_SKIP() << "this build has no ISA-L";
  }

  // Reads `compressed` through a LayerStream in chunks of `chunk` bytes.
  Read read(const std::string& compressed, size_t chunk = 1 << 16) {
    Read r;
    int fd = memfd_create("layer", MFD_CLOEXEC);
    KJ_ASSERT(fd >= 0);
    KJ_DEFER(close(fd));
    KJ_ASSERT(write(fd, compressed.data(), compressed.size()) ==
              static_cast<ssize_t>(compressed.size()));
    lseek(fd, 0, SEEK_SET);
    r.error = kj::runCatchingExceptions([&]() {
      LayerStream stream(fd, Compression::GZIP, "application/vnd.oci.image.layer.v1.tar+gzip",
                         GetParam());
      auto buf = kj::heapArray<kj::byte>(chunk);
      size_t n;
      while ((n = stream.read(buf)) > 0) r.bytes.append(reinterpret_cast<char*>(buf.begin()), n);
      r.digest = stream.finish().digest.cStr();
    });
    return r;
  }

  static std::string messageOf(const Read& r) {
    KJ_IF_MAYBE(e, r.error) {
      EXPECT_EQ(errorKind(*e), ErrorKind::INVALID_ARGUMENT);
      return errorMessage(*e).cStr();
    }
    ADD_FAILURE() << "accepted";
    return "";
  }
};

TEST_P(LayerStreamTest, BytesAndDiffIdOfALargeStream) {
  auto raw = payload(8 << 20);
  for (int level : {1, 6, 9}) {
    SCOPED_TRACE(level);
    auto gz = gzipOf(raw, level);
    for (size_t chunk : {size_t(1) << 20, size_t(4096)}) {
      auto r = read(gz, chunk);
      ASSERT_TRUE(r.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(r.error)).cStr();
      EXPECT_TRUE(r.bytes == raw);
      EXPECT_EQ(r.digest, sha256Of(raw));
    }
  }
  // A byte at a time out of the decoder.
  auto small = raw.substr(0, 1 << 18);
  auto r = read(gzipOf(small), 1);
  ASSERT_TRUE(r.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(r.error)).cStr();
  EXPECT_TRUE(r.bytes == small);
}

TEST_P(LayerStreamTest, ConcatenatedMembersAreOneStream) {
  auto a = payload(3 << 20), b = std::string("and a second member\n");
  auto r = read(gzipOf(a) + gzipOf(b) + gzipOf(""));
  ASSERT_TRUE(r.error == nullptr) << errorMessage(KJ_ASSERT_NONNULL(r.error)).cStr();
  EXPECT_TRUE(r.bytes == a + b);
  EXPECT_EQ(r.digest, sha256Of(a + b));
}

TEST_P(LayerStreamTest, TruncatedStreamIsRefused) {
  auto gz = gzipOf(payload(2 << 20));
  for (size_t keep : {size_t(10), gz.size() / 2, gz.size() - 8, gz.size() - 1}) {
    SCOPED_TRACE(keep);
    EXPECT_EQ(messageOf(read(gz.substr(0, keep))),
              "layer stream: truncated: the compressed stream ends early: invalid argument");
  }
}

TEST_P(LayerStreamTest, TrailerChecksumAndSizeAreChecked) {
  auto gz = gzipOf(payload(1 << 20));
  auto badCrc = gz;
  badCrc[gz.size() - 8] ^= 1;
  EXPECT_EQ(messageOf(read(badCrc)), "layer stream: gzip: incorrect data check: invalid argument");
  auto badSize = gz;
  badSize[gz.size() - 4] ^= 1;
  auto message = messageOf(read(badSize));
  EXPECT_TRUE(message == "layer stream: gzip: incorrect length check: invalid argument" ||
              message == "layer stream: gzip: incorrect data check: invalid argument")
      << message;
}

TEST_P(LayerStreamTest, CorruptDataAndTrailingGarbageAreRefused) {
  auto gz = gzipOf(payload(1 << 20));
  auto flipped = gz;
  for (size_t i = 100; i < 200; i++) flipped[i] = static_cast<char>(~flipped[i]);
  EXPECT_NE(messageOf(read(flipped)).find("layer stream: gzip: "), std::string::npos);
  EXPECT_EQ(messageOf(read(gz + "garbage after the member")),
            "layer stream: gzip: incorrect header check: invalid argument");
  auto reserved = gz;
  reserved[3] |= 0x20;  // RFC 1952's reserved flag bits must be zero (ISA-L does not look)
  EXPECT_EQ(messageOf(read(reserved)),
            "layer stream: gzip: unknown header flags set: invalid argument");
  auto method = gz;
  method[2] = 7;  // not deflate
  EXPECT_NE(messageOf(read(method)).find("layer stream: gzip: "), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Inflaters, LayerStreamTest,
                         testing::Values(Inflater::ISAL, Inflater::ZLIB),
                         [](const testing::TestParamInfo<Inflater>& info) {
                           return info.param == Inflater::ISAL ? "isal" : "zlib";
                         });

}  // namespace
}  // namespace ctrd
