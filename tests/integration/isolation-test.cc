// containerd's "isolated" content policy on every path that adds a blob to a namespace: the
// namespace supplies the bytes (and they are verified), or it gains nothing. Knowing another
// tenant's digest is never enough.
#include <client/client.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "harness.h"
#include "registry.h"

namespace ctrd::test {
namespace {

constexpr const char* SECRET = "topsecret\n";

class IsolationTest : public testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the daemon runs as root";
    ASSERT_TRUE(daemon.start()) << daemon.log();
    ASSERT_EQ(daemon.ctr({"-n", "victim", "content", "ingest", "r1"}, SECRET).status, 0);
    digest = daemon.ctr({"-n", "victim", "content", "ls", "-q"}).out;
    while (!digest.empty() && digest.back() == '\n') digest.pop_back();
    ASSERT_EQ(digest.rfind("sha256:", 0), 0u) << digest;
    // The victim keeps it: garbage collection (which failed pulls set off) leaves it alone.
    ASSERT_EQ(
        daemon.ctr({"-n", "victim", "content", "label", digest, "containerd.io/gc.root=victim"})
            .status,
        0);
  }

  void TearDown() override {
    // Whatever the other tenant tried, the victim's blob is intact.
    EXPECT_EQ(daemon.ctr({"-n", "victim", "content", "get", digest}).out, SECRET);
  }

  void expectEvilHasNothing() {
    auto r = daemon.ctr({"-n", "evil", "content", "get", digest});
    EXPECT_NE(r.status, 0) << "evil read the victim's blob: " << r.out;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
    // It may hold what it did download (a manifest), never the victim's blob.
    EXPECT_EQ(daemon.ctr({"-n", "evil", "content", "ls", "-q"}).out.find(digest),
              std::string::npos);
  }

  std::unique_ptr<Child> lyingRegistry(const std::string& mode, int& port) {
    port = freePort();
    auto child = std::make_unique<Child>(
        std::vector<std::string>{
            "/usr/bin/python3", sourcePath("tests/integration/lying-registry.py"),
            std::to_string(port), mode, digest, std::to_string(strlen(SECRET))},
        scratch.path() + "/registry.log");
    EXPECT_TRUE(waitFor([&]() {
      return run({"/usr/bin/curl", "-s", "-o", "/dev/null",
                  "http://127.0.0.1:" + std::to_string(port) + "/v2/"})
                 .status == 0;
    }));
    return child;
  }

  Daemon daemon;
  TempDir scratch;
  std::string digest;
};

TEST_F(IsolationTest, IngestOfOtherBytesUnderAnotherTenantsDigestGainsNothing) {
  auto r = daemon.ctr({"-n", "evil", "content", "ingest", "--expected-digest", digest, "r1"},
                      "not the secret");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("unexpected commit"), std::string::npos) << r.err;
  expectEvilHasNothing();
}

TEST_F(IsolationTest, PullOfAManifestAnotherTenantHoldsDownloadsAndVerifiesIt) {
  // The review's reproduction: a registry that answers 200 with two bytes for everything.
  int port;
  auto registry = lyingRegistry("manifest", port);
  auto r = daemon.ctr({"-n", "evil", "images", "pull", "--plain-http",
                       "127.0.0.1:" + std::to_string(port) + "/x@" + digest});
  EXPECT_NE(r.status, 0) << r.out;
  expectEvilHasNothing();
  EXPECT_EQ(daemon.ctr({"-n", "evil", "images", "ls", "-q"}).out, "");
}

TEST_F(IsolationTest, PullOfALayerAndConfigAnotherTenantHoldsDownloadsAndVerifiesThem) {
  // A valid manifest naming the victim's blob as config and layer; the blobs served are garbage
  // of the right size.
  int port;
  auto registry = lyingRegistry("layers", port);
  auto r = daemon.ctr({"-n", "evil", "images", "pull", "--plain-http",
                       "127.0.0.1:" + std::to_string(port) + "/x:latest"});
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.err.find("unexpected commit digest"), std::string::npos) << r.err;
  expectEvilHasNothing();
}

TEST_F(IsolationTest, PullOfTheRightBytesGainsTheBlobForThatTenantToo) {
  // Supplying the bytes is how a second tenant gains a blob: the layer served is the secret
  // itself, so the pull downloads it, verifies it and records it for evil.
  // The pull runs under evil's own lease, so that what it fetched stays after it fails.
  int port;
  auto registry = lyingRegistry("layers-true", port);
  DaemonClient client(daemon.socket().c_str());
  auto evil = client.ns("evil");
  auto lease = evil.leasesRequest().send().getLeases().createRequest();
  lease.setId("keep");
  lease.send().wait(client.waitScope());
  auto withLease = evil.withLeaseRequest();
  withLease.setId("keep");
  auto pull = withLease.send().getNs().imagesRequest().send().getImages().pullRequest();
  pull.setRef(kj::str("127.0.0.1:", port, "/x:latest"));
  pull.initOptions().initResolver().setPlainHttp(true);
  // The config is not a config, so the pull fails at parse; the blob itself was supplied.
  auto failed = kj::runCatchingExceptions([&]() { pull.send().wait(client.waitScope()); });
  EXPECT_NE(failed, nullptr);
  EXPECT_EQ(daemon.ctr({"-n", "evil", "content", "get", digest}).out, SECRET);
  auto resources = daemon.ctr({"-n", "evil", "leases", "ls"});
  EXPECT_NE(resources.out.find("keep"), std::string::npos) << resources.out;
}

TEST_F(IsolationTest, NestedIndexesCannotFanOutWithoutBound) {
  // Five levels of indexes, each listing the one below 100 times: with --all-platforms that is
  // 10^10 walks. The pull stops at a bound instead, and the daemon keeps answering.
  int port;
  auto registry = lyingRegistry("fanout", port);
  auto r = daemon.ctr({"-n", "evil", "images", "pull", "--plain-http", "--all-platforms",
                       "127.0.0.1:" + std::to_string(port) + "/x:latest"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("more than 1024 manifests and indexes"), std::string::npos) << r.err;
  EXPECT_EQ(daemon.ctr({"version"}).status, 0);
}

}  // namespace
}  // namespace ctrd::test
