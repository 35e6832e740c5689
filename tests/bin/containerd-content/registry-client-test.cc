#include <gtest/gtest.h>
#include <registry-client.h>

namespace ctrd {
namespace {

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

}  // namespace
}  // namespace ctrd
