// The daemon as a user meets it: real executables, real kernel, a temporary root and state.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <sandbox/profile.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "integration/harness.h"

namespace ctrd::test {
namespace {

std::string hex16(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string ids(unsigned id) {
  auto s = std::to_string(id);
  return s + "\t" + s + "\t" + s + "\t" + s;
}

bool alive(pid_t pid) {
  return kill(pid, 0) == 0 || errno != ESRCH;
}

std::string lastLine(const std::string& text) {
  auto end = text.find_last_not_of('\n');
  if (end == std::string::npos) return "";
  auto start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start + 1));
}

class DaemonTest : public testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the daemon runs as root";
  }
};

TEST_F(DaemonTest, EveryProcessRaisesItsOpenFileLimitToTheHardLimit) {
  struct rlimit saved, low;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max <= 1024) GTEST_SKIP() << "the hard limit is 1024 already";
  low = {1024, saved.rlim_max};
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  Daemon d;
  bool started = d.start();
  setrlimit(RLIMIT_NOFILE, &saved);
  ASSERT_TRUE(started) << d.log();
  std::vector<pid_t> pids = {d.pid()};
  for (auto& p : allProfiles()) pids.push_back(d.servicePid(p.executable.cStr()));
  for (pid_t pid : pids) {
    std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
    std::string line, found;
    while (std::getline(limits, line)) {
      if (line.rfind("Max open files", 0) == 0) found = line;
    }
    std::istringstream fields(found.substr(strlen("Max open files")));
    std::string soft, hard;
    fields >> soft >> hard;
    EXPECT_EQ(soft, std::to_string(saved.rlim_max)) << pid << ": " << found;
    EXPECT_EQ(hard, std::to_string(saved.rlim_max)) << pid << ": " << found;
  }
}

TEST_F(DaemonTest, EveryServiceRunsExactlyUnderItsProfile) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  std::string ownBounding = procStatusField(getpid(), "CapBnd:");
  for (auto& p : allProfiles()) {
    SCOPED_TRACE(p.executable.cStr());
    pid_t pid = d.servicePid(p.executable.cStr());
    ASSERT_GT(pid, 0) << d.log();
    uid_t uid = p.kind == ServiceKind::CONTENT    ? CONTENT_UID
                : p.kind == ServiceKind::SNAPSHOT ? SNAPSHOT_UID
                : p.kind == ServiceKind::DIFF     ? DIFF_UID
                                                  : 0;
    ASSERT_EQ(p.runsAsRoot, uid == 0);
    EXPECT_EQ(procStatusField(pid, "Uid:"), ids(uid));
    EXPECT_EQ(procStatusField(pid, "Gid:"), ids(uid));
    // A root service keeps what the daemon was given; the others hold exactly their profile.
    std::string caps = p.runsAsRoot ? ownBounding : hex16(p.capabilities);
    EXPECT_EQ(procStatusField(pid, "CapEff:"), caps);
    EXPECT_EQ(procStatusField(pid, "CapPrm:"), caps);
    EXPECT_EQ(procStatusField(pid, "CapBnd:"), caps);
    EXPECT_EQ(procStatusField(pid, "CapInh:"), hex16(0));
    EXPECT_EQ(procStatusField(pid, "CapAmb:"), hex16(0));
    EXPECT_EQ(procStatusField(pid, "NoNewPrivs:"), p.noNewPrivs ? "1" : "0");
    EXPECT_EQ(procStatusField(pid, "Seccomp:"), "2");
    char root[PATH_MAX] = {};
    ASSERT_GT(readlink(("/proc/" + std::to_string(pid) + "/root").c_str(), root, sizeof(root) - 1),
              0);
    if (p.emptyRoot) {
      EXPECT_NE(std::string(root).find("(deleted)"), std::string::npos) << root;
      EXPECT_EQ(run({"/bin/ls", "-A", "/proc/" + std::to_string(pid) + "/root/"}).out, "");
    } else {
      EXPECT_STREQ(root, "/");
    }
  }
}

TEST_F(DaemonTest, VersionNamesEveryProcessWithItsPid) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  auto r = d.ctr({"version"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Client:"), std::string::npos);
  EXPECT_NE(r.out.find("Server:"), std::string::npos);
  EXPECT_NE(r.out.find("PID:      " + std::to_string(d.pid())), std::string::npos) << r.out;
  for (auto& p : allProfiles()) {
    pid_t pid = d.servicePid(p.executable.cStr());
    ASSERT_GT(pid, 0);
    auto at = r.out.find(p.executable.cStr());
    ASSERT_NE(at, std::string::npos) << r.out;
    auto line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_NE(line.find(" " + std::to_string(pid) + " "), std::string::npos) << line;
  }
}

TEST_F(DaemonTest, PluginsListsTheServicesAsOk) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  auto r = d.ctr({"plugins", "ls"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("TYPE", 0), 0u) << r.out;
  for (auto& p : allProfiles()) {
    auto at = r.out.find(p.pluginType.cStr());
    ASSERT_NE(at, std::string::npos) << r.out;
    auto line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_NE(line.find(p.executable.cStr()), std::string::npos) << line;
    EXPECT_EQ(line.substr(line.size() - 2), "ok") << line;
  }
}

TEST_F(DaemonTest, KilledServiceIsRestartedAndVersionAnswersAgain) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  pid_t old = d.servicePid("containerd-diff");
  ASSERT_GT(old, 0);
  ASSERT_EQ(kill(old, SIGKILL), 0);
  ASSERT_TRUE(waitFor([&]() {
    pid_t now = d.servicePid("containerd-diff");
    return now != 0 && now != old;
  })) << d.log();
  EXPECT_EQ(d.ctr({"version"}).status, 0);
  auto info = d.info();
  for (auto& p : info["processes"]) {
    if (p["id"] != "containerd-diff") continue;
    EXPECT_EQ(p["restarts"], 1);
    EXPECT_NE(p["lastError"].get<std::string>().find("killed by signal 9"), std::string::npos)
        << p.dump();
  }
  EXPECT_NE(d.log().find("killed by signal 9 (KILL); restarting"), std::string::npos) << d.log();
  // The restarted process is under the same profile.
  pid_t now = d.servicePid("containerd-diff");
  EXPECT_EQ(procStatusField(now, "Uid:"), ids(DIFF_UID));
  EXPECT_EQ(procStatusField(now, "Seccomp:"), "2");
}

TEST_F(DaemonTest, SigtermStopsEveryServiceAndRemovesTheSocket) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  std::vector<pid_t> pids;
  for (auto& p : allProfiles()) pids.push_back(d.servicePid(p.executable.cStr()));
  EXPECT_EQ(d.stop(SIGTERM), 0) << d.log();
  for (pid_t pid : pids) {
    ASSERT_GT(pid, 0);
    EXPECT_TRUE(waitFor([&]() { return !alive(pid); })) << pid;
  }
  EXPECT_NE(access(d.socket().c_str(), F_OK), 0);
}

TEST_F(DaemonTest, ServicesDoNotOutliveAKilledDaemon) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  std::vector<pid_t> pids;
  for (auto& p : allProfiles()) pids.push_back(d.servicePid(p.executable.cStr()));
  d.stop(SIGKILL);
  for (pid_t pid : pids) EXPECT_TRUE(waitFor([&]() { return !alive(pid); })) << pid;
  // The socket left behind is stale, and the next daemon takes it over.
  Daemon again;
  ASSERT_TRUE(again.start()) << again.log();
}

// ---------------------------------------------------------------------------------------------
// A daemon that cannot start says why in one line and exits non-zero.

struct Failure {
  int status;
  std::string line;
};

Failure startFails(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/timeout", "30", binPath("containerd")};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv);
  return {r.status, lastLine(r.err)};
}

TEST_F(DaemonTest, BadConfigIsAClearError) {
  TempDir dir;
  std::string path = dir.path() + "/bad.toml";
  std::ofstream(path) << "root = \"/tmp/x\nstate = 1\n";
  auto f = startFails({"--config", path});
  EXPECT_EQ(f.status, 1);
  EXPECT_EQ(f.line.rfind("containerd: config " + path + ": ", 0), 0u) << f.line;
  EXPECT_NE(f.line.find("line 1"), std::string::npos) << f.line;

  std::ofstream(path) << "[services.content]\nuid = 0\ngid = 0\n";
  f = startFails({"--config", path});
  EXPECT_EQ(f.status, 1);
  EXPECT_NE(f.line.find("must not be 0"), std::string::npos) << f.line;

  f = startFails({"--config", dir.path() + "/missing.toml"});
  EXPECT_EQ(f.status, 1);
  EXPECT_NE(f.line.find("No such file or directory"), std::string::npos) << f.line;
}

TEST_F(DaemonTest, UnknownFlagIsAClearError) {
  auto r = run({binPath("containerd"), "--no-such-flag"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
}

TEST_F(DaemonTest, UnusableRootDirectoryIsAClearError) {
  Daemon d;
  TempDir dir;
  std::string file = dir.path() + "/file";
  std::ofstream(file) << "x";
  auto f = startFails({"--config", d.configPath(), "--root", file + "/root"});
  EXPECT_EQ(f.status, 1);
  EXPECT_EQ(f.line,
            "containerd: root directory \"" + file + "/root\": Not a directory: invalid argument");
}

TEST_F(DaemonTest, TakenSocketIsAClearErrorAndStartsNothing) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  auto f = startFails({"--config", d.configPath()});
  EXPECT_EQ(f.status, 1);
  EXPECT_EQ(f.line, "containerd: address \"" + d.socket() +
                        "\" is in use by another process: already exists");
  EXPECT_EQ(d.ctr({"version"}).status, 0);
}

TEST_F(DaemonTest, AFileThatIsNotASocketAtTheAddressIsKept) {
  Daemon d;
  TempDir dir;
  std::string file = dir.path() + "/not-a-socket";
  std::ofstream(file) << "precious";
  auto f = startFails({"--config", d.configPath(), "--address", file});
  EXPECT_EQ(f.status, 1);
  EXPECT_EQ(f.line,
            "containerd: address \"" + file + "\" exists and is not a socket: already exists");
  EXPECT_EQ(readFile(file), "precious");
}

TEST_F(DaemonTest, MetadataIsReadableByRootAlone) {
  Daemon d;
  ASSERT_TRUE(d.start()) << d.log();
  ASSERT_EQ(d.ctr({"-n", "x", "content", "ingest", "r"}, "data").status, 0);
  for (auto path : {d.root() + "/meta.db", d.root() + "/meta.db-wal",
                    d.root() + "/snapshots/overlayfs/metadata.db"}) {
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << path;
  }
}

TEST_F(DaemonTest, MissingServiceBinaryIsAClearError) {
  Daemon d(ServiceExtras{{"tasks", "path = \"/nonexistent/containerd-tasks\""}});
  auto f = startFails({"--config", d.configPath()});
  EXPECT_EQ(f.status, 1);
  EXPECT_EQ(f.line,
            "containerd: containerd-tasks failed to start: cannot start containerd-tasks: "
            "/nonexistent/containerd-tasks: No such file or directory");
}

TEST_F(DaemonTest, ServiceThatExitsAtStartIsAClearError) {
  Daemon d(ServiceExtras{{"tasks", "path = \"/bin/false\""}});
  auto f = startFails({"--config", d.configPath()});
  EXPECT_EQ(f.status, 1);
  EXPECT_EQ(f.line, "containerd: containerd-tasks failed to start: exited with status 1");
}

TEST_F(DaemonTest, MissingServiceUserIsAClearError) {
  Daemon d(ServiceExtras{{"diff", "user = \"no-such-user-ctrd\""}});
  auto path = d.configPath();
  auto f = startFails({"--config", path});
  EXPECT_EQ(f.status, 1);
  EXPECT_NE(f.line.find("user \"no-such-user-ctrd\""), std::string::npos) << f.line;
}

// ---------------------------------------------------------------------------------------------
// Services on their own: one systemd unit per service.

class Standalone {
  // A service process the test starts itself, the way a systemd unit would.
public:
  Standalone(const std::vector<std::string>& argv, int listenFd = -1) {
    pid_ = fork();
    if (pid_ == 0) {
      if (listenFd >= 0) {
        // dup2 onto itself keeps close-on-exec: cleared by hand for a socket that is fd 3.
        if (listenFd == 3) {
          fcntl(3, F_SETFD, 0);
        } else {
          dup2(listenFd, 3);
        }
        setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
        setenv("LISTEN_FDS", "1", 1);
      }
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Standalone() { stop(); }
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = 0;
    }
  }
  pid_t pid() const { return pid_; }

private:
  pid_t pid_ = 0;
};

std::string diffArgs() {
  return std::to_string(DIFF_UID);
}

TEST_F(DaemonTest, RunningServiceIsDialedAndRedialedAfterItDies) {
  TempDir dir;
  std::string sock = dir.path() + "/diff.sock";
  std::vector<std::string> argv = {
      binPath("containerd-diff"), "--listen", sock, "--uid", diffArgs(), "--gid", diffArgs()};
  auto unit = std::make_unique<Standalone>(argv);
  ASSERT_TRUE(waitFor([&]() { return access(sock.c_str(), F_OK) == 0; }));
  Daemon d(ServiceExtras{{"diff", "address = \"" + sock + "\""}});
  ASSERT_TRUE(d.start()) << d.log();
  EXPECT_EQ(d.servicePid("containerd-diff"), unit->pid());
  EXPECT_EQ(procStatusField(unit->pid(), "Uid:"), ids(DIFF_UID));
  EXPECT_EQ(procStatusField(unit->pid(), "Seccomp:"), "2");
  bool external = false;
  auto info = d.info();
  for (auto& p : info["processes"]) {
    if (p["id"] == "containerd-diff") external = p["external"];
  }
  EXPECT_TRUE(external);

  unit->stop();
  ASSERT_TRUE(waitFor([&]() {
    auto r = d.ctr({"plugins", "ls"});
    return r.out.find("containerd-diff          -              unavailable") != std::string::npos;
  })) << d.ctr({"plugins", "ls"}).out;

  // Several dials fail while nothing listens; supervision must go on through them.
  auto restarts = [&]() {
    auto info = d.info();
    for (auto& p : info["processes"]) {
      if (p["id"] == "containerd-diff") return p["restarts"].get<int>();
    }
    return -1;
  };
  ASSERT_TRUE(waitFor([&]() { return restarts() >= 3; })) << d.log();
  unit = std::make_unique<Standalone>(argv);
  ASSERT_TRUE(waitFor([&]() { return d.servicePid("containerd-diff") == unit->pid(); }, 20000))
      << d.log();
}

TEST_F(DaemonTest, ServiceTakesItsSocketFromSystemd) {
  TempDir dir;
  std::string sock = dir.path() + "/snapshot.sock";
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, sock.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  auto uid = std::to_string(SNAPSHOT_UID);
  auto store = dir.path() + "/store";
  ASSERT_EQ(mkdir(store.c_str(), 0700), 0);
  ASSERT_EQ(chown(store.c_str(), SNAPSHOT_UID, SNAPSHOT_UID), 0);
  Standalone unit({binPath("containerd-snapshot"), "--uid", uid, "--gid", uid, "--root", store},
                  fd);
  close(fd);
  Daemon d(ServiceExtras{{"snapshot", "address = \"" + sock + "\""}});
  ASSERT_TRUE(d.start()) << d.log();
  EXPECT_EQ(d.servicePid("containerd-snapshot"), unit.pid());
  EXPECT_EQ(procStatusField(unit.pid(), "CapEff:"),
            hex16(profileFor(ServiceKind::SNAPSHOT).capabilities));
}

TEST_F(DaemonTest, ServiceAloneRefusesRootAndNeedsASocketAndItsStore) {
  TempDir dir;
  auto sock = dir.path() + "/content.sock";
  auto r = run({binPath("containerd-content"), "--listen", sock, "--root", dir.path()});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(lastLine(r.err),
            "containerd-content: must not run as uid 0: give it --uid and --gid, or --user: "
            "invalid argument");
  r = run({binPath("containerd-content"), "--listen", sock, "--uid", "64101", "--gid", "64101"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(lastLine(r.err),
            "containerd-content: give --root DIR: where its store lives: invalid argument");
  r = run({binPath("containerd-diff"), "--uid", "64103", "--gid", "64103"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("nothing to serve on"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ctrd::test
