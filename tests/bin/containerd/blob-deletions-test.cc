// BlobDeletions against an in-process content store: a commit answered while the last holder's
// delete removes the bytes is never recorded.
#include <blob-deletions.h>
#include <capnp/capability.h>
#include <common/errors.h>
#include <gtest/gtest.h>
#include <kj/async.h>
#include <kj/map.h>

namespace ctrd {
namespace {

class FakeStore final : public schema::ContentStore::Server {
public:
  kj::HashSet<kj::String> blobs;
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> pendingDeletes;
  bool holdDeletes = false;

  kj::Promise<void> delete_(DeleteContext context) override {
    auto digest = kj::str(context.getParams().getDigest());
    auto erase = [this, digest = kj::mv(digest)]() mutable { blobs.eraseMatch(digest); };
    if (!holdDeletes) {
      erase();
      return kj::READY_NOW;
    }
    auto paf = kj::newPromiseAndFulfiller<void>();
    pendingDeletes.add(kj::mv(paf.fulfiller));
    return paf.promise.then(kj::mv(erase));
  }
  kj::Promise<void> stat(StatContext context) override {
    if (!blobs.contains(context.getParams().getDigest())) {
      return makeError(ErrorKind::NOT_FOUND, "content digest");
    }
    context.getResults().setSize(1);
    return kj::READY_NOW;
  }
};

class BlobDeletionsTest : public testing::Test {
protected:
  ~BlobDeletionsTest() noexcept override {}

  kj::EventLoop loop;
  kj::WaitScope ws{loop};
  FakeStore* store;
  schema::ContentStore::Client client = [this]() {
    auto s = kj::heap<FakeStore>();
    store = s.get();
    return schema::ContentStore::Client(kj::mv(s));
  }();
  BlobDeletions deletions{[this]() { return client; }};
  const kj::StringPtr digest = "sha256:aa"_kj;
};

TEST_F(BlobDeletionsTest, WithNoDeletionSinceTheCommitTheRecordIsWrittenAtOnce) {
  bool written = false;
  auto p = deletions.record(kj::str(digest), deletions.issued(), [&]() { written = true; });
  EXPECT_TRUE(written) << "synchronously with the check";
  p.wait(ws);
}

TEST_F(BlobDeletionsTest, ACommitRacingTheLastDeleteIsNotRecorded) {
  // The commit was sent (and answered `existed`), then the last holder deleted the bytes.
  store->blobs.insert(kj::str(digest));
  uint64_t since = deletions.issued();
  deletions.remove(digest).wait(ws);
  bool written = false;
  auto p = deletions.record(kj::str(digest), since, [&]() { written = true; });
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { p.wait(ws); })) {
    EXPECT_EQ(errorKind(*e), ErrorKind::UNAVAILABLE);
    EXPECT_NE(std::string(errorMessage(*e).cStr()).find("write it again"), std::string::npos);
  } else {
    ADD_FAILURE() << "recorded a blob whose bytes were deleted";
  }
  EXPECT_FALSE(written);
}

TEST_F(BlobDeletionsTest, ADeleteStillInFlightIsWaitedFor) {
  // The stat would still find the bytes if it ran before the delete did.
  store->blobs.insert(kj::str(digest));
  store->holdDeletes = true;
  uint64_t since = deletions.issued();
  auto removing = deletions.remove(digest);
  bool written = false;
  auto p = deletions.record(kj::str(digest), since, [&]() { written = true; });
  loop.run();
  EXPECT_FALSE(written);
  ASSERT_EQ(store->pendingDeletes.size(), 1u);
  store->pendingDeletes[0]->fulfill();
  removing.wait(ws);
  EXPECT_ANY_THROW(p.wait(ws));
  EXPECT_FALSE(written);
}

TEST_F(BlobDeletionsTest, ADeletionOfAnotherBlobCostsAStatAndThenRecords) {
  store->blobs.insert(kj::str(digest));
  uint64_t since = deletions.issued();
  deletions.remove("sha256:bb").wait(ws);
  bool written = false;
  deletions.record(kj::str(digest), since, [&]() { written = true; }).wait(ws);
  EXPECT_TRUE(written);
}

}  // namespace
}  // namespace ctrd
