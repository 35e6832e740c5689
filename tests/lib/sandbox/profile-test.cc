// Each test enters a real profile in a forked child (the kernel's seccomp and capabilities, no
// fakes) and probes what the child may and may not do.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/exception.h>
#include <linux/sched.h>
#include <sandbox/profile.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

namespace ctrd {
namespace {

constexpr Identity TEST_IDENTITY = {64103, 64103};
int statusFd = -1;  // the sandboxed child's /proc/self/status

// Runs `probe` in a child that entered `kind`'s profile; returns the child's wait status.
// The probe returns 0 when every expectation held, or the line of the first that failed.
int runSandboxed(ServiceKind kind, kj::Maybe<Identity> identity, std::function<int()> probe) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    // Opened before the sandbox: an empty-root profile leaves no /proc to open afterwards.
    statusFd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    int keep[] = {statusFd};
    KJ_IF_MAYBE(e, kj::runCatchingExceptions(
                       [&]() { enterSandbox(profileFor(kind), identity, keep); })) {
      fprintf(stderr, "enterSandbox: %s\n", e->getDescription().cStr());
      _exit(255);
    }
    _exit(probe());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

std::string statusField(const char* field) {
  // Read fresh through the fd opened before the sandbox; the kernel renders it at read time.
  char buf[8192];
  ssize_t n = pread(statusFd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "";
  std::istringstream in(std::string(buf, n));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      auto value = line.substr(strlen(field));
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return "";
}

std::string hex16(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

#define PROBE(cond)                                                      \
  do {                                                                   \
    if (!(cond)) {                                                       \
      fprintf(stderr, "probe failed at line %d: %s\n", __LINE__, #cond); \
      return __LINE__ % 250 + 1;                                         \
    }                                                                    \
  } while (0)

// The call fails with exactly `err`, and the process lives on to report it.
#define PROBE_ERRNO(call, err) PROBE((call) < 0 && errno == (err))

class ProfileTest : public testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "entering a profile needs root";
  }
};

TEST_F(ProfileTest, DiffRunsUnprivilegedWithItsCapabilitiesOnly) {
  int status = runSandboxed(ServiceKind::DIFF, TEST_IDENTITY, []() {
    auto& p = profileFor(ServiceKind::DIFF);
    PROBE(getuid() == TEST_IDENTITY.uid && geteuid() == TEST_IDENTITY.uid);
    PROBE(getgid() == TEST_IDENTITY.gid);
    PROBE(statusField("CapEff:") == hex16(p.capabilities));
    PROBE(statusField("CapPrm:") == hex16(p.capabilities));
    PROBE(statusField("CapBnd:") == hex16(p.capabilities));
    PROBE(statusField("CapInh:") == hex16(0));
    PROBE(statusField("CapAmb:") == hex16(0));
    PROBE(statusField("NoNewPrivs:") == "1");
    PROBE(statusField("Seccomp:") == "2");
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

TEST_F(ProfileTest, DiffCannotOpenSocketsMountOrExecAndSurvivesTrying) {
  int status = runSandboxed(ServiceKind::DIFF, TEST_IDENTITY, []() {
    PROBE_ERRNO(socket(AF_INET, SOCK_STREAM, 0), EPERM);
    PROBE_ERRNO(socket(AF_INET6, SOCK_DGRAM, 0), EPERM);
    PROBE_ERRNO(socket(AF_UNIX, SOCK_STREAM, 0), EPERM);
    PROBE_ERRNO(mount("none", "/tmp", "tmpfs", 0, nullptr), EPERM);
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    PROBE_ERRNO(execve("/bin/true", argv, nullptr), EPERM);
    PROBE_ERRNO(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0), EPERM);  // fork
    PROBE_ERRNO(syscall(SYS_ptrace, 0, 0, 0, 0), EPERM);
    PROBE_ERRNO(syscall(SYS_unshare, CLONE_NEWNS), EPERM);
    // Its root is an empty, deleted directory: no host path exists for it.
    PROBE_ERRNO(open("/etc/passwd", O_RDONLY), ENOENT);
    PROBE_ERRNO(open("../../../etc/passwd", O_RDONLY), ENOENT);
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    PROBE_ERRNO(syscall(SYS_clone3, &args, sizeof(args)), ENOSYS);
    // Threads still work: glibc falls back from clone3 to clone(CLONE_THREAD).
    bool ran = false;
    std::thread([&]() { ran = true; }).join();
    PROBE(ran);
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

TEST_F(ProfileTest, ContentMayOpenTcpSocketsOnly) {
  int status = runSandboxed(ServiceKind::CONTENT, Identity{64101, 64101}, []() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    PROBE(fd >= 0);
    close(fd);
    fd = socket(AF_INET6, SOCK_STREAM, 0);
    PROBE(fd >= 0 || errno == EAFNOSUPPORT);
    if (fd >= 0) close(fd);
    PROBE_ERRNO(socket(AF_UNIX, SOCK_STREAM, 0), EPERM);
    PROBE_ERRNO(socket(AF_PACKET, SOCK_RAW, 0), EPERM);
    PROBE(statusField("CapEff:") == hex16(0));
    PROBE(statusField("CapBnd:") == hex16(0));
    PROBE_ERRNO(chown("/proc/self/status", 0, 0), EPERM);
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

TEST_F(ProfileTest, TasksStaysRootAndOnlyLosesHostWideCalls) {
  int status = runSandboxed(ServiceKind::TASKS, nullptr, []() {
    PROBE(getuid() == 0);
    PROBE(statusField("NoNewPrivs:") == "0");
    PROBE(statusField("Seccomp:") == "2");
    // A wrong magic number: without the filter the kernel answers EINVAL; with it, EPERM.
    PROBE_ERRNO(syscall(SYS_reboot, 0, 0, 0, nullptr), EPERM);
    PROBE_ERRNO(syscall(SYS_init_module, nullptr, 0, ""), EPERM);
    pid_t child = fork();
    if (child == 0) _exit(7);
    PROBE(child > 0);
    int st = 0;
    PROBE(waitpid(child, &st, 0) == child && WEXITSTATUS(st) == 7);
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

TEST_F(ProfileTest, UnprivilegedProfileRefusesToStayRoot) {
  int status = runSandboxed(ServiceKind::SNAPSHOT, nullptr, []() { return 0; });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 255) << "wait status " << status;
  status = runSandboxed(ServiceKind::SNAPSHOT, Identity{0, 0}, []() { return 0; });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 255) << "wait status " << status;
}

TEST_F(ProfileTest, InheritedDescriptorsAreClosed) {
  int leaked = dup(STDERR_FILENO);
  int kept = dup(STDERR_FILENO);
  ASSERT_GE(leaked, 3);
  pid_t pid = fork();
  if (pid == 0) {
    int keep[] = {kept};
    enterSandbox(profileFor(ServiceKind::SNAPSHOT), Identity{64102, 64102}, keep);
    bool leakedClosed = fcntl(leaked, F_GETFD) < 0 && errno == EBADF;
    bool keptOpen = fcntl(kept, F_GETFD) >= 0;
    _exit(leakedClosed && keptOpen ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  close(leaked);
  close(kept);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

}  // namespace
}  // namespace ctrd
