// Running containers through the real daemon, containerd-tasks, containerd-shim and runc (and
// each case again with crun):
// output and exit codes, stdin, kill and wait, pause and resume, the default seccomp profile,
// joining a namespace, and nothing left behind by --rm, a failed start or a task removed.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "run-fixture.h"

namespace ctrd::test {
namespace {

TEST_P(RunTest, OutputGoesStraightToTheCallerAndTheExitCodeIsTheContainers) {
  auto r = ctr({"run", "--rm", image, "echo", "sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  auto env = ctr({"run", "--rm", "--env", "GREETING=hi", "--cwd", "/etc", image, "env", "sh", "-c",
                  "echo $GREETING $(pwd) $(id -u)"});
  EXPECT_EQ(env.status, 0) << env.err;
  EXPECT_EQ(env.out, "hi /etc 0\n");
  // The image's own command (busybox's is sh) reads its stdin.
  auto piped = ctr({"run", "--rm", image, "stdin"}, "echo from stdin\nexit 7\n");
  EXPECT_EQ(piped.status, 7) << piped.err;
  EXPECT_EQ(piped.out, "from stdin\n");
  for (auto* id : {"echo", "env", "stdin"}) EXPECT_FALSE(cgroupLeft(id)) << id;
  expectNothingLeft();
}

TEST_P(RunTest, AMissingCommandIsRuncsErrorAndLeavesNothing) {
  auto r = ctr({"run", "--rm", image, "bad", "/no/such/command"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("/no/such/command"), std::string::npos) << r.err;
  // runc's "no such file or directory", crun's "No such file or directory".
  EXPECT_NE(r.err.find("o such file or directory"), std::string::npos) << r.err;
  expectNothingLeft();
  auto tty = ctr({"run", "--rm", "-t", "--log-uri", "/dev/null", image, "bad3", "true"});
  EXPECT_EQ(tty.status, 1);
  EXPECT_EQ(tty.err, "ctr: --log-uri with a terminal (-t): not implemented\n");
  expectNothingLeft();
  auto runtime = ctr({"run", "--rm", "--runc-binary", "no-such-runtime", image, "bad2", "true"});
  EXPECT_EQ(runtime.status, 1);
  EXPECT_NE(runtime.err.find("no-such-runtime"), std::string::npos) << runtime.err;
  expectNothingLeft();
}

TEST_P(RunTest, ADetachedTaskIsKilledWaitedForAndRemoved) {
  ASSERT_EQ(ctr({"run", "-d", image, "sleeper", "sleep", "300"}).status, 0);
  auto ls = ctr({"tasks", "ls"});
  EXPECT_NE(ls.out.find("RUNNING"), std::string::npos) << ls.out;
  EXPECT_EQ(ctr({"tasks", "pause", "sleeper"}).status, 0);
  EXPECT_NE(ctr({"tasks", "ls"}).out.find("PAUSED"), std::string::npos);
  EXPECT_EQ(ctr({"tasks", "resume", "sleeper"}).status, 0);
  EXPECT_NE(ctr({"tasks", "ls"}).out.find("RUNNING"), std::string::npos);
  EXPECT_NE(ctr({"tasks", "ps", "sleeper"}).out.find("PID"), std::string::npos);
  // Neither the container nor a running task may be removed yet.
  auto rmContainer = ctr({"containers", "rm", "sleeper"});
  EXPECT_EQ(rmContainer.status, 1);
  EXPECT_NE(rmContainer.err.find("it has a task"), std::string::npos) << rmContainer.err;
  auto rmTask = ctr({"tasks", "rm", "sleeper"});
  EXPECT_EQ(rmTask.status, 1);
  EXPECT_NE(rmTask.err.find("must be stopped"), std::string::npos) << rmTask.err;

  EXPECT_EQ(ctr({"tasks", "kill", "--signal", "SIGKILL", "sleeper"}).status, 0);
  auto wait = ctr({"tasks", "wait", "sleeper"});
  EXPECT_EQ(wait.out, "137\n");
  EXPECT_NE(ctr({"tasks", "ls"}).out.find("STOPPED"), std::string::npos);
  // Unlike containerd 1.6, removing the task says how it ended.
  auto rm = ctr({"tasks", "rm", "sleeper"});
  EXPECT_EQ(rm.status, 0) << rm.err;
  EXPECT_NE(rm.err.find("exited with status 137"), std::string::npos) << rm.err;
  EXPECT_EQ(ctr({"containers", "rm", "sleeper"}).status, 0);
  EXPECT_FALSE(cgroupLeft("sleeper"));
  expectNothingLeft();
}

TEST_P(RunTest, TheDefaultSeccompProfileRefusesWhatPrivilegedAllows) {
  // Every container also inherits containerd-tasks' own deny-list of host-wide calls (see
  // lib/sandbox/profile.cc): the default profile is one filter more.
  const std::string script =
      "grep '^Seccomp_filters:' /proc/self/status; unshare -U true && echo unshared";
  auto confined = ctr({"run", "--rm", image, "confined", "sh", "-c", script});
  auto privileged = ctr({"run", "--rm", "--privileged", image, "free", "sh", "-c", script});
  EXPECT_NE(confined.out.find("Seccomp_filters:\t2"), std::string::npos) << confined.out;
  EXPECT_NE(privileged.out.find("Seccomp_filters:\t1"), std::string::npos) << privileged.out;
  // A user namespace needs no capability; only the profile refuses it.
  EXPECT_EQ(confined.out.find("unshared"), std::string::npos) << confined.out;
  EXPECT_NE(privileged.out.find("unshared"), std::string::npos) << privileged.out << privileged.err;
  expectNothingLeft();
}

TEST_P(RunTest, WithNsJoinsANetworkNamespaceTheCallerMade) {
  // A network namespace held by a process of the test's, with a loopback only, marked by its
  // inode: the container's must be the same one.
  TempDir logs;
  Child holder({"/usr/bin/unshare", "--net", "/bin/sleep", "300"}, logs.path() + "/holder.log");
  std::string path = "/proc/" + std::to_string(holder.pid()) + "/ns/net";
  ASSERT_TRUE(waitFor([&]() {
    char a[64] = "", b[64] = "";
    readlink(path.c_str(), a, sizeof(a) - 1);
    readlink("/proc/self/ns/net", b, sizeof(b) - 1);
    return a[0] != '\0' && std::string(a) != b;
  }));
  char want[64] = "";
  ASSERT_GT(readlink(path.c_str(), want, sizeof(want) - 1), 0);
  auto r = ctr({"run", "--rm", "--with-ns", "network:" + path, image, "joined", "readlink",
                "/proc/self/ns/net"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, std::string(want) + "\n");
  holder.stop(SIGKILL);
  expectNothingLeft();
}

TEST_P(RunTest, TasksOutliveKilledServicesAndTheDaemonAndReportTheirExit) {
  ASSERT_EQ(ctr({"run", "-d", image, "survivor", "sh", "-c",
                 "while read x; do echo got $x; done; exit 3"})
                .status,
            0);
  ASSERT_EQ(ctr({"run", "-d", image, "quitter", "sh", "-c", "sleep 1; exit 42"}).status, 0);

  // containerd-tasks dies: the shims do not; the restarted service finds them again.
  pid_t tasks = daemon.servicePid("containerd-tasks");
  ASSERT_GT(tasks, 0);
  ASSERT_EQ(kill(tasks, SIGKILL), 0);
  ASSERT_TRUE(waitFor([&]() {
    pid_t now = daemon.servicePid("containerd-tasks");
    return now != 0 && now != tasks;
  })) << daemon.log();
  auto ls = ctr({"tasks", "ls"});
  EXPECT_NE(ls.out.find("survivor"), std::string::npos) << ls.out << ls.err;

  // The whole daemon dies, and the quitter exits while it is down.
  ASSERT_EQ(daemon.stop(SIGKILL), 128 + SIGKILL);
  sleep(2);
  ASSERT_TRUE(daemon.start()) << daemon.log();
  auto after = ctr({"tasks", "ls"});
  EXPECT_NE(after.out.find("survivor"), std::string::npos) << after.out << after.err;
  EXPECT_NE(after.out.find("RUNNING"), std::string::npos) << after.out;
  EXPECT_NE(after.out.find("STOPPED"), std::string::npos) << after.out;
  EXPECT_EQ(ctr({"tasks", "wait", "quitter"}).out, "42\n");

  // Its stdio is reattached after the restarts: its input ends with ours.
  auto attached = ctr({"tasks", "attach", "survivor"}, "after restart\n");
  EXPECT_EQ(attached.status, 3) << attached.err;
  EXPECT_EQ(attached.out, "got after restart\n");
  EXPECT_EQ(ctr({"tasks", "wait", "survivor"}).out, "3\n");
  for (auto* id : {"survivor", "quitter"}) {
    EXPECT_EQ(ctr({"tasks", "rm", id}).status, 0) << id;
    EXPECT_EQ(ctr({"containers", "rm", id}).status, 0) << id;
  }
  expectNothingLeft();
}

TEST_P(RunTest, ATaskWhoseShimDiedIsListedAsUnknownAndRemovedWhole) {
  ASSERT_EQ(ctr({"run", "-d", image, "orphan", "sleep", "300"}).status, 0);
  ASSERT_EQ(ctr({"tasks", "ls", "-q"}).out, "orphan\n");  // the tasks service dialed the shim
  ASSERT_EQ(
      run({"/usr/bin/pkill", "-KILL", "-f", "containerd-shim --namespace " + ns + " --id orphan "})
          .status,
      0);
  EXPECT_TRUE(waitFor([&]() { return shimsOf(daemon.state()) == 0; }));
  // Its container runs on, unsupervised, until the task is removed.
  auto ls = ctr({"tasks", "ls"});
  EXPECT_NE(ls.out.find("UNKNOWN"), std::string::npos) << ls.out << ls.err << daemon.log();
  auto rm = ctr({"tasks", "rm", "orphan"});
  EXPECT_EQ(rm.status, 0) << rm.err;
  EXPECT_EQ(rm.err, "ctr: task orphan exited with status 137\n");
  EXPECT_FALSE(cgroupLeft("orphan"));
  EXPECT_EQ(ctr({"containers", "rm", "orphan"}).status, 0);
  expectNothingLeft();
  EXPECT_EQ(daemon.log().find("terminate called"), std::string::npos) << daemon.log();
}

TEST_P(RunTest, SignalsToCtrRunReachTheContainer) {
  TempDir logs;
  auto log = logs.path() + "/ctr.log";
  Child ctrRun(ctrArgv({"run", "--rm", image, "trapper", "sh", "-c",
                        "trap 'echo got TERM; exit 5' TERM; echo ready; while true; do sleep "
                        "0.1; done"}),
               log);
  ASSERT_TRUE(waitFor([&]() { return readFile(log).find("ready") != std::string::npos; }))
      << readFile(log);
  EXPECT_EQ(ctrRun.stop(SIGTERM), 5) << readFile(log);
  EXPECT_NE(readFile(log).find("got TERM"), std::string::npos) << readFile(log);
  expectNothingLeft();
}

TEST_P(RunTest, TheClientLibraryExampleRunsTheWholeFlow) {
  if (GetParam() != "runc") GTEST_SKIP() << "the example runs runc, the library's default";
  // examples/run-container.cc: pull, container from the image, task with our stdio, start,
  // SIGTERM, wait, remove; it exits with the container's status.
  auto r = run({std::string(CTRD_BIN_DIR) + "/../examples/run-container", "--kill-after", "1",
                daemon.socket(), image, "example-1", "sh", "-c",
                "trap 'echo stopping; exit 3' TERM; echo running; while :; do sleep 0.1; done"});
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_EQ(r.out, "running\nstopping\n") << r.err;
  EXPECT_NE(r.err.find("exited with status 3"), std::string::npos) << r.err;
  // It cleaned up after itself, in its own namespace.
  EXPECT_EQ(ctr({"-n", "example", "containers", "ls", "-q"}).out, "");
  EXPECT_EQ(ctr({"-n", "example", "tasks", "ls", "-q"}).out, "");
  EXPECT_EQ(entries(daemon.state() + "/tasks/example"), 0u);
  EXPECT_EQ(mountsUnder(daemon.state()), "");
}

TEST_P(RunTest, FiftyContainersAtOnce) {
  constexpr int N = 50;
  std::vector<std::thread> threads;
  std::vector<int> status(N, -1);
  for (int i = 0; i < N; i++) {
    threads.emplace_back([&, i]() {
      status[i] = ctr({"run", "-d", image, "many-" + std::to_string(i), "sleep", "300"}).status;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < N; i++) EXPECT_EQ(status[i], 0) << i;
  auto ls = ctr({"tasks", "ls"}).out;
  size_t running = 0;
  for (size_t at = ls.find("RUNNING"); at != std::string::npos; at = ls.find("RUNNING", at + 1)) {
    running++;
  }
  EXPECT_EQ(running, size_t(N)) << ls;
  EXPECT_EQ(shimsOf(daemon.state()), size_t(N));
  for (int i = 0; i < N; i++) {
    auto id = "many-" + std::to_string(i);
    EXPECT_EQ(ctr({"tasks", "rm", "-f", id}).status, 0) << id;
    EXPECT_EQ(ctr({"containers", "rm", id}).status, 0) << id;
  }
  expectNothingLeft();
}

TEST_P(RunTest, ExecRunsAnotherProcessInTheContainer) {
  ASSERT_EQ(ctr({"run", "-d", image, "host", "sh", "-c", "echo marker > /tmp/m; sleep 300"}).status,
            0);
  ASSERT_TRUE(waitFor([&]() {
    return ctr({"tasks", "exec", "--exec-id", "probe", "host", "test", "-f", "/tmp/m"}).status == 0;
  }));
  // Same filesystem, its own stdio and exit status.
  auto r = ctr({"tasks", "exec", "--exec-id", "e1", "--cwd", "/tmp", "host", "sh", "-c",
                "cat m; pwd; echo err >&2; exit 6"});
  EXPECT_EQ(r.status, 6) << r.err;
  EXPECT_EQ(r.out, "marker\n/tmp\n");
  EXPECT_EQ(r.err, "err\n");
  auto piped = ctr({"tasks", "exec", "--exec-id", "e2", "host", "cat"}, "through stdin\n");
  EXPECT_EQ(piped.status, 0) << piped.err;
  EXPECT_EQ(piped.out, "through stdin\n");
  // A detached exec is killed and waited for like a task.
  ASSERT_EQ(ctr({"tasks", "exec", "-d", "--exec-id", "bg", "host", "sleep", "300"}).status, 0);
  auto ps = ctr({"tasks", "ps", "host"}).out;
  EXPECT_GE(std::count(ps.begin(), ps.end(), '\n'), 3) << ps;  // header, init, sleep
  EXPECT_EQ(ctr({"tasks", "kill", "--exec-id", "bg", "-s", "KILL", "host"}).status, 0);
  EXPECT_EQ(ctr({"tasks", "rm", "-f", "host"}).status, 0);
  auto dead = ctr({"tasks", "exec", "--exec-id", "late", "host", "true"});
  EXPECT_EQ(dead.status, 1);
  EXPECT_EQ(ctr({"containers", "rm", "host"}).status, 0);
  expectNothingLeft();
}

TEST_P(RunTest, UsersAreResolvedInTheImagesOwnFiles) {
  auto root = ctr({"run", "--rm", "--user", "root", image, "u1", "id"});
  EXPECT_EQ(root.status, 0) << root.err;
  EXPECT_EQ(root.out.rfind("uid=0(root) gid=0(root)", 0), 0u) << root.out;
  auto numeric =
      ctr({"run", "--rm", "--user", "1234:5678", image, "u2", "sh", "-c", "id -u; id -g"});
  EXPECT_EQ(numeric.out, "1234\n5678\n") << numeric.err;
  // The host has users the image does not: they are not found.
  auto missing = ctr({"run", "--rm", "--user", "daemon", image, "u3", "id"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("no user \"daemon\" in the image's /etc/passwd"), std::string::npos)
      << missing.err;
  expectNothingLeft();
}

TEST_P(RunTest, ADetachedTaskWritesToItsLogUri) {
  TempDir dir;
  auto log = dir.path() + "/task.log";
  auto started = ctr({"run", "-d", "--log-uri", "file://" + log, image, "logged", "sh", "-c",
                      "echo to stdout; echo to stderr >&2"});
  ASSERT_EQ(started.status, 0) << started.err;
  EXPECT_EQ(ctr({"tasks", "wait", "logged"}).out, "0\n");
  EXPECT_EQ(readFile(log), "to stdout\nto stderr\n");
  EXPECT_EQ(ctr({"tasks", "rm", "logged"}).status, 0);
  EXPECT_EQ(ctr({"containers", "rm", "logged"}).status, 0);
  auto bad = ctr({"run", "--rm", "--log-uri", "binary:///usr/bin/logger", image, "badlog", "true"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("only file:// is supported"), std::string::npos) << bad.err;
  expectNothingLeft();
}

TEST_P(RunTest, MetricsComeFromTheContainersCgroup) {
  ASSERT_EQ(
      ctr({"run", "-d", "--memory-limit", "67108864", image, "measured", "sleep", "300"}).status,
      0);
  auto table = ctr({"tasks", "metrics", "measured"});
  if (GetParam() == "crun") {
    // crun has no `events --stats`: its own complaint, whole, rather than an exit status.
    EXPECT_EQ(table.status, 1);
    EXPECT_NE(table.err.find("unknown command events"), std::string::npos) << table.err;
    EXPECT_EQ(ctr({"tasks", "rm", "-f", "measured"}).status, 0);
    EXPECT_EQ(ctr({"containers", "rm", "measured"}).status, 0);
    expectNothingLeft();
    return;
  }
  EXPECT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find("memory.limit_in_bytes    67108864"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("pids.current"), std::string::npos) << table.out;
  auto json = nlohmann::json::parse(ctr({"tasks", "metrics", "--format", "json", "measured"}).out,
                                    nullptr, false);
  EXPECT_EQ(json["memory"]["usage"]["limit"], 67108864) << json.dump();
  EXPECT_GE(json["pids"]["current"].get<int>(), 1) << json.dump();
  EXPECT_EQ(ctr({"tasks", "rm", "-f", "measured"}).status, 0);
  EXPECT_EQ(ctr({"containers", "rm", "measured"}).status, 0);
  expectNothingLeft();
}

TEST_P(RunTest, ADaemonOfTheTestsTakesItsContainersWithItWhenItGoes) {
  // The harness's own cleanup: a test that fails midway leaves running containers, whose shims
  // outlive the daemon by design; its Daemon removes them, so nothing leaks into the next test.
  std::string state;
  {
    Daemon other;
    ASSERT_TRUE(other.start()) << other.log();
    state = other.state();
    ASSERT_EQ(other.ctr({"-n", ns, "images", "pull", "--plain-http", image}).status, 0);
    ASSERT_EQ(other.ctr(withRuntime({"run", "-d", image, "leaked", "sleep", "300"})).status, 0);
    ASSERT_EQ(shimsOf(state), 1u);
  }
  EXPECT_EQ(shimsOf(state), 0u);
  EXPECT_EQ(mountsUnder(state), "");
  EXPECT_FALSE(cgroupLeft("leaked"));
}

INSTANTIATE_TEST_SUITE_P(Runtimes, RunTest, ::testing::Values("runc", "crun"), runtimeName);

}  // namespace
}  // namespace ctrd::test
