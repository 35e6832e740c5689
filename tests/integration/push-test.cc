// `ctr images push`, `ctr content push-object` and `ctr content fetch` against a real registry
// (Debian's docker-registry on 127.0.0.1), some through a proxy that demands bearer tokens and
// records every request, to count what was sent.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <thread>

#include "registry-fixture.h"

namespace ctrd::test {
namespace {

std::string lines(const std::string& text, const std::string& containing) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.find(containing) != std::string::npos) out += line + "\n";
  }
  return out;
}

std::string accepted(const std::string& log) {
  // The requests the proxy let through (not refused for want of the right token).
  std::istringstream in(log);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.size() < 4 || line.compare(line.size() - 4, 4, " 401") != 0) out += line + "\n";
  }
  return out;
}

using PushTest = RegistryFixture;

TEST_F(PushTest, WhatIsPushedPullsBackWithTheSameDigests) {
  ASSERT_EQ(ctr({"images", "pull", src}).status, 0) << daemon.log();
  // Another registry: nothing to mount from, every byte is uploaded (POST, then PUT).
  Registry other;
  ASSERT_TRUE(other.up());
  auto copy = other.address() + "/copy:1";
  // One upload at a time: the second blob waits for the first one's slot.
  auto pushed = ctr({"images", "push", "--max-concurrent-uploads", "1", copy, src});
  ASSERT_EQ(pushed.status, 0) << pushed.err << daemon.log();
  EXPECT_NE(pushed.out.find("pushed application/vnd.oci.image.manifest.v1+json " + sourceDigest),
            std::string::npos)
      << pushed.out;
  // Another namespace pulls it from the registry alone: the same manifest, config and layers.
  auto back = ctr({"images", "pull", copy}, "other");
  ASSERT_EQ(back.status, 0) << back.err;
  EXPECT_EQ(digestOf(copy, "other"), sourceDigest);
  auto ours = ctr({"content", "ls", "-q"}).out;
  auto theirs = ctr({"content", "ls", "-q"}, "other").out;
  EXPECT_EQ(ours, theirs);
  EXPECT_EQ(count(theirs, "sha256:"), 3u) << theirs;

  // Without a tag, the manifest goes up by its digest, which is how it is found.
  auto bare = other.address() + "/bydigest";
  auto byDigest = ctr({"images", "push", bare, src});
  ASSERT_EQ(byDigest.status, 0) << byDigest.err;
  auto fetched = ctr({"content", "fetch", bare + "@" + sourceDigest}, "third");
  EXPECT_EQ(fetched.status, 0) << fetched.err;
  // `content fetch` fetched everything and unpacked nothing.
  EXPECT_EQ(count(ctr({"content", "ls", "-q"}, "third").out, "sha256:"), 3u);
  EXPECT_EQ(ctr({"snapshots", "ls", "-q"}, "third").out, "");
}

TEST_F(PushTest, TokensForPushMountsFromTheSourceAndNothingIsSentTwice) {
  RegistryProxy proxy(registry.address(), {"--token"});
  ASSERT_TRUE(proxy.start());
  auto from = proxy.address() + "/src:1";
  ASSERT_EQ(ctr({"images", "pull", from}).status, 0) << daemon.log();
  auto dst = proxy.address() + "/dst:1";
  auto pushed = ctr({"images", "push", dst, from});
  ASSERT_EQ(pushed.status, 0) << pushed.err << daemon.log();
  auto log = proxy.log();
  // A push token, asked with the push scope the registry named.
  EXPECT_NE(log.find("TOKEN repository:dst:pull,push"), std::string::npos) << log;
  // The config and the layer came from src on this registry: mounted, not uploaded.
  EXPECT_EQ(count(accepted(log), "POST /v2/dst/blobs/uploads/?mount=sha256:"), 2u) << log;
  EXPECT_NE(log.find("&from=src"), std::string::npos) << log;
  EXPECT_EQ(lines(log, "PUT /v2/dst/blobs/"), "") << log;
  EXPECT_EQ(count(accepted(log), "PUT /v2/dst/manifests/1"), 1u) << log;

  // Again: every blob is there (a HEAD each, counted with the token that passed), nothing
  // uploaded or mounted, the tag put once.
  auto before = log.size();
  auto again = ctr({"images", "push", dst, from});
  ASSERT_EQ(again.status, 0) << again.err;
  auto second = proxy.log().substr(before);
  EXPECT_EQ(lines(second, "POST "), "") << second;
  EXPECT_EQ(lines(second, "PUT /v2/dst/blobs/"), "") << second;
  EXPECT_EQ(count(accepted(second), "HEAD /v2/dst/blobs/sha256:"), 2u) << second;
  EXPECT_EQ(count(accepted(second), "PUT /v2/dst/manifests/1"), 1u) << second;

  // push-object: one blob, sent to a repository that lacks it (mounted from src, where it came
  // from), then found there.
  auto layers = lines(ctr({"content", "ls", "-q"}).out, "sha256:");
  std::string digest = layers.substr(0, layers.find('\n'));
  auto obj = proxy.address() + "/objects";
  auto first = ctr({"content", "push-object", obj, digest});
  ASSERT_EQ(first.status, 0) << first.err;
  EXPECT_TRUE(first.out == digest + " mounted\n" || first.out == digest + " uploaded\n")
      << first.out;
  auto twice = ctr({"content", "push-object", obj, digest});
  EXPECT_EQ(twice.out, digest + " exists\n") << twice.err;
}

TEST_F(PushTest, AMissingBlobIsNamedAndNothingIsSent) {
  RegistryProxy proxy(registry.address(), {});
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(ctr({"images", "pull", src}).status, 0);
  // The layer leaves this namespace (the image still names it).
  auto all = lines(ctr({"content", "ls", "-q"}).out, "sha256:");
  std::string gone;
  std::istringstream in(all);
  for (std::string d; std::getline(in, d);) {
    if (d != sourceDigest) gone = d;  // the config or the layer: either must stop the push
  }
  ASSERT_EQ(ctr({"content", "rm", gone}).status, 0);
  auto before = proxy.log().size();
  auto pushed = ctr({"images", "push", proxy.address() + "/partial:1", src});
  EXPECT_NE(pushed.status, 0);
  EXPECT_NE(pushed.err.find("content digest " + gone + ": not found"), std::string::npos)
      << pushed.err;
  EXPECT_EQ(proxy.log().substr(before), "") << "nothing was sent";
  // Nor is an image that does not exist.
  auto none = ctr({"images", "push", registry.address() + "/x:1", "no-such-image:1"});
  EXPECT_NE(none.err.find("image \"no-such-image:1\": not found"), std::string::npos) << none.err;
}

class ResumeTest : public PushTest {
protected:
  void SetUp() override {
    PushTest::SetUp();
    if (IsSkipped()) return;
    // A layer of 20 MiB of random bytes: past one chunk (16 MiB), so it goes in two PATCHes.
    TempDir layer;
    std::string random(20 << 20, '\0');
    int urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(urandom, 0);
    for (size_t have = 0; have < random.size();) {
      auto n = read(urandom, random.data() + have, random.size() - have);
      ASSERT_GT(n, 0);
      have += n;
    }
    close(urandom);
    writeFile(layer.path() + "/noise", random);
    noiseDigest = registry.push({"image", "noise:1", "--layer", layer.path()});
    noise = registry.address() + "/noise:1";
    ASSERT_EQ(ctr({"images", "pull", noise}).status, 0) << daemon.log();
  }

  Result pushThroughDyingRegistry(Registry& target, RegistryProxy& proxy) {
    // The registry comes back (same storage, same address) while the push retries.
    EXPECT_TRUE(proxy.start());
    std::thread restarter([&]() {
      waitFor([&]() { return !proxy.running(); }, 60000);
      proxy.setFlags({});
      proxy.start();
    });
    auto pushed = ctr({"images", "push", proxy.address() + "/noise:1", noise});
    restarter.join();
    return pushed;
  }

  void expectPulledBack(Registry& target, const std::string& ns) {
    // What the registry assembled is the blob: it checked the digest, and a pull matches.
    ASSERT_EQ(ctr({"images", "pull", target.address() + "/noise:1"}, ns).status, 0) << daemon.log();
    EXPECT_EQ(digestOf(target.address() + "/noise:1", ns), noiseDigest);
    auto check = ctr({"images", "check"}, ns);
    EXPECT_NE(check.out.find("complete"), std::string::npos) << check.out;
  }

  std::string noise, noiseDigest;
};

TEST_F(ResumeTest, AnUploadCutOffByTheRegistrysDeathResumesAfterTheLastChunk) {
  // The registry stored the first chunk and died as the second began.
  Registry target;
  ASSERT_TRUE(target.up());
  RegistryProxy proxy(target.address(), {"--die-at-patch", "2"});
  auto pushed = pushThroughDyingRegistry(target, proxy);
  ASSERT_EQ(pushed.status, 0) << pushed.err << daemon.log();
  auto log = proxy.log();
  // One session (one POST); after the restart a GET of it said 16 MiB were there, and only the
  // second chunk went again.
  auto chunk2 = " " + std::to_string(16 << 20) + "-";  // to the layer's end (it is gzipped)
  EXPECT_EQ(count(log, "POST /v2/noise/blobs/uploads/"), 2u) << log;  // the layer's, the config's
  EXPECT_EQ(count(log, "PATCH "), 3u) << log;
  EXPECT_EQ(count(log, chunk2), 2u) << log;
  EXPECT_NE(daemon.log().find("resuming the upload at byte " + std::to_string(16 << 20)),
            std::string::npos);
  expectPulledBack(target, "resumed");
}

TEST_F(ResumeTest, AnUploadSessionTheRegistryNoLongerKnowsStartsOver) {
  // The registry stored part of the second chunk before it died: its session no longer matches
  // what the client was told (docker-registry then refuses it), so the upload starts again.
  Registry target;
  ASSERT_TRUE(target.up());
  RegistryProxy proxy(target.address(), {"--die-at-patch", "2", "--cut-upload", "1048576"});
  auto pushed = pushThroughDyingRegistry(target, proxy);
  ASSERT_EQ(pushed.status, 0) << pushed.err << daemon.log();
  auto log = proxy.log();
  EXPECT_EQ(count(log, "POST /v2/noise/blobs/uploads/"), 3u) << log;
  EXPECT_NE(daemon.log().find("upload session is gone"), std::string::npos);
  expectPulledBack(target, "restarted");
}

}  // namespace
}  // namespace ctrd::test
