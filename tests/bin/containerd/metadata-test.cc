// The metadata package: each table's writes, the one transaction rule, and what is reported
// after a commit.
#include <common/errors.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <metadata/store.h>

#include <memory>
#include <string>
#include <vector>

#include "integration/harness.h"

namespace ctrd {
namespace {

class MetadataTest : public ::testing::Test {
protected:
  void SetUp() override {
    store.onCommit([this](kj::ArrayPtr<const Change> changes) {
      for (auto& c : changes) {
        reported.push_back(std::string(c.ns.cStr()) + " " + c.topic.cStr() + " " +
                           c.subject.cStr());
      }
    });
  }

  test::TempDir dir;
  std::unique_ptr<MetadataStore> owned =
      std::make_unique<MetadataStore>(kj::str(dir.path().c_str(), "/meta.db"));
  MetadataStore& store = *owned;
  std::vector<std::string> reported;
};

constexpr auto A = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"_kj;

TEST_F(MetadataTest, ABlobIsAddedOnceAndReportedAfterCommit) {
  EXPECT_TRUE(store.content.add("t1", A, 3));
  EXPECT_FALSE(store.content.add("t1", A, 3));
  EXPECT_TRUE(store.content.add("t2", A, 3));
  EXPECT_EQ(store.content.holders(A), 2);
  EXPECT_EQ(reported,
            (std::vector<std::string>{
                "t1 /namespaces/create t1", "t1 /content/create " + std::string(A.cStr()),
                "t2 /namespaces/create t2", "t2 /content/create " + std::string(A.cStr())}));
  EXPECT_EQ(store.namespaces.list().size(), 2u);
}

TEST_F(MetadataTest, AWriteThatThrowsLeavesNothingAndReportsNothing) {
  auto e = kj::runCatchingExceptions([&]() {
    store.write([&]() {
      store.content.add("t1", A, 3);
      store.images.insert("t1", {kj::str("img"), kj::str("m"), kj::str(A), 3, {}, 1, 1});
      throwError(ErrorKind::FAILED_PRECONDITION, "changed my mind");
    });
  });
  ASSERT_TRUE(e != nullptr);
  EXPECT_TRUE(store.content.get("t1", A) == nullptr);
  EXPECT_TRUE(store.images.get("t1", "img") == nullptr);
  EXPECT_TRUE(store.namespaces.get("t1") == nullptr);
  EXPECT_TRUE(reported.empty());
}

TEST_F(MetadataTest, NestedWritesReportOnceWhenTheOutermostCommits) {
  store.write([&]() {
    store.content.add("t1", A, 3);
    EXPECT_TRUE(reported.empty());  // not yet committed
  });
  EXPECT_EQ(reported.size(), 2u);
}

TEST_F(MetadataTest, LabelsMergeKeepingTheOthers) {
  Labels first;
  setLabel(first, kj::str("a"), kj::str("1"));
  store.content.add("t1", A, 3, kj::mv(first));
  Labels more;
  setLabel(more, kj::str("b"), kj::str("2"));
  EXPECT_TRUE(store.content.mergeLabels("t1", A, more));
  EXPECT_FALSE(store.content.mergeLabels("t1", A, more));  // nothing new
  EXPECT_FALSE(store.content.mergeLabels("t2", A, more));  // not held there
  auto r = KJ_ASSERT_NONNULL(store.content.get("t1", A));
  EXPECT_EQ(r.labels.size(), 2u);
  EXPECT_EQ(reported.back(), "t1 /content/update " + std::string(A.cStr()));
}

TEST_F(MetadataTest, APullRecordKeepsTheImagesLabelsAndCreationTime) {
  Labels labels;
  setLabel(labels, kj::str("keep"), kj::str("me"));
  store.images.insert("t1", {kj::str("img"), kj::str("m"), kj::str(A), 3, kj::mv(labels), 7, 7});
  store.images.record("t1", "img", "m2", A, 4);
  auto r = KJ_ASSERT_NONNULL(store.images.get("t1", "img"));
  EXPECT_EQ(r.mediaType, "m2");
  EXPECT_EQ(r.size, 4);
  EXPECT_EQ(r.createdAt, 7);
  EXPECT_GT(r.updatedAt, 7);
  EXPECT_TRUE(r.labels.find("keep") != nullptr);
  EXPECT_EQ(reported.back(), "t1 /images/update img");
  EXPECT_TRUE(store.images.remove("t1", "img"));
  EXPECT_FALSE(store.images.remove("t1", "img"));
}

TEST_F(MetadataTest, AContainerIdIsTakenOncePerNamespaceAndItsUpdatesAreKept) {
  auto record = [](const char* id, const char* spec) {
    return ContainerRecord{kj::str(id),
                           kj::str("busybox"),
                           kj::str("io.containerd.runc.v2"),
                           kj::str("runc"),
                           kj::str(spec),
                           kj::str("overlayfs"),
                           kj::str(id),
                           {},
                           1,
                           1};
  };
  EXPECT_TRUE(store.containers.insert("t1", record("web", "{}")));
  EXPECT_FALSE(store.containers.insert("t1", record("web", "{\"other\":1}")));
  EXPECT_TRUE(store.containers.insert("t2", record("web", "{}")));
  auto r = KJ_ASSERT_NONNULL(store.containers.get("t1", "web"));
  EXPECT_EQ(r.spec, "{}");  // the refused insert changed nothing
  setLabel(r.labels, kj::str("k"), kj::str("v"));
  r.spec = kj::str("{\"v\":2}");
  r.updatedAt = 2;
  store.containers.update("t1", r);
  auto again = KJ_ASSERT_NONNULL(store.containers.get("t1", "web"));
  EXPECT_EQ(again.spec, "{\"v\":2}");
  EXPECT_EQ(KJ_ASSERT_NONNULL(again.labels.find("k")), "v");
  EXPECT_EQ(again.createdAt, 1);
  EXPECT_TRUE(store.containers.remove("t1", "web"));
  EXPECT_FALSE(store.containers.remove("t1", "web"));
  EXPECT_EQ(store.containers.list("t1").size(), 0u);
  EXPECT_EQ(store.containers.list("t2").size(), 1u);
  EXPECT_EQ(reported,
            (std::vector<std::string>{"t1 /namespaces/create t1", "t1 /containers/create web",
                                      "t2 /namespaces/create t2", "t2 /containers/create web",
                                      "t1 /containers/update web", "t1 /containers/delete web"}));
}

TEST_F(MetadataTest, NamespacesOfAnOlderDatabaseAreRecordedWhenItOpens) {
  auto path = kj::str(dir.path().c_str(), "/old.db");
  {
    Database old(path);
    old.exec(
        "CREATE TABLE content (namespace TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT "
        "NULL, labels TEXT NOT NULL DEFAULT '{}', created INTEGER NOT NULL, updated INTEGER NOT "
        "NULL, PRIMARY KEY (namespace, digest))");
    old.exec(kj::str("INSERT INTO content VALUES ('legacy', '", A, "', 3, '{}', 1, 1)"));
  }
  MetadataStore reopened(path);
  EXPECT_TRUE(reopened.namespaces.get("legacy") != nullptr);
  EXPECT_TRUE(reopened.content.get("legacy", A) != nullptr);
}

}  // namespace
}  // namespace ctrd
