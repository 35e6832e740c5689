// Leases and garbage collection with the real daemon, registry, snapshotter and runc: what a
// collection frees and what it must never take, a lease's life, and a daemon killed in the
// middle of a sweep.
#include <client/client.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "registry.h"

namespace ctrd::test {
namespace {

std::set<std::string> lines(const std::string& text) {
  std::set<std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    if (end > at) out.insert(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

class GcTest : public testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the daemon runs as root";
    if (!Registry::available()) GTEST_SKIP() << "docker-registry is not installed";
    ASSERT_TRUE(registry.up());
    ASSERT_TRUE(daemon.start()) << daemon.log();
  }

  void TearDown() override {
    for (auto ns : {"gc-b", "gc-even", "gc-odd"}) removeNamespaceCgroups(ns);
  }

  Result ctr(const std::vector<std::string>& args) { return daemon.ctr(args); }
  Result ctrIn(const std::string& ns, std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", ns});
    return daemon.ctr(args);
  }

  std::string layerDir(const std::string& name, const std::string& file) {
    auto dir = work.path() + "/" + name;
    run({"/bin/mkdir", "-p", dir});
    writeFile(dir + "/" + name, file);
    return dir;
  }

  std::string baseLayer() {
    // "/base" and a busybox to read it with.
    auto dir = layerDir("base", "shared");
    run({"/bin/mkdir", "-p", dir + "/bin"});
    run({"/bin/cp", "/bin/busybox", dir + "/bin/busybox"});
    run({"/bin/ln", "-s", "busybox", dir + "/bin/cat"});
    run({"/bin/ln", "-s", "busybox", dir + "/bin/true"});
    return dir;
  }

  std::string ref(const std::string& name) { return registry.address() + "/" + name; }

  void pull(const std::string& ns, const std::string& name) {
    auto r = ctrIn(ns, {"images", "pull", "--plain-http", ref(name)});
    ASSERT_EQ(r.status, 0) << r.err;
  }

  std::set<std::string> blobs(const std::string& ns) {
    return lines(ctrIn(ns, {"content", "ls", "-q"}).out);
  }
  std::set<std::string> snapshots(const std::string& ns) {
    std::set<std::string> keys;
    for (auto& l : lines(ctrIn(ns, {"snapshots", "ls"}).out)) {
      auto key = l.substr(0, l.find(' '));
      if (key != "KEY") keys.insert(key);
    }
    return keys;
  }
  std::set<std::string> bytesOnDisk() {
    // What containerd-content stores, whoever holds it.
    std::set<std::string> out;
    auto dir = daemon.root() + "/content/blobs/sha256";
    if (DIR* d = opendir(dir.c_str())) {
      while (auto* e = readdir(d)) {
        if (e->d_name[0] != '.') out.insert(std::string("sha256:") + e->d_name);
      }
      closedir(d);
    }
    return out;
  }

  std::string writeBlob(DaemonClient& client, schema::Namespace::Client ns,
                        const std::string& data) {
    auto open = ns.contentRequest().send().getStore().writerRequest();
    open.setRef(("w-" + std::to_string(counter++)).c_str());
    auto writer = open.send().getWriter();
    auto write = writer.writeRequest();
    write.setData(kj::arrayPtr(reinterpret_cast<const kj::byte*>(data.data()), data.size()));
    write.send().wait(client.waitScope());
    auto commit = writer.commitRequest();
    commit.setSize(data.size());
    return commit.send().wait(client.waitScope()).getDigest().cStr();
  }

  Registry registry;
  Daemon daemon;
  TempDir work;
  int counter = 0;
};

TEST_F(GcTest, ImagesRmFreesExactlyWhatNoOneElseReferences) {
  auto base = baseLayer();
  registry.push({"image", "base:1", "--layer", base});
  registry.push({"image", "app:1", "--layer", base, "--layer", layerDir("app", "mine")});
  pull("a", "base:1");
  auto baseBlobs = blobs("a");
  auto baseSnapshots = snapshots("a");
  pull("a", "app:1");
  pull("gc-b", "base:1");
  auto appBlobs = blobs("a");
  ASSERT_EQ(appBlobs.size(), baseBlobs.size() + 3);  // app's manifest, config, its own layer
  ASSERT_EQ(snapshots("a").size(), 2u);

  auto r = ctrIn("a", {"images", "rm", "--sync", ref("app:1")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(blobs("a"), baseBlobs);  // the shared base layer survives
  EXPECT_EQ(snapshots("a"), baseSnapshots);

  r = ctrIn("a", {"images", "rm", "--sync", ref("base:1")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(blobs("a").empty());
  EXPECT_TRUE(snapshots("a").empty());
  // b still holds base: its blobs keep their bytes, its image is whole.
  EXPECT_EQ(blobs("gc-b"), baseBlobs);
  EXPECT_EQ(bytesOnDisk(), baseBlobs);
  auto check = ctrIn("gc-b", {"images", "check"});
  EXPECT_NE(check.out.find("complete (3/3)"), std::string::npos) << check.out;
  EXPECT_EQ(ctrIn("gc-b", {"run", "--rm", ref("base:1"), "gc-b", "cat", "/base"}).out, "shared");

  r = ctrIn("gc-b", {"images", "rm", "--sync", ref("base:1")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(bytesOnDisk().empty());
  EXPECT_EQ(ctr({"namespaces", "rm", "a", "gc-b"}).status, 0);
}

TEST_F(GcTest, ImagesRmWithoutSyncReturnsAtOnceAndCollectsSoonAfter) {
  registry.push({"image", "solo:1", "--layer", layerDir("solo", "s")});
  pull("a", "solo:1");
  ASSERT_EQ(ctrIn("a", {"images", "rm", ref("solo:1")}).status, 0);
  EXPECT_TRUE(waitFor([&]() { return blobs("a").empty() && snapshots("a").empty(); }))
      << daemon.log();
  EXPECT_NE(daemon.log().find("garbage collection: removed 3 blob records"), std::string::npos)
      << daemon.log();
}

TEST_F(GcTest, ALeaseKeepsWhatWasMadeUnderItUntilItExpires) {
  DaemonClient client(daemon.socket().c_str());
  auto r = ctrIn("a", {"leases", "create", "--id", "short", "--expires", "3s", "purpose=test"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "short\n");
  ASSERT_EQ(ctrIn("a", {"leases", "create", "--id", "long"}).status, 0);
  auto ns = client.ns("a");
  auto leased = [&](const char* id) {
    auto req = ns.withLeaseRequest();
    req.setId(id);
    return req.send().getNs();
  };
  auto kept = writeBlob(client, leased("short"), "under the short lease");
  auto longer = writeBlob(client, leased("long"), "under the long lease");
  auto loose = writeBlob(client, ns, "under no lease");
  auto ls = ctrIn("a", {"leases", "ls"});
  EXPECT_NE(ls.out.find("purpose=test"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("containerd.io/gc.expire="), std::string::npos) << ls.out;

  ASSERT_EQ(ctr({"gc"}).status, 0);
  EXPECT_EQ(blobs("a"), std::set<std::string>({kept, longer}));  // the loose one went

  // The daemon collects at the expiry by itself.
  EXPECT_TRUE(waitFor([&]() { return blobs("a") == std::set<std::string>({longer}); }, 15000))
      << daemon.log();
  EXPECT_EQ(lines(ctrIn("a", {"leases", "ls", "-q"}).out), std::set<std::string>({"long"}));

  r = ctrIn("a", {"leases", "rm", "--sync", "long"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(blobs("a").empty());
  EXPECT_TRUE(bytesOnDisk().empty());

  // A lease that does not exist is an error everywhere it is named.
  auto missing = ns.withLeaseRequest();
  missing.setId("nope");
  auto e = kj::runCatchingExceptions(
      [&]() { missing.send().getNs().nameRequest().send().wait(client.waitScope()); });
  ASSERT_NE(e, nullptr);
  EXPECT_NE(std::string(KJ_ASSERT_NONNULL(e).getDescription().cStr()).find("lease \"nope\""),
            std::string::npos);
  r = ctrIn("a", {"leases", "rm", "nope"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("lease \"nope\": not found"), std::string::npos) << r.err;
  r = ctrIn("a", {"leases", "create", "--expires", "soon"});
  EXPECT_NE(r.status, 0);
}

TEST_F(GcTest, ALeaseOrResourceThatMeansNothingIsRefusedAndNothingIsMade) {
  DaemonClient client(daemon.socket().c_str());
  auto leases = client.ns("a").leasesRequest().send().getLeases();
  auto refused = [&](auto&& request, const char* message) {
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { request.send().wait(client.waitScope()); })) {
      EXPECT_NE(std::string(e->getDescription().cStr()).find(message), std::string::npos)
          << e->getDescription().cStr();
    } else {
      ADD_FAILURE() << "accepted; wanted " << message;
    }
  };
  // An expiry that is not a time would protect forever, or never: refused.
  auto badExpiry = leases.createRequest();
  badExpiry.setId("bad");
  auto label = badExpiry.initLabels(1);
  label[0].setKey("containerd.io/gc.expire");
  label[0].setValue("tomorrow");
  refused(badExpiry, "is not an RFC 3339 time");
  auto badId = leases.createRequest();
  badId.setId("../escape");
  refused(badId, "invalid argument");
  EXPECT_EQ(ctrIn("a", {"leases", "ls", "-q"}).out, "");

  ASSERT_EQ(ctrIn("a", {"leases", "create", "--id", "good"}).status, 0);
  auto resource = [&](const char* type, const char* id) {
    auto req = leases.addResourceRequest();
    req.setId("good");
    req.initResource().setType(type);
    req.getResource().setId(id);
    return req;
  };
  refused(resource("blobs", "sha256:0"), "unsupported resource type");
  refused(resource("content", "sha256:not-a-digest"), "invalid digest");
  refused(resource("snapshots/", "k"), "invalid argument");
  auto list = leases.listResourcesRequest();
  list.setId("good");
  EXPECT_EQ(list.send().wait(client.waitScope()).getResources().size(), 0u);
}

TEST_F(GcTest, ANamespaceWithALeaseIsNotEmpty) {
  ASSERT_EQ(ctrIn("held", {"leases", "create", "--id", "l1"}).status, 0);
  auto r = ctr({"namespaces", "rm", "held"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("still has leases"), std::string::npos) << r.err;
  ASSERT_EQ(ctrIn("held", {"leases", "rm", "l1"}).status, 0);
  EXPECT_EQ(ctr({"namespaces", "rm", "held"}).status, 0);
}

TEST_F(GcTest, KilledMidSweepTheNextStartSweepsToTheSameResult) {
  registry.push({"image", "kept:1", "--layer", layerDir("kept", "k")});
  pull("a", "kept:1");
  auto keptBlobs = blobs("a");
  for (int round = 0; round < 3; round++) {
    SCOPED_TRACE(round);
    {
      DaemonClient client(daemon.socket().c_str());
      auto ns = client.ns("a");
      for (int i = 0; i < 300; i++) writeBlob(client, ns, "garbage " + std::to_string(i));
      // A collection under way, killed at a different point each round.
      auto gc = client.containerd().collectGarbageRequest().send();
      usleep(round * 15000);
      daemon.stop(SIGKILL);
    }
    ASSERT_TRUE(daemon.start()) << daemon.log();
    // Whatever the sweep had done, no record lost its bytes.
    auto onDisk = bytesOnDisk();
    for (auto& d : blobs("a")) EXPECT_EQ(onDisk.count(d), 1u) << d;
    // Bytes a killed sweep left without a record go once they are a second old.
    usleep(1100000);
    ASSERT_EQ(ctr({"gc"}).status, 0);
    EXPECT_EQ(blobs("a"), keptBlobs);
    EXPECT_EQ(bytesOnDisk(), keptBlobs);
    auto check = ctrIn("a", {"images", "check"});
    EXPECT_NE(check.out.find("complete (3/3)"), std::string::npos) << check.out;
  }
}

TEST_F(GcTest, CollectionsInALoopDuringPullsAndRunsLoseNothing) {
  auto base = baseLayer();
  std::vector<std::string> names;
  for (int i = 0; i < 4; i++) {
    auto name = "busy" + std::to_string(i) + ":1";
    registry.push({"busybox", name});
    registry.push({"image", "layered" + std::to_string(i) + ":1", "--layer", base, "--layer",
                   layerDir("own" + std::to_string(i), "own " + std::to_string(i))});
    names.push_back(name);
  }
  std::atomic<bool> done{false};
  std::atomic<int> collections{0};
  std::thread collector([&]() {
    while (!done) {
      if (daemon.ctr({"gc"}).status == 0) collections++;
    }
  });
  for (int i = 0; i < 4; i++) {
    auto ns = i % 2 == 0 ? "gc-even" : "gc-odd";
    pull(ns, names[i]);
    pull(ns, "layered" + std::to_string(i) + ":1");
    auto id = "c" + std::to_string(i);
    auto r = ctrIn(ns, {"run", "--rm", ref(names[i]), id, "true"});
    EXPECT_EQ(r.status, 0) << r.err;
    r = ctrIn(ns, {"run", "--rm", ref("layered" + std::to_string(i) + ":1"), id, "cat", "/base",
                   "/own" + std::to_string(i)});
    EXPECT_EQ(r.out, "sharedown " + std::to_string(i)) << r.err;
    // One image removed each round, so that every collection has something to take.
    if (i > 0) {
      EXPECT_EQ(ctrIn(i % 2 == 1 ? "gc-even" : "gc-odd",
                      {"images", "rm", ref("layered" + std::to_string(i - 1) + ":1")})
                    .status,
                0);
    }
  }
  done = true;
  collector.join();
  EXPECT_GT(collections.load(), 0);
  ASSERT_EQ(ctr({"gc"}).status, 0);
  for (auto ns : {"gc-even", "gc-odd"}) {
    auto check = ctrIn(ns, {"images", "check"});
    EXPECT_EQ(check.out.find("incomplete"), std::string::npos) << check.out;
    EXPECT_EQ(check.out.find("missing"), std::string::npos) << check.out;
  }
  // Each remaining image still runs from what GC left.
  // (even: busy0, busy2; odd: busy1, busy3, layered3, the one never removed)
  EXPECT_EQ(ctrIn("gc-even", {"run", "--rm", ref("busy0:1"), "x", "true"}).status, 0);
  EXPECT_EQ(ctrIn("gc-odd", {"run", "--rm", ref("layered3:1"), "x", "cat", "/base", "/own3"}).out,
            "sharedown 3");
  EXPECT_EQ(ctrIn("gc-odd", {"run", "--rm", ref("busy1:1"), "x", "true"}).status, 0);
}

}  // namespace
}  // namespace ctrd::test
