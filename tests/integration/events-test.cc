// Daemon-wide events with the real daemon, runc and ctr: what each change publishes and in what
// order, containerd's filters, a namespace's own view, and a subscriber that stops reading.
#include <client/client.h>
#include <client/containerd.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "harness.h"

namespace ctrd::test {
namespace {

std::vector<std::string> topicsOf(const std::string& log) {
  // The third field of each line: "DATE TIME +0000 UTC NAMESPACE TOPIC JSON".
  std::vector<std::string> out;
  size_t at = 0;
  while (at < log.size()) {
    auto end = log.find('\n', at);
    if (end == std::string::npos) break;
    auto line = log.substr(at, end - at);
    at = end + 1;
    size_t pos = 0;
    for (int i = 0; i < 5 && pos != std::string::npos; i++) pos = line.find(' ', pos + 1);
    if (pos == std::string::npos) continue;
    auto next = line.find(' ', pos + 1);
    out.push_back(line.substr(pos + 1, next - pos - 1));
  }
  return out;
}

size_t indexOf(const std::vector<std::string>& v, const std::string& s) {
  for (size_t i = 0; i < v.size(); i++) {
    if (v[i] == s) return i;
  }
  return v.size();
}

class EventsTest : public testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the daemon runs as root";
    ASSERT_TRUE(daemon.start()) << daemon.log();
    // A root filesystem with a busybox in it.
    run({"/bin/mkdir", "-p", rootfs.path() + "/bin"});
    run({"/bin/cp", "/bin/busybox", rootfs.path() + "/bin/busybox"});
    for (auto applet : {"true", "sh", "sleep"}) {
      run({"/bin/ln", "-s", "busybox", rootfs.path() + "/bin/" + applet});
    }
  }

  void TearDown() override { removeNamespaceCgroups("events-a"); }

  std::unique_ptr<Child> ctrEvents(const std::vector<std::string>& filters,
                                   const std::string& log) {
    // Besides its own filters, each selects "/probe": it is subscribed once a probe we
    // publish shows in its output.
    std::vector<std::string> argv = {binPath("ctr"), "--address", daemon.socket(), "events"};
    argv.insert(argv.end(), filters.begin(), filters.end());
    if (!filters.empty()) argv.push_back("topic==\"/probe\"");
    auto child = std::make_unique<Child>(argv, log);
    DaemonClient client(daemon.socket().c_str());
    auto events = client.ns("probe").eventsRequest().send().getEvents();
    EXPECT_TRUE(waitFor([&]() {
      auto probe = events.publishRequest();
      probe.setTopic("/probe");
      probe.setEvent(kj::StringPtr("{}").asBytes());
      probe.send().wait(client.waitScope());
      return readFile(log).find("/probe") != std::string::npos;
    }));
    return child;
  }

  Daemon daemon;
  TempDir rootfs;
  TempDir logs;
};

TEST_F(EventsTest, EachChangeIsPublishedInOrderAndFiltersSelect) {
  auto all = logs.path() + "/all";
  auto tasks = logs.path() + "/tasks";
  auto everything = ctrEvents({}, all);
  auto onlyTasks = ctrEvents({"topic~=\"/tasks/\",namespace==events-a"}, tasks);
  DaemonClient client(daemon.socket().c_str());
  Client b(client, "events-b");
  auto bEvents = b.subscribe();

  auto r = daemon.ctr({"-n", "events-a", "snapshots", "prepare", "s1"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(daemon.ctr({"-n", "events-a", "snapshots", "commit", "c1", "s1"}).status, 0);
  ASSERT_EQ(daemon.ctr({"-n", "events-a", "snapshots", "rm", "c1"}).status, 0);
  r = daemon.ctr({"-n", "events-b", "content", "ingest", "r"}, "b's blob");
  ASSERT_EQ(r.status, 0) << r.err << daemon.log();
  r = daemon.ctr({"-n", "events-a", "run", "--rm", "--rootfs", rootfs.path(), "t1", "true"});
  ASSERT_EQ(r.status, 0) << r.err;

  ASSERT_TRUE(waitFor([&]() {
    return readFile(all).find("/containers/delete") != std::string::npos;
  })) << readFile(all);
  auto topics = topicsOf(readFile(all));
  std::vector<std::string> expected = {
      "/snapshot/prepare",  "/snapshot/commit",  "/snapshot/remove", "/content/create",
      "/containers/create", "/tasks/create",     "/tasks/start",     "/tasks/exit",
      "/tasks/delete",      "/containers/delete"};
  size_t last = 0;
  for (auto& t : expected) {
    auto at = indexOf(topics, t);
    ASSERT_LT(at, topics.size()) << t << " missing from\n" << readFile(all);
    EXPECT_GE(at, last) << t << " out of order in\n" << readFile(all);
    last = at;
  }
  auto text = readFile(all);
  EXPECT_NE(text.find(" events-a /tasks/exit {\"container_id\":\"t1\",\"id\":\"t1\",\"pid\":"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\"exit_status\":0,\"exited_at\":\""), std::string::npos) << text;
  EXPECT_NE(text.find(" events-a /snapshot/commit {\"key\":\"s1\",\"name\":\"c1\",\"snapshotter\":"
                      "\"overlayfs\"}"),
            std::string::npos)
      << text;

  ASSERT_TRUE(
      waitFor([&]() { return readFile(tasks).find("/tasks/delete") != std::string::npos; }));
  size_t taskTopics = 0;
  for (auto& t : topicsOf(readFile(tasks))) {
    if (t == "/probe") continue;
    EXPECT_EQ(t.rfind("/tasks/", 0), 0u) << t;
    taskTopics++;
  }
  EXPECT_EQ(taskTopics, 4u) << readFile(tasks);

  // b's stream: b's events alone, sequence numbers increasing.
  std::vector<std::string> bTopics;
  uint64_t sequence = 0;
  for (;;) {
    auto e = bEvents->next(500 * kj::MILLISECONDS);
    if (e == nullptr) break;
    auto& event = KJ_ASSERT_NONNULL(e);
    EXPECT_EQ(event.ns, "events-b");
    EXPECT_GT(event.sequence, sequence);
    sequence = event.sequence;
    bTopics.push_back(event.topic.cStr());
  }
  // (then /content/delete, when garbage collection takes the unreferenced blob)
  ASSERT_GE(bTopics.size(), 2u);
  EXPECT_EQ(bTopics[0], "/namespaces/create");
  EXPECT_EQ(bTopics[1], "/content/create");

  // A client publishes topics of its own, never the daemon's.
  auto events = client.ns("events-b").eventsRequest().send().getEvents();
  auto mine = events.publishRequest();
  mine.setTopic("/myapp/deployed");
  mine.setEvent(kj::StringPtr("{\"version\":3}").asBytes());
  mine.send().wait(client.waitScope());
  auto forged = events.publishRequest();
  forged.setTopic("/tasks/exit");
  EXPECT_NE(kj::runCatchingExceptions([&]() { forged.send().wait(client.waitScope()); }), nullptr);
  auto own = bEvents->next(5 * kj::SECONDS);
  ASSERT_NE(own, nullptr);
  EXPECT_EQ(KJ_ASSERT_NONNULL(own).topic, "/myapp/deployed");
  EXPECT_EQ(KJ_ASSERT_NONNULL(own).json, "{\"version\":3}");
}

TEST_F(EventsTest, ASubscriberThatNeverReadsStallsNothingAndIsToldWhatItMissed) {
  auto log = logs.path() + "/stopped";
  auto stopped = ctrEvents({}, log);
  kill(stopped->pid(), SIGSTOP);
  // Far more than its queue and the socket's buffers hold.
  DaemonClient client(daemon.socket().c_str());
  auto events = client.ns("noisy").eventsRequest().send().getEvents();
  std::string payload = "{\"pad\":\"" + std::string(1000, 'x') + "\"}";
  for (int i = 0; i < 6000; i++) {
    auto req = events.publishRequest();
    req.setTopic("/load/test");
    req.setEvent(kj::StringPtr(payload.c_str()).asBytes());
    req.send().wait(client.waitScope());
  }
  // Containers still run, at once.
  for (int i = 0; i < 3; i++) {
    auto r = daemon.ctr({"-n", "events-a", "run", "--rm", "--rootfs", rootfs.path(),
                         "r" + std::to_string(i), "true"});
    EXPECT_EQ(r.status, 0) << r.err;
  }
  kill(stopped->pid(), SIGCONT);
  // It catches up, and the gap is said, with its size (the runs' events fell in it too).
  EXPECT_TRUE(waitFor([&]() { return readFile(log).find("/events/lost") != std::string::npos; }))
      << readFile(log).size();
  auto text = readFile(log);
  auto gap = text.find("/events/lost {\"count\":");
  ASSERT_NE(gap, std::string::npos);
  EXPECT_GT(std::stoul(text.substr(gap + strlen("/events/lost {\"count\":"))), 1000u);
  // And it is a subscriber like any other again.
  auto r =
      daemon.ctr({"-n", "events-a", "run", "--rm", "--rootfs", rootfs.path(), "after", "true"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(waitFor([&]() { return readFile(log).find("/tasks/delete") != std::string::npos; }));
}

}  // namespace
}  // namespace ctrd::test
