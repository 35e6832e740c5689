#include <common/errors.h>
#include <gtest/gtest.h>
#include <oci/platform.h>

namespace ctrd::oci {
namespace {

Platform p(kj::StringPtr os, kj::StringPtr arch, kj::StringPtr variant = "") {
  return Platform{kj::str(os), kj::str(arch), kj::str(variant)};
}

std::string parsed(kj::StringPtr spec) {
  return parsePlatform(spec).toString().cStr();
}

TEST(Platform, ParsesAndNormalizes) {
  EXPECT_EQ(parsed("linux/amd64"), "linux/amd64");
  EXPECT_EQ(parsed("linux/x86_64"), "linux/amd64");
  EXPECT_EQ(parsed("Linux/AMD64"), "linux/amd64");
  EXPECT_EQ(parsed("linux/arm64"), "linux/arm64/v8");
  EXPECT_EQ(parsed("linux/aarch64"), "linux/arm64/v8");
  EXPECT_EQ(parsed("linux/arm"), "linux/arm/v7");
  EXPECT_EQ(parsed("linux/arm/6"), "linux/arm/v6");
  EXPECT_EQ(parsed("linux/armhf"), "linux/arm/v7");
  EXPECT_EQ(parsed("linux/i686"), "linux/386");
  EXPECT_EQ(parsed("linux"), hostPlatform().toString().cStr());
  EXPECT_EQ(parsed("arm64"), "linux/arm64/v8");
}

TEST(Platform, HostIsLinuxOnItsMachine) {
  auto host = hostPlatform();
  EXPECT_EQ(host.os, "linux");
  EXPECT_TRUE(host.architecture == "amd64" || host.architecture == "arm64" ||
              host.architecture == "arm" || host.architecture == "386")
      << host.architecture.cStr();
}

TEST(Platform, Matching) {
  EXPECT_TRUE(matches(p("linux", "amd64"), p("linux", "amd64")));
  EXPECT_TRUE(matches(p("linux", "arm64"), p("linux", "arm64", "v8")));
  EXPECT_TRUE(matches(p("linux", "arm64", "v8"), p("linux", "aarch64")));
  EXPECT_FALSE(matches(p("linux", "amd64"), p("linux", "arm64", "v8")));
  EXPECT_FALSE(matches(p("linux", "amd64"), p("windows", "amd64")));
  EXPECT_TRUE(matches(p("linux", "arm", "v7"), p("linux", "arm", "v6")));
  EXPECT_FALSE(matches(p("linux", "arm", "v6"), p("linux", "arm", "v7")));
  EXPECT_GT(preference(p("linux", "arm", "v7"), p("linux", "arm", "v7")),
            preference(p("linux", "arm", "v7"), p("linux", "arm", "v6")));
  EXPECT_GT(preference(p("linux", "arm", "v7"), p("linux", "arm", "v6")),
            preference(p("linux", "arm", "v7"), p("linux", "arm", "v5")));
}

TEST(Platform, UnknownNamesAreRefused) {
  for (kj::StringPtr bad : {"plan9/amd64", "linux/z80", "linux//", "a/b/c/d", "nothing"}) {
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { parsePlatform(bad); })) {
      EXPECT_EQ(errorKind(*e), ErrorKind::INVALID_ARGUMENT) << bad.cStr();
    } else {
      ADD_FAILURE() << "parsed " << bad.cStr();
    }
  }
}

}  // namespace
}  // namespace ctrd::oci
