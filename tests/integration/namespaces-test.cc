// ctr namespaces: create with labels, list, label, and remove, which is refused while the
// namespace holds anything (naming what) and goes through once it is empty.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "harness.h"

namespace ctrd::test {
namespace {

class NamespacesTest : public testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the daemon runs as root";
    ASSERT_TRUE(daemon.start()) << daemon.log();
  }
  Result ctr(const std::vector<std::string>& args, const std::string& input = "") {
    return daemon.ctr(args, input);
  }
  Daemon daemon;
};

TEST_F(NamespacesTest, CreateListLabelAndRemove) {
  ASSERT_EQ(ctr({"namespaces", "create", "team-a", "owner=alice", "tier=gold"}).status, 0);
  auto again = ctr({"namespaces", "create", "team-a"});
  EXPECT_EQ(again.status, 1);
  EXPECT_EQ(again.err, "ctr: namespace \"team-a\": already exists\n");
  // A namespace also comes into being on its first write.
  ASSERT_EQ(ctr({"-n", "team-b", "content", "ingest", "r"}, "hello\n").status, 0);
  EXPECT_EQ(ctr({"namespaces", "ls", "-q"}).out, "team-a\nteam-b\n");
  auto ls = ctr({"namespaces", "ls"});
  EXPECT_EQ(ls.out,
            "NAME      LABELS\n"
            "team-a    owner=alice,tier=gold\n"
            "team-b    \n");
  // label sets and (with an empty value) removes keys, leaving the others.
  ASSERT_EQ(ctr({"namespaces", "label", "team-a", "owner=bob", "tier="}).status, 0);
  EXPECT_NE(ctr({"namespaces", "ls"}).out.find("team-a    owner=bob\n"), std::string::npos);
  auto bad = ctr({"namespaces", "create", "Bad/Name"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("invalid argument"), std::string::npos) << bad.err;

  auto rm = ctr({"namespaces", "rm", "team-a"});
  EXPECT_EQ(rm.status, 0) << rm.err;
  EXPECT_EQ(rm.out, "team-a\n");
  auto missing = ctr({"namespaces", "rm", "team-a"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(missing.err, "ctr: namespace \"team-a\": not found\n");
}

TEST_F(NamespacesTest, RemovingOneThatHoldsAnythingIsRefusedNamingWhat) {
  ASSERT_EQ(ctr({"-n", "full", "content", "ingest", "r"}, "a blob\n").status, 0);
  // Kept from garbage collection, which the removals below set off.
  auto held = ctr({"-n", "full", "content", "ls", "-q"}).out;
  held.pop_back();
  ASSERT_EQ(ctr({"-n", "full", "content", "label", held, "containerd.io/gc.root=test"}).status, 0);
  ASSERT_EQ(ctr({"-n", "full", "snapshots", "prepare", "work"}).status, 0);
  TempDir rootfs;
  ASSERT_EQ(
      ctr({"-n", "full", "containers", "create", "--rootfs", rootfs.path(), "c1", "true"}).status,
      0);
  auto refused = ctr({"namespaces", "rm", "full"});
  EXPECT_EQ(refused.status, 1);
  EXPECT_EQ(refused.err,
            "ctr: namespace \"full\" must be empty, but it still has blobs, containers, "
            "snapshots: failed precondition\n");
  // Nothing of it was touched.
  EXPECT_NE(ctr({"-n", "full", "content", "ls", "-q"}).out, "");

  ASSERT_EQ(ctr({"-n", "full", "containers", "rm", "c1"}).status, 0);
  ASSERT_EQ(ctr({"-n", "full", "snapshots", "rm", "work"}).status, 0);
  auto blobs = ctr({"namespaces", "rm", "full"});
  EXPECT_EQ(blobs.err,
            "ctr: namespace \"full\" must be empty, but it still has blobs: failed "
            "precondition\n");
  auto digest = ctr({"-n", "full", "content", "ls", "-q"}).out;
  digest.pop_back();
  ASSERT_EQ(ctr({"-n", "full", "content", "rm", digest}).status, 0);
  auto rm = ctr({"namespaces", "rm", "full"});
  EXPECT_EQ(rm.status, 0) << rm.err;
  EXPECT_EQ(ctr({"namespaces", "ls", "-q"}).out.find("full"), std::string::npos);
}

}  // namespace
}  // namespace ctrd::test
