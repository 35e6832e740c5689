// A daemon and a registry holding busybox as src:1, for the tests that move images between
// them (push, export and import).
#pragma once

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "harness.h"
#include "registry.h"

namespace ctrd::test {

class RegistryFixture : public ::testing::Test {
protected:
  void SetUp() override {
    if (!Registry::available()) GTEST_SKIP() << "docker-registry is not installed";
    ASSERT_TRUE(registry.up());
    ASSERT_TRUE(daemon.start()) << daemon.log();
    sourceDigest = registry.push({"busybox", "src:1"});
    src = registry.address() + "/src:1";
  }

  Result ctr(const std::vector<std::string>& args, const std::string& ns = "default") {
    std::vector<std::string> all = {"-n", ns};
    all.insert(all.end(), args.begin(), args.end());
    return daemon.ctr(all);
  }

  std::string digestOf(const std::string& ref, const std::string& ns) {
    // The target digest `ctr images ls` shows for `ref` in `ns`, or empty.
    std::smatch m;
    auto out = ctr({"images", "ls"}, ns).out;
    std::regex row(std::regex_replace(ref, std::regex(R"([.:/])"), R"(\$&)") +
                   R"(\s+\S+\s+(sha256:[0-9a-f]{64}))");
    return std::regex_search(out, m, row) ? m[1].str() : "";
  }

  Registry registry;
  Daemon daemon;
  std::string sourceDigest, src;  // busybox's manifest digest, and where it is
};

}  // namespace ctrd::test
