// Terminals and attaching, driven through a real pty as a user's terminal: `ctr run -t` and
// `ctr tasks exec -t` (the size, typed input, SIGWINCH), `ctr tasks attach` to detached tasks,
// one client at a time, a client that dies, and output that nobody reads never blocking the
// container. Also `update` of a running task's limits through the client library.
#include <client/containerd.h>
#include <kj/exception.h>
#include <signal.h>
#include <sys/ioctl.h>

#include "run-fixture.h"

namespace ctrd::test {
namespace {

class TerminalTest : public RunTest {};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_P(TerminalTest, RunWithATerminalShowsItsSizeAndExitsWithItsStatus) {
  auto r = ctrInTerminal(
      {"run", "--rm", "-t", image, "tty1", "sh", "-c", "stty size; tty; echo $((6*7)); exit 3"}, "",
      {91, 33});
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "33 91")) << r.out;
  EXPECT_TRUE(contains(r.out, "/dev/pts/0")) << r.out;
  EXPECT_TRUE(contains(r.out, "42")) << r.out;
  expectNothingLeft();
}

TEST_P(TerminalTest, TypedInputReachesTheShellAndAResizeFollowsTheTerminal) {
  bool resized = false;
  auto r =
      ctrInTerminal({"run", "--rm", "-t", image, "tty2", "sh"}, "echo typed-$((2+3)); stty size\n",
                    {80, 24}, [&](int master, const std::string& shown) -> std::string {
                      if (resized || !contains(shown, "24 80")) return "";
                      resized = true;
                      // The kernel sends ctr SIGWINCH; ctr resizes the container's pty.
                      struct winsize size = {};
                      size.ws_col = 120;
                      size.ws_row = 50;
                      ioctl(master, TIOCSWINSZ, &size);
                      return "sleep 1; stty size; exit 4\n";
                    });
  EXPECT_EQ(r.status, 4) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "typed-5")) << r.out;
  EXPECT_TRUE(contains(r.out, "50 120")) << r.out;
  expectNothingLeft();
}

TEST_P(TerminalTest, ExecWithATerminal) {
  ASSERT_EQ(ctr({"run", "-d", image, "host", "sleep", "300"}).status, 0);
  auto r = ctrInTerminal(
      {"tasks", "exec", "-t", "--exec-id", "shell", "host", "sh", "-c", "tty; stty size; exit 5"},
      "", {100, 40});
  EXPECT_EQ(r.status, 5) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "/dev/pts/")) << r.out;
  EXPECT_TRUE(contains(r.out, "40 100")) << r.out;
  // A detached exec with a terminal runs to its end with nobody reading it.
  ASSERT_EQ(ctr({"tasks", "exec", "-d", "-t", "--exec-id", "quiet", "host", "sh", "-c",
                 "seq 1 20000; exit 2"})
                .status,
            0);
  EXPECT_EQ(ctr({"tasks", "kill", "-s", "SIGKILL", "host"}).status, 0);
  EXPECT_EQ(ctr({"tasks", "wait", "host"}).out, "137\n");
  EXPECT_EQ(ctr({"tasks", "rm", "host"}).status, 0);
  EXPECT_EQ(ctr({"containers", "rm", "host"}).status, 0);
  expectNothingLeft();
}

TEST_P(TerminalTest, ADetachedTaskIsAttachedToAndItsInputEnds) {
  ASSERT_EQ(ctr({"run", "-d", image, "reader", "sh", "-c",
                 "while read x; do echo got $x; echo err $x >&2; done; echo eof; exit 4"})
                .status,
            0);
  auto r = ctr({"tasks", "attach", "reader"}, "a\nb\n");
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_EQ(r.out, "got a\ngot b\neof\n");
  EXPECT_EQ(r.err, "err a\nerr b\n");
  EXPECT_EQ(ctr({"tasks", "rm", "reader"}).err, "ctr: task reader exited with status 4\n");
  EXPECT_EQ(ctr({"containers", "rm", "reader"}).status, 0);
  expectNothingLeft();
}

TEST_P(TerminalTest, OneClientAtATimeAndADeadClientLetsGo) {
  ASSERT_EQ(ctr({"run", "-d", "-t", image, "console", "sh", "-c",
                 "trap 'exit 6' INT; while true; do echo tick; sleep 0.2; done"})
                .status,
            0);
  TempDir dir;
  auto firstLog = dir.path() + "/first.log";
  Child first(ctrArgv({"tasks", "attach", "console"}), firstLog);
  // Attached once the ticks reach it.
  ASSERT_TRUE(waitFor([&]() { return contains(readFile(firstLog), "tick"); })) << daemon.log();
  auto refused = ctr({"tasks", "attach", "console"});
  EXPECT_EQ(refused.status, 1);
  EXPECT_EQ(refused.err, "ctr: another client is attached to the process: failed precondition\n");
  first.stop(SIGKILL);  // no goodbye: its connection just ends
  Result r;
  EXPECT_TRUE(waitFor([&]() {
    // Ctrl-C, typed once the ticks show, is the container's SIGINT.
    r = ctrInTerminal({"tasks", "attach", "console"}, "", {},
                      [](int, const std::string& shown) -> std::string {
                        return contains(shown, "tick") ? "\x03" : "";
                      });
    return !contains(r.out, "another client is attached");
  })) << r.out;
  EXPECT_EQ(r.status, 6) << r.out;
  auto attachedAgain = ctr({"tasks", "attach", "console"});
  EXPECT_EQ(attachedAgain.status, 1);
  EXPECT_TRUE(contains(attachedAgain.err, "has exited")) << attachedAgain.err;
  EXPECT_EQ(ctr({"tasks", "rm", "console"}).status, 0);
  EXPECT_EQ(ctr({"containers", "rm", "console"}).status, 0);
  expectNothingLeft();
}

TEST_P(TerminalTest, OutputNobodyReadsNeverBlocksTheContainer) {
  // Far more than a pipe holds (64 KiB): dropped while nobody is attached.
  ASSERT_EQ(
      ctr({"run", "-d", image, "chatty", "sh", "-c", "seq 1 100000; echo done >&2; exit 9"}).status,
      0);
  auto waited = ctr({"tasks", "wait", "chatty"});
  EXPECT_EQ(waited.out, "9\n") << waited.err;
  // A task whose stdio is its caller's own has nothing to attach to.
  ASSERT_EQ(ctr({"run", "-d", "--log-uri", "/dev/null", image, "logged", "sleep", "300"}).status,
            0);
  auto refused = ctr({"tasks", "attach", "logged"});
  EXPECT_EQ(refused.status, 1);
  EXPECT_TRUE(contains(refused.err, "nothing to attach to")) << refused.err;
  auto resize = ctr({"tasks", "kill", "-s", "SIGKILL", "logged"});
  EXPECT_EQ(resize.status, 0);
  for (auto* id : {"chatty", "logged"}) {
    ctr({"tasks", "wait", id});
    ctr({"tasks", "rm", id});
    EXPECT_EQ(ctr({"containers", "rm", id}).status, 0);
  }
  expectNothingLeft();
}

TEST_P(TerminalTest, TasksStartOfAContainerWithATerminal) {
  ASSERT_EQ(ctr({"containers", "create", "-t", image, "made", "sh", "-c", "tty; exit 7"}).status,
            0);
  auto r = ctrInTerminal({"tasks", "start", "made"}, "");
  EXPECT_EQ(r.status, 7) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "/dev/pts/0")) << r.out;
  EXPECT_EQ(ctr({"tasks", "rm", "made"}).status, 0);
  EXPECT_EQ(ctr({"containers", "rm", "made"}).status, 0);
  expectNothingLeft();
}

TEST_P(TerminalTest, ATerminalTheSpecDoesNotAskForIsRefusedBeforeAnythingIsMade) {
  ASSERT_EQ(ctr({"containers", "create", image, "plain", "true"}).status, 0);
  ASSERT_EQ(ctr({"containers", "create", "-t", image, "ttyspec", "true"}).status, 0);
  {
    Client client(daemon.socket().c_str(), ns.c_str());
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                  client.loadContainer("plain").newTask(Stdio{-1, -1, -1, true});
                })) {
      EXPECT_TRUE(contains(e->getDescription().cStr(),
                           "the task was created with a terminal, but the container's spec has "
                           "none (process.terminal)"))
          << e->getDescription().cStr();
    } else {
      ADD_FAILURE() << "a task with a terminal was made for a spec without one";
    }
    KJ_IF_MAYBE(e, kj::runCatchingExceptions(
                       [&]() { client.loadContainer("ttyspec").newTask(Stdio::none()); })) {
      EXPECT_TRUE(contains(e->getDescription().cStr(),
                           "the container's spec asks for a terminal, but the task was created "
                           "without one"))
          << e->getDescription().cStr();
    } else {
      ADD_FAILURE() << "a task without a terminal was made for a spec with one";
    }
  }
  EXPECT_EQ(entries(daemon.state() + "/tasks/" + ns), 0u);  // no bundle, so no shim was started
  for (auto* id : {"plain", "ttyspec"}) EXPECT_EQ(ctr({"containers", "rm", id}).status, 0);
  expectNothingLeft();
}

TEST_P(TerminalTest, UpdateChangesARunningTasksLimits) {
  ASSERT_EQ(
      ctr({"run", "-d", "--memory-limit", "67108864", image, "limited", "sleep", "300"}).status, 0);
  auto limit = [&](const std::string& id) {
    auto text = readFile("/sys/fs/cgroup/memory/" + ns + "/" + id + "/memory.limit_in_bytes");
    return text.substr(0, text.find('\n'));
  };
  EXPECT_EQ(limit("limited"), "67108864");
  {
    Client client(daemon.socket().c_str(), ns.c_str());
    auto task = client.loadContainer("limited").task();
    task.update(R"({"memory":{"limit":134217728}})");
    EXPECT_EQ(limit("limited"), "134217728");
    EXPECT_ANY_THROW(task.update("not json"));
    EXPECT_ANY_THROW(task.resize(80, 24));  // no terminal
    task.kill(SIGKILL);
    EXPECT_EQ(task.wait(), 137);
    EXPECT_EQ(task.remove(), 137);
  }
  EXPECT_EQ(ctr({"containers", "rm", "limited"}).status, 0);
  expectNothingLeft();
}

INSTANTIATE_TEST_SUITE_P(Runtimes, TerminalTest, ::testing::Values("runc", "crun"), runtimeName);

}  // namespace
}  // namespace ctrd::test
