// What the tests that run containers share: a daemon with the busybox image pulled from the
// local registry, and the checks that nothing of a container is left behind.
#pragma once

#include <dirent.h>
#include <fcntl.h>
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

inline bool cgroupLeftIn(const std::string& ns, const std::string& id) {
  // runc makes /<ns>/<id> under each cgroup v1 hierarchy (and the v2 one): gone after delete.
  for (auto* hierarchy : {"pids", "memory", "cpu", "freezer", "unified"}) {
    struct stat st;
    auto path = std::string("/sys/fs/cgroup/") + hierarchy + "/" + ns + "/" + id;
    if (stat(path.c_str(), &st) == 0) return true;
  }
  return false;
}

inline size_t shimsOf(const std::string& state) {
  size_t n = 0;
  if (DIR* d = opendir("/proc")) {
    while (auto* e = readdir(d)) {
      // Read with read(2): a process that exits meanwhile fails the read with ESRCH, which
      // libstdc++'s filebuf throws through an istreambuf_iterator (it failed a run this way).
      std::string args;
      int fd = open((std::string("/proc/") + e->d_name + "/cmdline").c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        char buf[4096];
        ssize_t got;
        while ((got = read(fd, buf, sizeof(buf))) > 0) args.append(buf, got);
        close(fd);
      }
      n += args.find("containerd-shim") != std::string::npos &&
           args.find(state) != std::string::npos;
    }
    closedir(d);
  }
  return n;
}

class RunTest : public ::testing::TestWithParam<std::string> {
  // Every case runs once with runc and once with crun (the parameter): `ctr run` and `ctr
  // containers create` get `--runc-binary` for crun. Debian's crun 1.8 refuses this machine's
  // hybrid cgroup layout (a v2 hierarchy mounted at /sys/fs/cgroup/unified beside v1); like
  // ../shared/peer/bench.sh, it runs through a wrapper that hides that mount in a private mount
  // namespace, where crun uses cgroup v1 as runc does.
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "running containers needs root";
    if (!Registry::available()) GTEST_SKIP() << "docker-registry is not installed";
    if (GetParam() == "runc") {
      if (access("/usr/sbin/runc", X_OK) != 0 && access("/usr/bin/runc", X_OK) != 0) {
        GTEST_SKIP() << "runc is not installed";
      }
    } else {
      if (access("/usr/bin/crun", X_OK) != 0) GTEST_SKIP() << "crun is not installed";
      runtime = "/usr/bin/crun";
      if (access("/sys/fs/cgroup/unified", F_OK) == 0) {
        runtime = wrappers.path() + "/crun-hybrid";
        std::ofstream(runtime) << "#!/bin/sh\nexec unshare -m --propagation private sh -c "
                                  "'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec "
                                  "/usr/bin/crun \"$@\"' crun \"$@\"\n";
        chmod(runtime.c_str(), 0755);
      }
    }
    // A namespace per runtime: the two runs of a case may overlap, and a container's cgroup is
    // /<namespace>/<id>.
    ns = GetParam();
    ASSERT_TRUE(daemon.start()) << daemon.log();
    registry.push({"busybox", "busybox:latest"});
    image = registry.address() + "/busybox:latest";
    auto pulled = ctr({"images", "pull", "--plain-http", image});
    ASSERT_EQ(pulled.status, 0) << pulled.err;
  }

  std::vector<std::string> withRuntime(std::vector<std::string> args) {
    if (args.empty() || args[0] != "-n") args.insert(args.begin(), {"-n", ns});
    if (runtime.empty()) return args;
    for (auto& a : args) {
      if (a == "--runc-binary") return args;  // the case's own choice
    }
    size_t at = 0;
    if (args.size() >= 3 && args[2] == "run") at = 3;
    if (args.size() >= 4 && args[2] == "containers" && args[3] == "create") at = 4;
    if (at > 0) args.insert(args.begin() + at, {"--runc-binary", runtime});
    return args;
  }

  Result ctr(const std::vector<std::string>& args, const std::string& input = "") {
    return daemon.ctr(withRuntime(args), input);
  }
  std::vector<std::string> ctrArgv(const std::vector<std::string>& args) {
    // For a ctr of the case's own, in the background.
    std::vector<std::string> argv = {binPath("ctr"), "--address", daemon.socket()};
    auto rest = withRuntime(args);
    argv.insert(argv.end(), rest.begin(), rest.end());
    return argv;
  }
  Result ctrInTerminal(const std::vector<std::string>& args, const std::string& input,
                       TerminalSize size = {}, const TerminalReaction& react = nullptr) {
    return daemon.ctrInTerminal(withRuntime(args), input, size, react);
  }

  void expectNothingLeft() {
    // No bundle, mount, shim, container or snapshot of ours remains.
    EXPECT_EQ(entries(daemon.state() + "/tasks/" + ns), 0u);
    EXPECT_EQ(mountsUnder(daemon.state()), "");
    // A shim exits just after it answered its shutdown.
    EXPECT_TRUE(waitFor([&]() { return shimsOf(daemon.state()) == 0; }, 5000));
    EXPECT_EQ(ctr({"containers", "ls", "-q"}).out, "");
    EXPECT_EQ(ctr({"tasks", "ls", "-q"}).out, "");
    auto snapshots = ctr({"snapshots", "ls"}).out;
    EXPECT_EQ(snapshots.find("Active"), std::string::npos) << snapshots;
  }

  TempDir wrappers;
  Registry registry;
  Daemon daemon;
  std::string image;
  std::string runtime;  // empty: runc, the default
  std::string ns;       // the runtime's name

  bool cgroupLeft(const std::string& id) { return cgroupLeftIn(ns, id); }
};

inline std::string runtimeName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace ctrd::test
