// `ctr containers` through the real daemon: a container made from a pulled image (its spec from
// the image's config, its snapshot on the image's chain ID), listed, labelled, inspected and
// removed with its snapshot; bad input refused with nothing left behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "harness.h"
#include "registry.h"

namespace ctrd::test {
namespace {

class ContainersTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the daemon runs as root";
    if (!Registry::available()) GTEST_SKIP() << "docker-registry is not installed";
    ASSERT_TRUE(daemon.start()) << daemon.log();
    registry.push({"busybox", "busybox:latest"});
    image = registry.address() + "/busybox:latest";
    auto pulled = ctr({"images", "pull", "--plain-http", image});
    ASSERT_EQ(pulled.status, 0) << pulled.err;
  }

  Result ctr(const std::vector<std::string>& args) { return daemon.ctr(args); }

  std::string snapshots() { return ctr({"snapshots", "ls"}).out; }

  Registry registry;
  Daemon daemon;
  std::string image;
};

TEST_F(ContainersTest, ACreatedContainerHasTheImagesSpecAndASnapshotOnItsChain) {
  auto created = ctr({"containers", "create", "--env", "GREETING=hello", "--label", "team=a", image,
                      "web", "sh", "-c", "echo $GREETING"});
  ASSERT_EQ(created.status, 0) << created.err;

  auto ls = ctr({"containers", "ls"});
  EXPECT_NE(ls.out.find("CONTAINER"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("web"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("io.containerd.runc.v2"), std::string::npos) << ls.out;

  auto info = ctr({"containers", "info", "web"});
  ASSERT_EQ(info.status, 0) << info.err;
  auto j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["Image"], image);
  EXPECT_EQ(j["SnapshotKey"], "web");
  EXPECT_EQ(j["Labels"]["team"], "a");
  EXPECT_EQ(j["Spec"]["process"]["args"], nlohmann::json({"sh", "-c", "echo $GREETING"}));
  auto env = j["Spec"]["process"]["env"];
  EXPECT_NE(std::find(env.begin(), env.end(), "GREETING=hello"), env.end()) << env;
  EXPECT_EQ(j["Spec"]["linux"]["cgroupsPath"], "/default/web");

  // Its snapshot is active, on the image's chain ID.
  auto snap = ctr({"snapshots", "info", "web"});
  ASSERT_EQ(snap.status, 0) << snap.err;
  auto s = nlohmann::json::parse(snap.out);
  EXPECT_EQ(s["Kind"], "Active");
  EXPECT_EQ(s["Parent"].get<std::string>().rfind("sha256:", 0), 0u) << snap.out;

  auto label = ctr({"containers", "label", "web", "team=b", "extra=1"});
  ASSERT_EQ(label.status, 0) << label.err;
  auto relabelled = nlohmann::json::parse(ctr({"containers", "info", "web"}).out);
  EXPECT_EQ(relabelled["Labels"]["team"], "b");
  EXPECT_EQ(relabelled["Labels"]["extra"], "1");
  EXPECT_EQ(ctr({"containers", "ls", "-q", "labels.team==b"}).out, "web\n");
  EXPECT_EQ(ctr({"containers", "ls", "-q", "labels.team==a"}).out, "");

  auto rm = ctr({"containers", "rm", "web"});
  ASSERT_EQ(rm.status, 0) << rm.err;
  EXPECT_EQ(ctr({"containers", "ls", "-q"}).out, "");
  EXPECT_EQ(ctr({"snapshots", "info", "web"}).status, 1);  // removed with its container
}

TEST_F(ContainersTest, KeepSnapshotKeepsIt) {
  ASSERT_EQ(ctr({"containers", "create", image, "keep"}).status, 0);
  ASSERT_EQ(ctr({"containers", "rm", "--keep-snapshot", "keep"}).status, 0);
  // Kept through garbage collection too: nothing else refers to it now.
  ASSERT_EQ(ctr({"gc"}).status, 0);
  EXPECT_EQ(ctr({"snapshots", "info", "keep"}).status, 0);
}

TEST_F(ContainersTest, BadInputIsOneClearErrorAndLeavesNothing) {
  ASSERT_EQ(ctr({"containers", "create", image, "taken"}).status, 0);
  auto before = snapshots();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"containers", "create", "no.such/image:latest", "a"}, "not found"},
      {{"containers", "create", image, "taken"}, "container \"taken\": already exists"},
      {{"containers", "create", "--runtime", "io.containerd.kata.v2", image, "b"},
       "unknown runtime \"io.containerd.kata.v2\""},
      {{"containers", "create", "--mount", "type=bind,src=/tmp", image, "c"}, "no destination"},
      {{"containers", "create", "--snapshotter", "native", image, "d"},
       "is not unpacked for snapshotter \"native\""},
      {{"containers", "create", "--user", ":0", image, "e"}, "user \":0\""},
      {{"containers", "create", image, "bad/id"}, "invalid argument"},
  };
  for (auto& c : cases) {
    auto r = ctr(c.args);
    EXPECT_EQ(r.status, 1) << c.args.back();
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args.back() << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_EQ(ctr({"containers", "ls", "-q"}).out, "taken\n");
  EXPECT_EQ(snapshots(), before);
  EXPECT_EQ(ctr({"containers", "rm", "missing"}).status, 1);
}

TEST_F(ContainersTest, NamespacesDoNotSeeEachOthersContainers) {
  ASSERT_EQ(ctr({"containers", "create", image, "mine"}).status, 0);
  EXPECT_EQ(ctr({"-n", "other", "containers", "ls", "-q"}).out, "");
  EXPECT_EQ(ctr({"-n", "other", "containers", "info", "mine"}).status, 1);
  EXPECT_EQ(ctr({"-n", "other", "containers", "rm", "mine"}).status, 1);
  EXPECT_EQ(ctr({"containers", "ls", "-q"}).out, "mine\n");
}

}  // namespace
}  // namespace ctrd::test
