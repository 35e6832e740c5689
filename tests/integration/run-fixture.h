// What the tests that run containers share: a daemon with the busybox image pulled from the
// local registry, and the checks that nothing of a container is left behind.
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "harness.h"
#include "registry.h"

namespace ctrd::test {

inline size_t entries(const std::string& dir) {
  // Entries of a directory, "." and ".." aside; 0 when it does not exist.
  size_t n = 0;
  if (DIR* d = opendir(dir.c_str())) {
    while (auto* e = readdir(d))
      n += std::string(e->d_name) != "." && std::string(e->d_name) != "..";
    closedir(d);
  }
  return n;
}

inline std::string mountsUnder(const std::string& path) {
  // The mount points beneath `path`, one a line: empty when none is left.
  std::string out;
  for (auto& m : mountsBeneath(path)) out += m + "\n";
  return out;
}

inline bool cgroupLeft(const std::string& id) {
  // runc makes /default/<id> under each cgroup v1 hierarchy (and the v2 one): gone after delete.
  for (auto* hierarchy : {"pids", "memory", "cpu", "freezer", "unified"}) {
    struct stat st;
    auto path = std::string("/sys/fs/cgroup/") + hierarchy + "/default/" + id;
    if (stat(path.c_str(), &st) == 0) return true;
  }
  return false;
}

inline size_t shimsOf(const std::string& state) {
  size_t n = 0;
  if (DIR* d = opendir("/proc")) {
    while (auto* e = readdir(d)) {
      std::ifstream cmd(std::string("/proc/") + e->d_name + "/cmdline");
      std::string args((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
      n += args.find("containerd-shim") != std::string::npos &&
           args.find(state) != std::string::npos;
    }
    closedir(d);
  }
  return n;
}

class RunTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "running containers needs root";
    if (!Registry::available()) GTEST_SKIP() << "docker-registry is not installed";
    if (access("/usr/sbin/runc", X_OK) != 0 && access("/usr/bin/runc", X_OK) != 0) {
      GTEST_SKIP() << "runc is not installed";
    }
    ASSERT_TRUE(daemon.start()) << daemon.log();
    registry.push({"busybox", "busybox:latest"});
    image = registry.address() + "/busybox:latest";
    auto pulled = ctr({"images", "pull", "--plain-http", image});
    ASSERT_EQ(pulled.status, 0) << pulled.err;
  }

  Result ctr(const std::vector<std::string>& args, const std::string& input = "") {
    return daemon.ctr(args, input);
  }

  void expectNothingLeft() {
    // No bundle, mount, shim, container or snapshot of ours remains.
    EXPECT_EQ(entries(daemon.state() + "/tasks/default"), 0u);
    EXPECT_EQ(mountsUnder(daemon.state()), "");
    // A shim exits just after it answered its shutdown.
    EXPECT_TRUE(waitFor([&]() { return shimsOf(daemon.state()) == 0; }, 5000));
    EXPECT_EQ(ctr({"containers", "ls", "-q"}).out, "");
    EXPECT_EQ(ctr({"tasks", "ls", "-q"}).out, "");
    auto snapshots = ctr({"snapshots", "ls"}).out;
    EXPECT_EQ(snapshots.find("Active"), std::string::npos) << snapshots;
  }

  Registry registry;
  Daemon daemon;
  std::string image;
};

}  // namespace ctrd::test
