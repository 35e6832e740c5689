// Layers applied through the daemon: the blob from containerd-content, directory fds from
// containerd-snapshot, the writing by the unprivileged, sandboxed containerd-diff.
#include <client/client.h>
#include <common/errors.h>
#include <common/mount.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "integration/harness.h"

namespace ctrd::test {
namespace {

class DiffTest : public testing::Test {
protected:
  ~DiffTest() noexcept override {}
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the daemon runs as root";
    auto r = run({"/usr/bin/python3", CTRD_SOURCE_DIR "/tests/bin/containerd-diff/make-layers.py",
                  corpus.path()});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(daemon.start()) << daemon.log();
    client = kj::heap<DaemonClient>(daemon.socket().c_str());
    target = corpus.path() + "/mnt";
    mkdir(target.c_str(), 0755);
  }
  void TearDown() override {
    if (mounted) umount2(target.c_str(), MNT_DETACH);
  }

  std::string ingest(const std::string& file) {
    auto r = run({"/bin/sh", "-c",
                  binPath("ctr") + " --address " + daemon.socket() + " content ingest " + file +
                      " < " + corpus.path() + "/" + file});
    EXPECT_EQ(r.status, 0) << r.err;
    auto digest =
        "sha256:" + run({"/usr/bin/sha256sum", corpus.path() + "/" + file}).out.substr(0, 64);
    // Held by nothing else: the collection a test's `snapshots rm` sets off would take it.
    ctr({"content", "label", digest, "containerd.io/gc.root=test"});
    return digest;
  }

  std::string apply(const std::string& digest, kj::StringPtr snapshotter, kj::StringPtr key,
                    kj::StringPtr ns = "default") {
    auto req = client->ns(ns).diffRequest().send().getDiff().applyRequest();
    auto layer = req.initLayer();
    layer.setMediaType("application/vnd.oci.image.layer.v1.tar");
    layer.setDigest(digest);
    req.setSnapshotter(snapshotter);
    req.setKey(key);
    auto response = req.send().wait(client->waitScope());
    return response.getApplied().getDigest().cStr();
  }

  std::string ctr(const std::vector<std::string>& args) {
    auto r = daemon.ctr(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out;
  }

  std::string read(const std::string& rel) {
    std::ifstream in(target + "/" + rel);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  TempDir corpus;
  Daemon daemon;
  kj::Own<DaemonClient> client;
  std::string target;
  bool mounted = false;
};

TEST_F(DiffTest, LayersStackIntoAnOverlayRootfsWithTheirWhiteouts) {
  auto base = ingest("base.tar");
  auto whiteouts = ingest("whiteouts.tar");
  auto tricky = ingest("tricky.tar");
  ctr({"snapshots", "prepare", "l1"});
  EXPECT_EQ(apply(base, "overlayfs", "l1"), base) << "an uncompressed layer is its own diff id";
  ctr({"snapshots", "commit", "c1", "l1"});
  ctr({"snapshots", "prepare", "l2", "c1"});
  apply(whiteouts, "overlayfs", "l2");
  ctr({"snapshots", "commit", "c2", "l2"});
  ctr({"snapshots", "prepare", "l3", "c2"});
  apply(tricky, "overlayfs", "l3");
  ctr({"snapshots", "commit", "c3", "l3"});

  auto req = client->ns("default").snapshotsRequest();
  req.setSnapshotter("overlayfs");
  auto prepare = req.send().getSnapshots().prepareRequest();
  prepare.setKey("rootfs");
  prepare.setParent("c3");
  auto mounts = prepare.send().wait(client->waitScope());
  mountAll(mounts.getMounts(), target);
  mounted = true;
  EXPECT_NE(access((target + "/gone").c_str(), F_OK), 0);
  EXPECT_NE(access((target + "/opq/old").c_str(), F_OK), 0);
  EXPECT_EQ(read("opq/new"), "new");
  EXPECT_NE(access((target + "/keep/old").c_str(), F_OK), 0);
  EXPECT_EQ(read("keep/stays"), "stays");
  struct stat st;
  ASSERT_EQ(stat((target + "/keep").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u) << "an implicit parent keeps the lower layer's mode";
  ASSERT_EQ(stat((target + "/dir/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u) << "owners come from the layer, not from the diff process's uid";
  ASSERT_EQ(lstat((target + "/dir/char").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
  EXPECT_EQ(read("dir/file"), "hello");
}

TEST_F(DiffTest, NativeSnapshotsGetRealDeletions) {
  auto base = ingest("base.tar");
  auto whiteouts = ingest("whiteouts.tar");
  ctr({"snapshots", "--snapshotter", "native", "prepare", "l1"});
  apply(base, "native", "l1");
  ctr({"snapshots", "--snapshotter", "native", "commit", "c1", "l1"});
  ctr({"snapshots", "--snapshotter", "native", "prepare", "l2", "c1"});
  apply(whiteouts, "native", "l2");
  auto mounts = ctr({"snapshots", "--snapshotter", "native", "mounts", target, "l2"});
  auto fs = mounts.substr(mounts.find(" /") + 1);
  fs = fs.substr(0, fs.find(' '));
  EXPECT_NE(access((fs + "/gone").c_str(), F_OK), 0);
  EXPECT_NE(access((fs + "/opq/old").c_str(), F_OK), 0);
  EXPECT_EQ(access((fs + "/opq/new").c_str(), F_OK), 0);
  EXPECT_EQ(access((fs + "/keep/stays").c_str(), F_OK), 0);
  struct stat st;
  EXPECT_NE(lstat((fs + "/.wh.gone").c_str(), &st), 0);
}

TEST_F(DiffTest, HostileLayerFailsNamingTheEntryAndWritesNothingOutside) {
  auto hostile = ingest("hostile-hardlink-out.tar");
  ctr({"snapshots", "prepare", "victim"});
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { apply(hostile, "overlayfs", "victim"); })) {
    EXPECT_EQ(errorKind(*e), ErrorKind::INVALID_ARGUMENT);
    EXPECT_NE(std::string(errorMessage(*e).cStr()).find("layer entry \"hl\""), std::string::npos)
        << errorMessage(*e).cStr();
  } else {
    ADD_FAILURE() << "a hostile layer applied";
  }
  auto found = run({"/usr/bin/find", daemon.root(), "-name", "hl"});
  EXPECT_EQ(found.out, "");
  // The caller removes the half-written snapshot; nothing half-applied is ever committed.
  ctr({"snapshots", "rm", "victim"});
}

TEST_F(DiffTest, OnlyTheNamespacesOwnBlobsAndSnapshots) {
  auto base = ingest("base.tar");
  ctr({"-n", "other", "snapshots", "prepare", "l1"});
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { apply(base, "overlayfs", "l1", "other"); })) {
    EXPECT_EQ(errorKind(*e), ErrorKind::NOT_FOUND) << errorMessage(*e).cStr();
  } else {
    ADD_FAILURE() << "applied another namespace's blob";
  }
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { apply(base, "overlayfs", "l1"); })) {
    EXPECT_EQ(errorKind(*e), ErrorKind::NOT_FOUND) << errorMessage(*e).cStr();
  } else {
    ADD_FAILURE() << "applied onto another namespace's snapshot";
  }
}

TEST_F(DiffTest, ComputedLayersRebuildTheSnapshot) {
  auto base = ingest("base.tar");
  for (std::string snapshotter : {"overlayfs", "native"}) {
    SCOPED_TRACE(snapshotter);
    auto sn = std::vector<std::string>{"snapshots", "--snapshotter", snapshotter};
    auto with = [&](std::vector<std::string> more) {
      auto args = sn;
      args.insert(args.end(), more.begin(), more.end());
      return ctr(args);
    };
    with({"prepare", "b"});
    apply(base, snapshotter, "b");
    with({"commit", "base", "b"});
    // A container's changes: a deletion, a new file, a changed file, a new directory.
    with({"prepare", "work", "base"});
    auto mounts = with({"mounts", target, "work"});
    ASSERT_EQ(run({"/bin/sh", "-c", mounts}).status, 0);
    mounted = true;
    unlink((target + "/gone").c_str());
    std::ofstream(target + "/keep/stays") << "changed";
    mkdir((target + "/new-dir").c_str(), 0750);
    std::ofstream(target + "/new-dir/file") << "new";
    run({"/bin/rm", "-rf", target + "/opq"});
    unmount(target);
    mounted = false;

    // Rooted: nothing else refers to the layer, and garbage collection would take it.
    auto digest =
        with({"diff", "--label", "made-by=test", "--label", "containerd.io/gc.root=test", "work"});
    digest.pop_back();
    auto info = ctr({"content", "ls"});
    EXPECT_NE(info.find(digest), std::string::npos) << info;
    EXPECT_NE(info.find("containerd.io/uncompressed=sha256:"), std::string::npos) << info;
    EXPECT_NE(info.find("made-by=test"), std::string::npos) << info;

    // The layer on a fresh child of the same base gives the same tree.
    with({"prepare", "rebuilt", "base"});
    auto req = client->ns("default").diffRequest().send().getDiff().applyRequest();
    auto layer = req.initLayer();
    layer.setMediaType("application/vnd.oci.image.layer.v1.tar+gzip");
    layer.setDigest(digest);
    req.setSnapshotter(snapshotter);
    req.setKey("rebuilt");
    req.send().wait(client->waitScope());
    std::string lists[2];
    const char* keys[] = {"work", "rebuilt"};
    for (int i = 0; i < 2; i++) {
      auto m = with({"mounts", target, keys[i]});
      ASSERT_EQ(run({"/bin/sh", "-c", m}).status, 0);
      lists[i] = run({"/usr/bin/find", target, "-printf", "%P %y %m %U:%G %s %l\\n"}).out;
      unmount(target);
    }
    EXPECT_EQ(lists[1], lists[0]);
    EXPECT_EQ(lists[0].find("gone"), std::string::npos) << lists[0];
    EXPECT_NE(lists[0].find("new-dir/file f 644"), std::string::npos) << lists[0];
    for (auto key : {"rebuilt", "work", "base"}) with({"rm", key});
  }
}

TEST_F(DiffTest, TrickyImageUnpacksExactlyAsContainerdDoes) {
  // The peer's tricky:latest layers, built by the peer's own script, unpacked here; the trees
  // must match real containerd's unpack of the same layers, listed by the peer's fslist.py.
  std::string peer = CTRD_SOURCE_DIR "/../shared/peer";
  auto layersDir = corpus.path() + "/tricky";
  auto made = run(
      {"/bin/bash", CTRD_SOURCE_DIR "/tests/integration/make-peer-layers.sh", "tricky", layersDir});
  if (made.status == 77) GTEST_SKIP() << made.err;
  ASSERT_EQ(made.status, 0) << made.err;
  std::vector<std::string> layers;
  for (auto name : {"tricky-l1.tar", "tricky-l2.tar", "tricky-l3.tar"}) {
    layers.push_back(ingest(std::string("tricky/") + name));
  }
  for (std::string snapshotter : {"overlayfs", "native"}) {
    SCOPED_TRACE(snapshotter);
    std::string parent;
    for (size_t i = 0; i < layers.size(); i++) {
      auto key = snapshotter + "-active-" + std::to_string(i);
      auto name = snapshotter + "-layer-" + std::to_string(i);
      std::vector<std::string> args = {"snapshots", "--snapshotter", snapshotter, "prepare", key};
      if (!parent.empty()) args.push_back(parent);
      ctr(args);
      apply(layers[i], snapshotter, key);
      ctr({"snapshots", "--snapshotter", snapshotter, "commit", name, key});
      parent = name;
    }
    auto req = client->ns("default").snapshotsRequest();
    req.setSnapshotter(snapshotter);
    auto view = req.send().getSnapshots().viewRequest();
    view.setKey(snapshotter + "-rootfs");
    view.setParent(parent);
    auto mounts = view.send().wait(client->waitScope());
    mountAll(mounts.getMounts(), target);
    mounted = true;
    auto listing = run({"/usr/bin/python3", peer + "/fslist.py", target});
    unmount(target);
    mounted = false;
    ASSERT_EQ(listing.status, 0) << listing.err;
    std::ifstream in(peer + "/ref/tricky.containerd-" + snapshotter + ".list");
    std::string expected((std::istreambuf_iterator<char>(in)), {});
    ASSERT_FALSE(expected.empty());
    if (listing.out != expected) {
      auto ours = corpus.path() + "/ours.list";
      auto theirs = peer + "/ref/tricky.containerd-" + snapshotter + ".list";
      std::ofstream(ours) << listing.out;
      ADD_FAILURE() << run({"/usr/bin/diff", theirs, ours}).out;
    }
  }
}

}  // namespace
}  // namespace ctrd::test
