#include <common/rootless.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <sandbox/userns.h>
#include <stdlib.h>

#include <optional>
#include <string>
#include <vector>

#include "integration/harness.h"

namespace ctrd {
namespace {

TEST(SubordinateRangeTest, TheFirstLineForTheNameOrTheIdWins) {
  test::TempDir dir;
  auto file = dir.path() + "/subuid";
  test::writeFile(file,
                  "# not a range\n"
                  "other:100000:65536\n"
                  "alice:x:65536\n"       // not a number: skipped
                  "alice:200000:0\n"      // empty: skipped
                  "alice:4294967295:2\n"  // past the 32-bit ids: skipped
                  "1500:300000:1000\n"    // by uid
                  "alice:400000:65536\n");
  auto byName = subordinateRange(file.c_str(), "alice", 1501);
  ASSERT_NE(byName, nullptr);
  EXPECT_EQ(KJ_ASSERT_NONNULL(byName).start, 400000u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(byName).count, 65536u);
  auto byId = subordinateRange(file.c_str(), "alice", 1500);
  ASSERT_NE(byId, nullptr);
  EXPECT_EQ(KJ_ASSERT_NONNULL(byId).start, 300000u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(byId).count, 1000u);
  EXPECT_EQ(subordinateRange(file.c_str(), "bob", 1600), nullptr);
  EXPECT_EQ(subordinateRange((dir.path() + "/missing").c_str(), "alice", 1500), nullptr);
}

class SavedEnvironment {
  // Puts back what the test changed: the other cases of this process see the environment they
  // started with.
public:
  explicit SavedEnvironment(std::initializer_list<const char*> names) {
    for (auto name : names) {
      auto value = getenv(name);
      saved.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
    }
  }
  ~SavedEnvironment() {
    for (auto& [name, value] : saved) {
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
};

TEST(RootlessPathsTest, XdgDirectoriesAsRootlessContainerdUsesThem) {
  SavedEnvironment restore({"HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME"});
  setenv("HOME", "/home/alice", 1);
  setenv("XDG_RUNTIME_DIR", "/run/user/1500", 1);
  unsetenv("XDG_DATA_HOME");
  unsetenv("XDG_CONFIG_HOME");
  auto paths = rootlessPaths();
  EXPECT_EQ(paths.root, "/home/alice/.local/share/containerd");
  EXPECT_EQ(paths.state, "/run/user/1500/containerd");
  EXPECT_EQ(paths.config, "/home/alice/.config/containerd/config.toml");
  setenv("XDG_DATA_HOME", "/data", 1);
  setenv("XDG_CONFIG_HOME", "relative/is/ignored", 1);
  paths = rootlessPaths();
  EXPECT_EQ(paths.root, "/data/containerd");
  EXPECT_EQ(paths.config, "/home/alice/.config/containerd/config.toml");
  unsetenv("XDG_RUNTIME_DIR");
  auto e = kj::runCatchingExceptions([]() { rootlessPaths(); });
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(KJ_ASSERT_NONNULL(e).getDescription().startsWith("XDG_RUNTIME_DIR is not set"))
      << KJ_ASSERT_NONNULL(e).getDescription().cStr();
}

}  // namespace
}  // namespace ctrd
