// Snapshotters through the real daemon, mounted with the real kernel's overlayfs.
#include <client/client.h>
#include <common/errors.h>
#include <common/mount.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "integration/harness.h"

namespace ctrd::test {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

class SnapshotsTest : public testing::Test {
protected:
  ~SnapshotsTest() noexcept override {}
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the daemon runs as root and the test mounts";
    ASSERT_TRUE(daemon.start()) << daemon.log();
    client = kj::heap<DaemonClient>(daemon.socket().c_str());
    target = dir.path() + "/target";
    mkdir(target.c_str(), 0755);
  }
  void TearDown() override {
    if (mounted) umount2(target.c_str(), MNT_DETACH);
  }

  schema::Snapshots::Client snapshots(kj::StringPtr snapshotter = "overlayfs",
                                      kj::StringPtr ns = "default") {
    auto req = client->ns(ns).snapshotsRequest();
    req.setSnapshotter(snapshotter);
    return req.send().getSnapshots();
  }

  void prepareAndMount(schema::Snapshots::Client s, kj::StringPtr key, kj::StringPtr parent,
                       bool view = false) {
    if (view) {
      auto req = s.viewRequest();
      req.setKey(key);
      req.setParent(parent);
      auto r = req.send().wait(client->waitScope());
      mountAll(r.getMounts(), target);
    } else {
      auto req = s.prepareRequest();
      req.setKey(key);
      req.setParent(parent);
      auto r = req.send().wait(client->waitScope());
      mountAll(r.getMounts(), target);
    }
    mounted = true;
  }
  void unmountTarget() {
    unmount(target);
    mounted = false;
  }
  void commit(schema::Snapshots::Client s, kj::StringPtr name, kj::StringPtr key) {
    auto req = s.commitRequest();
    req.setName(name);
    req.setKey(key);
    req.send().wait(client->waitScope());
  }
  ErrorKind kindOf(kj::Function<void()> f) {
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { f(); })) {
      lastMessage = errorMessage(*e).cStr();
      return errorKind(*e);
    }
    return ErrorKind::UNKNOWN;
  }

  Daemon daemon;
  TempDir dir;
  kj::Own<DaemonClient> client;
  std::string target;
  bool mounted = false;
  std::string lastMessage;
};

TEST_F(SnapshotsTest, OverlayStacksThreeLayersWithWhiteoutsAndOpaqueDirectories) {
  auto s = snapshots();
  prepareAndMount(s, "l1", "");
  writeFile(target + "/a", "1");
  writeFile(target + "/b", "1");
  ASSERT_EQ(mkdir((target + "/dir").c_str(), 0755), 0);
  writeFile(target + "/dir/c", "1");
  ASSERT_EQ(mkdir((target + "/keep").c_str(), 0700), 0);
  writeFile(target + "/keep/x", "1");
  unmountTarget();
  commit(s, "c1", "l1");

  // Layer 2 through the mounted overlay: the kernel writes its own whiteout for b.
  prepareAndMount(s, "l2", "c1");
  writeFile(target + "/a", "2");
  ASSERT_EQ(unlink((target + "/b").c_str()), 0);
  writeFile(target + "/d", "2");
  unmountTarget();
  commit(s, "c2", "l2");

  // Layer 3 written without mounting, as containerd-diff does: beneath the writable directory
  // fd, an opaque directory (user.overlay.opaque) and a 0:0 character-device whiteout.
  {
    auto req = s.prepareRequest();
    req.setKey("l3");
    req.setParent("c2");
    req.send().wait(client->waitScope());
    auto w = s.writableDirRequest();
    w.setKey("l3");
    auto response = w.send().wait(client->waitScope());
    EXPECT_EQ(response.getParents().size(), 2u);
    int upper = KJ_ASSERT_NONNULL(response.getDir().getFd().wait(client->waitScope()));
    ASSERT_EQ(mkdirat(upper, "dir", 0755), 0);
    int d = openat(upper, "dir", O_RDONLY | O_DIRECTORY);
    ASSERT_EQ(fsetxattr(d, "user.overlay.opaque", "y", 1, 0), 0);
    int f = openat(d, "new", O_WRONLY | O_CREAT, 0644);
    ASSERT_EQ(write(f, "3", 1), 1);
    close(f);
    close(d);
    ASSERT_EQ(mknodat(upper, "d", S_IFCHR | 0000, makedev(0, 0)), 0);
  }
  commit(s, "c3", "l3");

  prepareAndMount(s, "rootfs", "c3");
  EXPECT_EQ(readFile(target + "/a"), "2");
  EXPECT_FALSE(exists(target + "/b")) << "whiteout made by overlay itself";
  EXPECT_FALSE(exists(target + "/d")) << "0:0 device whiteout written beneath the fd";
  EXPECT_FALSE(exists(target + "/dir/c")) << "opaque directory hides the lower one";
  EXPECT_EQ(readFile(target + "/dir/new"), "3");
  EXPECT_EQ(readFile(target + "/keep/x"), "1");
  struct stat st;
  ASSERT_EQ(stat((target + "/keep").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  writeFile(target + "/a", "container");
  unmountTarget();

  // A view is read-only and sees the committed layers, not the container's write.
  prepareAndMount(s, "v", "c3", /*view=*/true);
  EXPECT_EQ(readFile(target + "/a"), "2");
  EXPECT_EQ(open((target + "/new-file").c_str(), O_WRONLY | O_CREAT, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  unmountTarget();
}

TEST_F(SnapshotsTest, NativeCopiesTheParentTreeExactly) {
  auto s = snapshots("native");
  prepareAndMount(s, "l1", "");
  writeFile(target + "/suid", "x");
  ASSERT_EQ(chown((target + "/suid").c_str(), 1000, 1001), 0);
  ASSERT_EQ(chmod((target + "/suid").c_str(), 04755), 0);
  ASSERT_EQ(link((target + "/suid").c_str(), (target + "/hard").c_str()), 0);
  ASSERT_EQ(symlink("/etc/passwd", (target + "/sym").c_str()), 0);
  ASSERT_EQ(mkfifo((target + "/fifo").c_str(), 0600), 0);
  ASSERT_EQ(mknod((target + "/wh").c_str(), S_IFCHR, makedev(0, 0)), 0);
  ASSERT_EQ(setxattr((target + "/suid").c_str(), "user.note", "v", 1, 0), 0);
  ASSERT_EQ(mkdir((target + "/locked").c_str(), 0000), 0);
  unmountTarget();
  commit(s, "c1", "l1");

  prepareAndMount(s, "l2", "c1");
  struct stat st, hard;
  ASSERT_EQ(lstat((target + "/suid").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1001u);
  ASSERT_EQ(lstat((target + "/hard").c_str(), &hard), 0);
  EXPECT_EQ(st.st_ino, hard.st_ino) << "hardlinks stay linked";
  char link[64] = {};
  ASSERT_GT(readlink((target + "/sym").c_str(), link, sizeof(link)), 0);
  EXPECT_STREQ(link, "/etc/passwd");
  ASSERT_EQ(lstat((target + "/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(lstat((target + "/wh").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
  char value[8] = {};
  EXPECT_EQ(getxattr((target + "/suid").c_str(), "user.note", value, sizeof(value)), 1);
  ASSERT_EQ(lstat((target + "/locked").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0u);
  writeFile(target + "/suid", "changed");
  unmountTarget();
  prepareAndMount(s, "l3", "c1");
  EXPECT_EQ(readFile(target + "/suid"), "x") << "a child's write never reaches its parent";
  unmountTarget();
  // Removal of trees owned by other uids, with 0000 directories, works without root.
  for (auto key : {"l3", "l2"}) {
    auto req = s.removeRequest();
    req.setKey(key);
    req.send().wait(client->waitScope());
  }
}

TEST_F(SnapshotsTest, RuleViolationsReturnContainerdsErrorKinds) {
  auto s = snapshots();
  auto prepare = [&](kj::StringPtr key, kj::StringPtr parent) {
    auto req = s.prepareRequest();
    req.setKey(key);
    req.setParent(parent);
    req.send().wait(client->waitScope());
  };
  prepare("active", "");
  EXPECT_EQ(kindOf([&]() { prepare("active", ""); }), ErrorKind::ALREADY_EXISTS);
  EXPECT_EQ(lastMessage, "snapshot \"active\": already exists");
  EXPECT_EQ(kindOf([&]() { prepare("x", "missing"); }), ErrorKind::NOT_FOUND);
  EXPECT_EQ(lastMessage, "parent snapshot \"missing\" does not exist: not found");
  EXPECT_EQ(kindOf([&]() { prepare("x", "active"); }), ErrorKind::FAILED_PRECONDITION);
  commit(s, "committed", "active");
  EXPECT_EQ(kindOf([&]() { commit(s, "again", "committed"); }), ErrorKind::FAILED_PRECONDITION);
  prepare("child", "committed");
  EXPECT_EQ(kindOf([&]() { commit(s, "committed", "child"); }), ErrorKind::ALREADY_EXISTS);
  auto view = s.viewRequest();
  view.setKey("view");
  view.setParent("committed");
  view.send().wait(client->waitScope());
  EXPECT_EQ(kindOf([&]() { commit(s, "from-view", "view"); }), ErrorKind::FAILED_PRECONDITION);
  auto remove = [&](kj::StringPtr key) {
    auto req = s.removeRequest();
    req.setKey(key);
    req.send().wait(client->waitScope());
  };
  EXPECT_EQ(kindOf([&]() { remove("committed"); }), ErrorKind::FAILED_PRECONDITION);
  EXPECT_EQ(kindOf([&]() { remove("missing"); }), ErrorKind::NOT_FOUND);
  auto mounts = s.mountsRequest();
  mounts.setKey("committed");
  EXPECT_EQ(kindOf([&]() { mounts.send().wait(client->waitScope()); }),
            ErrorKind::FAILED_PRECONDITION);
  auto stat = s.statRequest();
  stat.setKey("missing");
  EXPECT_EQ(kindOf([&]() { stat.send().wait(client->waitScope()); }), ErrorKind::NOT_FOUND);
  auto other = snapshots("btrfs").statRequest();
  other.setKey("x");
  EXPECT_EQ(kindOf([&]() { other.send().wait(client->waitScope()); }), ErrorKind::NOT_FOUND);
  EXPECT_EQ(lastMessage, "snapshotter \"btrfs\": not found");
  // Once the children go, the parent can.
  remove("child");
  remove("view");
  remove("committed");
}

TEST_F(SnapshotsTest, NamespacesNeverSeeEachOthersSnapshots) {
  ASSERT_EQ(daemon.ctr({"-n", "a", "snapshots", "prepare", "k"}).status, 0);
  ASSERT_EQ(daemon.ctr({"-n", "a", "snapshots", "commit", "base", "k"}).status, 0);
  EXPECT_EQ(daemon.ctr({"-n", "b", "snapshots", "ls"}).out, "KEY    PARENT    KIND\n");
  auto r = daemon.ctr({"-n", "b", "snapshots", "prepare", "x", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("parent snapshot \"base\" does not exist: not found"), std::string::npos)
      << r.err;
  EXPECT_EQ(daemon.ctr({"-n", "b", "snapshots", "rm", "base"}).status, 1);
  // The same key in another namespace is another snapshot.
  ASSERT_EQ(daemon.ctr({"-n", "b", "snapshots", "prepare", "k"}).status, 0);
  ASSERT_EQ(daemon.ctr({"-n", "b", "snapshots", "rm", "k"}).status, 0);
  auto ls = daemon.ctr({"-n", "a", "snapshots", "ls"}).out;
  EXPECT_NE(ls.find("base "), std::string::npos) << ls;
  auto info = daemon.ctr({"-n", "a", "snapshots", "info", "base"});
  EXPECT_NE(info.out.find("\"Kind\": \"Committed\""), std::string::npos) << info.out;
  EXPECT_EQ(daemon.ctr({"-n", "b", "snapshots", "info", "base"}).status, 1);
}

// Directories under the snapshotter that belong to no snapshot.
int strayDirectories(const std::string& snapshotterDir, size_t records) {
  DIR* d = opendir(snapshotterDir.c_str());
  if (d == nullptr) return -1;
  size_t numbered = 0;
  int stray = 0;
  while (auto* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name.rfind("metadata.db", 0) == 0) continue;
    if (name.find_first_not_of("0123456789") == std::string::npos) {
      numbered++;
    } else {
      stray++;  // new-*, rm-*
    }
  }
  closedir(d);
  return stray + int(numbered > records ? numbered - records : records - numbered);
}

TEST_F(SnapshotsTest, ANativeCopyDoesNotStallOtherCalls) {
  // A native prepare copies its parent's whole tree; meanwhile the service answers others.
  auto s = snapshots("native");
  prepareAndMount(s, "big", "");
  for (int i = 0; i < 40; i++) {
    auto sub = target + "/d" + std::to_string(i);
    mkdir(sub.c_str(), 0755);
    for (int j = 0; j < 300; j++) writeFile(sub + "/f" + std::to_string(j), "data");
  }
  unmountTarget();
  commit(s, "base", "big");
  int answeredDuringCopy = 0;
  for (int attempt = 0; attempt < 3 && answeredDuringCopy == 0; attempt++) {
    auto key = "copy" + std::to_string(attempt);
    Child copy({binPath("ctr"), "--address", daemon.socket(), "snapshots", "--snapshotter",
                "native", "prepare", key, "base"},
               daemon.root() + "/../copy.log");
    // Once the copy is under way (its staging directory exists), ask for something else.
    ASSERT_TRUE(waitFor([&]() {
      return run({"/bin/sh", "-c", "ls " + daemon.root() + "/snapshots/native | grep -q new-copy"})
                     .status == 0 ||
             !copy.running();
    }));
    auto info = daemon.ctr({"snapshots", "--snapshotter", "native", "info", "base"});
    EXPECT_EQ(info.status, 0) << info.err;
    if (copy.running()) answeredDuringCopy++;
    waitFor([&]() { return !copy.running(); }, 60000);
  }
  EXPECT_GT(answeredDuringCopy, 0) << "every answer waited for the copy";
}

TEST_F(SnapshotsTest, KilledDuringPrepareAndCommitLeavesNoOrphans) {
  // A parent big enough that a native prepare (a full copy) and a commit (a usage walk) take a
  // while, so that the kills land inside them.
  auto s = snapshots("native");
  prepareAndMount(s, "big", "");
  for (int i = 0; i < 40; i++) {
    auto sub = target + "/d" + std::to_string(i);
    mkdir(sub.c_str(), 0755);
    for (int j = 0; j < 250; j++) writeFile(sub + "/f" + std::to_string(j), "data");
  }
  unmountTarget();
  commit(s, "base", "big");
  auto dirPath = daemon.root() + "/snapshots/native";
  auto records = [&]() {
    auto out = daemon.ctr({"snapshots", "--snapshotter", "native", "ls"}).out;
    return size_t(std::count(out.begin(), out.end(), '\n') - 1);
  };

  for (int delayMs : {20, 60, 120, 200, 300}) {
    SCOPED_TRACE(delayMs);
    auto key = "k" + std::to_string(delayMs);
    pid_t ctr = fork();
    if (ctr == 0) {
      execl(binPath("ctr").c_str(), "ctr", "--address", daemon.socket().c_str(), "snapshots",
            "--snapshotter", "native", "prepare", key.c_str(), "base", nullptr);
      _exit(127);
    }
    usleep(delayMs * 1000);
    pid_t service = daemon.servicePid("containerd-snapshot");
    ASSERT_GT(service, 0);
    kill(service, SIGKILL);
    waitpid(ctr, nullptr, 0);
    ASSERT_TRUE(waitFor([&]() {
      pid_t now = daemon.servicePid("containerd-snapshot");
      return now != 0 && now != service;
    })) << daemon.log();
    EXPECT_EQ(strayDirectories(dirPath, records()), 0) << "after a kill during prepare";

    // If the prepare made it, kill a commit of it as well.
    auto listed = daemon.ctr({"snapshots", "--snapshotter", "native", "ls"}).out;
    if (listed.find(key + " ") == std::string::npos) continue;
    pid_t committer = fork();
    if (committer == 0) {
      execl(binPath("ctr").c_str(), "ctr", "--address", daemon.socket().c_str(), "snapshots",
            "--snapshotter", "native", "commit", ("c-" + key).c_str(), key.c_str(), nullptr);
      _exit(127);
    }
    usleep(delayMs * 500);
    service = daemon.servicePid("containerd-snapshot");
    kill(service, SIGKILL);
    waitpid(committer, nullptr, 0);
    ASSERT_TRUE(waitFor([&]() {
      pid_t now = daemon.servicePid("containerd-snapshot");
      return now != 0 && now != service;
    })) << daemon.log();
    EXPECT_EQ(strayDirectories(dirPath, records()), 0) << "after a kill during commit";
  }
  // At least one kill landed mid-operation and left a directory that the restart removed.
  EXPECT_NE(daemon.log().find("directories left by a crash"), std::string::npos) << daemon.log();
  // Every snapshot that survived is whole: it can be mounted or used as a parent.
  auto listed = daemon.ctr({"snapshots", "--snapshotter", "native", "ls"}).out;
  EXPECT_EQ(daemon.ctr({"snapshots", "--snapshotter", "native", "usage"}).status, 0) << listed;
}

TEST_F(SnapshotsTest, MoreLayersThanAMountOptionCanCarry) {
  auto s = snapshots();
  std::string parent;
  const int LAYERS = 130;
  for (int i = 0; i < LAYERS; i++) {
    auto key = "layer-" + std::to_string(i);
    auto req = s.prepareRequest();
    req.setKey(key + "-active");
    req.setParent(parent);
    req.send().wait(client->waitScope());
    auto w = s.writableDirRequest();
    w.setKey(key + "-active");
    auto response = w.send().wait(client->waitScope());
    auto fd = response.getDir().getFd().wait(client->waitScope());
    int upper = -1;
    KJ_IF_MAYBE(received, fd) {
      upper = *received;
    }
    ASSERT_GE(upper, 0) << "writableDir carried no fd";
    int f = openat(upper, ("file-" + std::to_string(i)).c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(f, 0);
    close(f);
    commit(s, key, key + "-active");
    parent = key;
  }
  auto req = s.prepareRequest();
  req.setKey("top");
  req.setParent(parent);
  auto response = req.send().wait(client->waitScope());
  size_t optionBytes = 0;
  for (auto o : response.getMounts()[0].getOptions()) optionBytes += o.size() + 1;
  EXPECT_GT(optionBytes, 4096u) << "the test must exceed one page";
  mountAll(response.getMounts(), target);
  mounted = true;
  for (int i = 0; i < LAYERS; i++) {
    EXPECT_TRUE(exists(target + "/file-" + std::to_string(i))) << i;
  }
  // Every one of the 130 parents reaches the caller as a directory fd.
  auto w = s.writableDirRequest();
  w.setKey("top");
  auto dirs = w.send().wait(client->waitScope());
  ASSERT_EQ(dirs.getParents().size(), size_t(LAYERS));
  for (auto p : dirs.getParents()) {
    EXPECT_TRUE(p.getFd().wait(client->waitScope()) != nullptr);
  }
}

TEST_F(SnapshotsTest, UsageCountsBlocksAndInodes) {
  auto s = snapshots();
  prepareAndMount(s, "l", "");
  writeFile(target + "/big", std::string(1 << 20, 'x'));
  writeFile(target + "/small", "x");
  unmountTarget();
  auto usage = [&](kj::StringPtr key) {
    auto req = s.usageRequest();
    req.setKey(key);
    auto r = req.send().wait(client->waitScope());
    return std::make_pair(r.getUsage().getSize(), r.getUsage().getInodes());
  };
  auto active = usage("l");
  EXPECT_GE(active.first, 1 << 20);
  EXPECT_EQ(active.second, 2);
  commit(s, "c", "l");
  EXPECT_EQ(usage("c"), active);
  auto r = daemon.ctr({"snapshots", "usage", "c"});
  EXPECT_NE(r.out.find("1.0"), std::string::npos) << r.out;
}

TEST_F(SnapshotsTest, ListFiltersAndLabels) {
  ASSERT_EQ(daemon.ctr({"snapshots", "prepare", "a"}).status, 0);
  ASSERT_EQ(daemon.ctr({"snapshots", "commit", "b", "a"}).status, 0);
  ASSERT_EQ(daemon.ctr({"snapshots", "prepare", "c", "b"}).status, 0);
  ASSERT_EQ(daemon.ctr({"snapshots", "label", "c", "team=x"}).status, 0);
  auto s = snapshots();
  auto list = [&](kj::StringPtr filter) {
    auto req = s.listRequest();
    req.initFilters(1).set(0, filter);
    auto r = req.send().wait(client->waitScope());
    std::string names;
    for (auto i : r.getInfos()) names += std::string(i.getName().cStr()) + " ";
    return names;
  };
  EXPECT_EQ(list("kind==committed"), "b ");
  EXPECT_EQ(list("labels.team==x"), "c ");
  EXPECT_EQ(list("parent==b"), "c ");
  auto info = daemon.ctr({"snapshots", "info", "c"}).out;
  EXPECT_NE(info.find("\"team\": \"x\""), std::string::npos) << info;
}

}  // namespace
}  // namespace ctrd::test
