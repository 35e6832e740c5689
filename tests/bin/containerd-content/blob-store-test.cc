// The blob store in-process, on a real directory.
#include <common/errors.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <ingest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "integration/harness.h"

namespace ctrd {
namespace {

kj::ArrayPtr<const kj::byte> bytes(const std::string& s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

kj::String digestOf(const std::string& s) {
  Sha256 h;
  h.update(bytes(s));
  return h.digest();
}

ErrorKind kindOf(kj::Function<void()> f) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { f(); })) {
    return errorKind(*e);
  }
  return ErrorKind::UNKNOWN;
}

class BlobStoreTest : public testing::Test {
protected:
  ~BlobStoreTest() noexcept override {}

  test::TempDir dir;
  kj::Own<BlobStore> store = open();

  kj::Own<BlobStore> open() {
    int fd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return kj::heap<BlobStore>(kj::AutoCloseFd(fd));
  }
  std::string ingestDataPath(kj::StringPtr ref) {
    return dir.path() + "/ingest/" + sha256Hex(ref.asBytes()).cStr() + "/data";
  }
};

TEST_F(BlobStoreTest, CommittedBlobAppearsUnderItsDigestReadOnly) {
  auto ingest = store->openIngest("r", "", 0);
  ingest->append(bytes("hello"));
  auto committed = ingest->commit(5, digestOf("hello"));
  EXPECT_FALSE(committed.existed);
  auto st = KJ_ASSERT_NONNULL(store->tryStat(committed.digest));
  EXPECT_EQ(st.size, 5);
  struct stat s;
  auto path = dir.path() + "/blobs/sha256/" + digestHex(committed.digest).cStr();
  ASSERT_EQ(stat(path.c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0444u);
  EXPECT_TRUE(store->tryIngestStatus("r") == nullptr);
}

TEST_F(BlobStoreTest, MismatchStoresNothingAndKeepsTheIngest) {
  auto ingest = store->openIngest("r", "", 0);
  ingest->append(bytes("hello"));
  EXPECT_EQ(kindOf([&]() { ingest->commit(6, ""); }), ErrorKind::FAILED_PRECONDITION);
  EXPECT_EQ(kindOf([&]() { ingest->commit(0, digestOf("other")); }),
            ErrorKind::FAILED_PRECONDITION);
  EXPECT_EQ(store->list().size(), 0u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(store->tryIngestStatus("r")).offset, 5);
  // The same writer can still finish correctly.
  EXPECT_EQ(ingest->commit(5, digestOf("hello")).digest, digestOf("hello"));
}

TEST_F(BlobStoreTest, ExpectedDigestFromTheOpenIsChecked) {
  auto ingest = store->openIngest("r", digestOf("right"), 0);
  ingest->append(bytes("wrong"));
  EXPECT_EQ(kindOf([&]() { ingest->commit(0, ""); }), ErrorKind::FAILED_PRECONDITION);
}

TEST_F(BlobStoreTest, CommittingAStoredDigestLeavesTheStoredBlobAlone) {
  auto first = store->openIngest("a", "", 0);
  first->append(bytes("same"));
  first->commit(0, "");
  auto path = dir.path() + "/blobs/sha256/" + digestHex(digestOf("same")).cStr();
  struct stat before;
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  auto second = store->openIngest("b", "", 0);
  second->append(bytes("same"));
  EXPECT_TRUE(second->commit(0, "").existed);
  struct stat after;
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_TRUE(store->tryIngestStatus("b") == nullptr);
}

TEST_F(BlobStoreTest, OneWriterPerRef) {
  auto first = store->openIngest("r", "", 0);
  EXPECT_EQ(kindOf([&]() { store->openIngest("r", "", 0); }), ErrorKind::UNAVAILABLE);
  EXPECT_EQ(kindOf([&]() { store->abortIngest("r"); }), ErrorKind::UNAVAILABLE);
  first = nullptr;
  auto second = store->openIngest("r", "", 0);
}

TEST_F(BlobStoreTest, ResumeUsesTheSavedHashStateNotARehash) {
  {
    auto ingest = store->openIngest("r", "", 0);
    ingest->append(bytes("0123456789"));
  }
  // Change bytes the saved state already covers: a resume that re-hashed from the start would
  // see them; one that trusts the saved state does not.
  int fd = ::open(ingestDataPath("r").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, "X", 1, 0), 1);
  close(fd);
  auto ingest = store->openIngest("r", "", 0);
  EXPECT_EQ(ingest->offset(), 10);
  ingest->append(bytes("abc"));
  EXPECT_EQ(ingest->commit(13, "").digest, digestOf("0123456789abc"));
}

TEST_F(BlobStoreTest, ResumeHashesBytesWrittenAfterTheSavedState) {
  {
    auto ingest = store->openIngest("r", "", 0);
    ingest->append(bytes("01234"));
  }
  // Bytes on disk that the saved state does not cover yet (a kill between saves).
  int fd = ::open(ingestDataPath("r").c_str(), O_WRONLY | O_APPEND);
  ASSERT_EQ(write(fd, "56789", 5), 5);
  close(fd);
  auto ingest = store->openIngest("r", "", 0);
  EXPECT_EQ(ingest->offset(), 10);
  EXPECT_EQ(ingest->commit(10, "").digest, digestOf("0123456789"));
}

TEST_F(BlobStoreTest, ResumedCopyFromAFileSkipsWhatIsStored) {
  std::string content(3 << 20, 'x');
  for (size_t i = 0; i < content.size(); i++) content[i] = char(i * 7919 % 251);
  std::string path = dir.path() + "/source";
  {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_EQ(write(fd, content.data(), 1 << 20), 1 << 20);
    close(fd);
    auto ingest = store->openIngest("r", "", 0);
    fd = ::open(path.c_str(), O_RDONLY);
    std::atomic<bool> cancelled{false};
    EXPECT_EQ(ingest->appendFrom(fd, cancelled), 1 << 20);
    close(fd);
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_EQ(write(fd, content.data(), content.size()), ssize_t(content.size()));
  close(fd);
  auto ingest = store->openIngest("r", "", 0);
  fd = ::open(path.c_str(), O_RDONLY);
  std::atomic<bool> cancelled{false};
  EXPECT_EQ(ingest->appendFrom(fd, cancelled), int64_t(content.size() - (1 << 20)));
  close(fd);
  EXPECT_EQ(ingest->commit(content.size(), "").digest, digestOf(content));
}

TEST_F(BlobStoreTest, HostileRefsAndDigestsAreRefused) {
  for (auto ref : {"", "../x", "a/../b", ".."}) {
    EXPECT_EQ(kindOf([&]() { store->openIngest(ref, "", 0); }), ErrorKind::INVALID_ARGUMENT) << ref;
  }
  EXPECT_EQ(kindOf([&]() { store->openIngest(kj::StringPtr("a\0b", 3), "", 0); }),
            ErrorKind::INVALID_ARGUMENT);
  for (auto d : {"sha256:../../etc/passwd", "md5:abc", "sha256:ABC",
                 "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be0"}) {
    EXPECT_EQ(kindOf([&]() { store->openBlob(d); }), ErrorKind::INVALID_ARGUMENT) << d;
  }
  EXPECT_EQ(kindOf([&]() { store->openBlob(digestOf("absent")); }), ErrorKind::NOT_FOUND);
}

TEST_F(BlobStoreTest, IngestsAreListedByRefPrefix) {
  auto a = store->openIngest("ns1/a", "", 7);
  auto b = store->openIngest("ns2/b", "", 0);
  a->append(bytes("abc"));
  auto listed = store->listIngests("ns1/");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].ref, "ns1/a");
  EXPECT_EQ(listed[0].offset, 3);
  EXPECT_EQ(listed[0].total, 7);
}

}  // namespace
}  // namespace ctrd
