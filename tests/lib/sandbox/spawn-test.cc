#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <sandbox/spawn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "integration/harness.h"

namespace ctrd {
namespace {

int waitExit(pid_t pid) {
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(Spawn, TheChildGetsExactlyTheFdsItIsGiven) {
  test::TempDir dir;
  auto out = dir.path() + "/out";
  int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  int null = open("/dev/null", O_RDWR);  // not close-on-exec: must not reach the child as itself
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  kj::String argv[] = {kj::str("ls"), kj::str("/proc/self/fd")};
  FdMapping fds[] = {{null, 0}, {fd, 1}, {null, 2}, {p[1], 4}};
  pid_t pid = spawnProcess({"/bin/ls", argv, {}, fds, ProcessGroup::OWN_GROUP});
  close(p[1]);
  EXPECT_EQ(waitExit(pid), 0);
  char buf[8];
  EXPECT_EQ(read(p[0], buf, sizeof(buf)), 0);  // its end reached the child, and closed with it
  for (int f : {fd, null, p[0]}) close(f);
  // 0, 1, 2 and 4 as mapped, 3 the directory ls reads: nothing else.
  EXPECT_EQ(test::readFile(out), "0\n1\n2\n3\n4\n");
}

TEST(Spawn, TheChildStartsWithDefaultSignalsInItsOwnGroup) {
  test::TempDir dir;
  auto out = dir.path() + "/out";
  int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigprocmask(SIG_BLOCK, &blocked, nullptr);
  signal(SIGPIPE, SIG_IGN);
  kj::String argv[] = {kj::str("sh"), kj::str("-c"),
                       kj::str("grep -E '^(SigBlk|SigIgn)' /proc/self/status; ps -o pgid= -p $$")};
  kj::StringPtr env[] = {"PATH=/usr/bin:/bin"_kj};
  FdMapping fds[] = {{fd, 1}};
  pid_t pid = spawnProcess({"/bin/sh", argv, env, fds, ProcessGroup::OWN_GROUP});
  EXPECT_EQ(waitExit(pid), 0);
  sigprocmask(SIG_UNBLOCK, &blocked, nullptr);
  signal(SIGPIPE, SIG_DFL);
  close(fd);

  auto text = test::readFile(out);
  EXPECT_NE(text.find("SigBlk:\t0000000000000000"), std::string::npos) << text;
  // No standard signal ignored (32 and 33 are glibc's own, outside posix_spawn's reach).
  auto ign = text.find("SigIgn:\t");
  ASSERT_NE(ign, std::string::npos) << text;
  EXPECT_EQ(std::stoull(text.substr(ign + 8, 16), nullptr, 16) & 0x7fffffffull, 0u) << text;
  EXPECT_NE(text.find(std::to_string(pid)), std::string::npos) << "own process group: " << text;
}

TEST(Spawn, ASessionOfItsOwnDetachesIt) {
  kj::String argv[] = {kj::str("sh"), kj::str("-c"), kj::str("test $(ps -o sid= -p $$) = $$")};
  kj::StringPtr env[] = {"PATH=/usr/bin:/bin"_kj};
  pid_t pid = spawnProcess({"/bin/sh", argv, env, {}, ProcessGroup::OWN_SESSION});
  EXPECT_EQ(waitExit(pid), 0);
}

TEST(Spawn, AMissingExecutableSaysWhich) {
  kj::String argv[] = {kj::str("x")};
  auto e = kj::runCatchingExceptions([&]() {
    spawnProcess({"/nonexistent/x", argv, {}, {}, ProcessGroup::OWN_GROUP});
  });
  ASSERT_TRUE(e != nullptr);
  EXPECT_NE(std::string(KJ_ASSERT_NONNULL(e).getDescription().cStr())
                .find("/nonexistent/x: No such file or directory"),
            std::string::npos);
}

}  // namespace
}  // namespace ctrd
