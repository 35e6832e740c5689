// The registry client in-process, against the real registry (Debian's docker-registry on
// 127.0.0.1): resolve, download into an ingest, resume with a Range request, authentication,
// and the kinds of its failures.
#include <common/errors.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <ingest.h>
#include <kj/debug.h>
#include <registry-client.h>
#include <unistd.h>

#include <atomic>
#include <memory>

#include "integration/harness.h"
#include "integration/registry.h"

namespace ctrd {
namespace {

using test::Registry;

TEST(RegistryClient, LocalhostIsAnAddressNotAPrefix) {
  for (auto local : {"localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:5000", "127.1.2.3:80",
                     "[::1]:5000", "[::1]"}) {
    EXPECT_TRUE(isLocalhost(local)) << local;
  }
  for (auto remote : {"127.evil.example", "127.evil.example:5000", "127.0.0.1.evil.example",
                      "localhost.evil.example", "128.0.0.1", "docker.io", "[::2]:5000"}) {
    EXPECT_FALSE(isLocalhost(remote)) << remote;
  }
}

ErrorKind kindOf(kj::Function<void()> call, std::string* message = nullptr) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { call(); })) {
    if (message) *message = e->getDescription().cStr();
    return errorKind(*e);
  }
  ADD_FAILURE() << "the call succeeded";
  return ErrorKind::UNKNOWN;
}

class RegistryClientTest : public ::testing::Test {
protected:
  ~RegistryClientTest() noexcept override {}
  void SetUp() override {
    if (!Registry::available()) GTEST_SKIP() << "docker-registry is not installed";
    registry = std::make_unique<Registry>(options());
    ASSERT_TRUE(registry->up());
    pushed = registry->push({"busybox", "busybox:latest"});
    int fd = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    store = kj::heap<BlobStore>(kj::AutoCloseFd(fd));
  }
  virtual Registry::Options options() { return {}; }

  RegistryClient client(const std::string& path,
                        kj::Maybe<RegistryCredential> credential = nullptr) {
    auto ref = oci::parseReference(kj::str(registry->address().c_str(), "/", path.c_str()));
    auto endpoints = RegistryClient::defaultEndpoints(ref, true, false);
    return RegistryClient(kj::mv(ref), kj::mv(endpoints), kj::mv(credential));
  }

  kj::String readBlob(kj::StringPtr digest) {
    auto fd = store->openBlob(digest);
    kj::FdInputStream in(fd.get());
    return kj::heapString(in.readAllText());
  }

  test::TempDir dir;
  std::unique_ptr<Registry> registry;
  std::string pushed;
  kj::Own<BlobStore> store;
  std::atomic<bool> cancelled{false};
};

TEST_F(RegistryClientTest, ResolveNamesTheManifestThePushMade) {
  auto c = client("busybox:latest");
  auto d = c.resolve(cancelled);
  EXPECT_EQ(d.digest, pushed.c_str());
  EXPECT_TRUE(d.mediaType.endsWith("manifest.v1+json") || d.mediaType.endsWith("manifest.v2+json"))
      << d.mediaType.cStr();
  EXPECT_GT(d.size, 0);
  // By digest as well as by tag.
  auto byDigest = client("busybox@" + pushed).resolve(cancelled);
  EXPECT_EQ(byDigest.size, d.size);
}

TEST_F(RegistryClientTest, ADownloadCommitsUnderItsDigestAndAResumeFetchesTheRest) {
  auto c = client("busybox:latest");
  auto d = c.resolve(cancelled);
  {
    auto ingest = store->openIngest("whole", d.digest, d.size);
    c.download(d, *ingest, cancelled);
    EXPECT_FALSE(ingest->commit(d.size, d.digest).existed);
  }
  auto whole = readBlob(d.digest);
  ASSERT_EQ(int64_t(whole.size()), d.size);

  // An ingest that holds the first half: the download asks only for the rest, and the result
  // hashes to the same digest (a wrong offset would not).
  auto ingest = store->openIngest("resumed", d.digest, d.size);
  ingest->append(whole.asBytes().slice(0, whole.size() / 2));
  c.download(d, *ingest, cancelled);
  EXPECT_EQ(ingest->offset(), d.size);
  EXPECT_TRUE(ingest->commit(d.size, d.digest).existed);
}

TEST_F(RegistryClientTest, WhatTheRegistryDoesNotHaveIsNotFound) {
  EXPECT_EQ(kindOf([&]() { client("busybox:no-such-tag").resolve(cancelled); }),
            ErrorKind::NOT_FOUND);
  EXPECT_EQ(kindOf([&]() { client("nothing-here:latest").resolve(cancelled); }),
            ErrorKind::NOT_FOUND);
  auto c = client("busybox:latest");
  RegistryDescriptor missing{kj::str("application/octet-stream"),
                             kj::str("sha256:" + std::string(64, '0')), 10};
  auto ingest = store->openIngest("missing", missing.digest, missing.size);
  EXPECT_EQ(kindOf([&]() { c.download(missing, *ingest, cancelled); }), ErrorKind::NOT_FOUND);
  EXPECT_EQ(ingest->offset(), 0);
}

TEST_F(RegistryClientTest, ACancelledOrUnreachableRegistryIsUnavailable) {
  cancelled = true;
  EXPECT_EQ(kindOf([&]() { client("busybox:latest").resolve(cancelled); }), ErrorKind::UNAVAILABLE);
  cancelled = false;
  // Nobody listens on this port: each retry is refused, and the last failure is the answer.
  auto ref = oci::parseReference(kj::str("127.0.0.1:", test::freePort(), "/busybox:latest"));
  auto endpoints = RegistryClient::defaultEndpoints(ref, true, false);
  RegistryClient unreachable(kj::mv(ref), kj::mv(endpoints), nullptr);
  EXPECT_EQ(kindOf([&]() { unreachable.resolve(cancelled); }), ErrorKind::UNAVAILABLE);
}

class AuthenticatedRegistryClientTest : public RegistryClientTest {
protected:
  Registry::Options options() override { return {"tester:secret", false}; }
};

TEST_F(AuthenticatedRegistryClientTest, CredentialsOpenItAndNoneOrWrongOnesAreRefused) {
  auto d = client("busybox:latest", RegistryCredential{kj::str("tester"), kj::str("secret")})
               .resolve(cancelled);
  EXPECT_EQ(d.digest, pushed.c_str());
  std::string message;
  EXPECT_EQ(kindOf([&]() { client("busybox:latest").resolve(cancelled); }, &message),
            ErrorKind::UNKNOWN);
  EXPECT_NE(message.find("unauthorized"), std::string::npos) << message;
  EXPECT_EQ(kindOf(
                [&]() {
                  client("busybox:latest", RegistryCredential{kj::str("tester"), kj::str("wrong")})
                      .resolve(cancelled);
                },
                &message),
            ErrorKind::UNKNOWN);
  EXPECT_NE(message.find("unauthorized"), std::string::npos) << message;
}

}  // namespace
}  // namespace ctrd
