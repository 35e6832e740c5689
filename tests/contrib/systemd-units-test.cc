// contrib/systemd's units, read by systemd itself (`systemd-analyze`, which needs no running
// systemd): they verify, the unprivileged services score an exposure of at most 2.0, each owns a
// state directory of its own, and the capabilities they grant are the profile table's.
#include <gtest/gtest.h>
#include <sandbox/profile.h>
#include <sys/capability.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "integration/harness.h"

namespace ctrd::test {
namespace {

std::string unitsDir() {
  return CTRD_SOURCE_DIR "/contrib/systemd";
}

std::string unitText(const std::string& name) {
  return readFile(unitsDir() + "/" + name);
}

std::vector<std::string> values(const std::string& text, const std::string& key) {
  std::vector<std::string> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(key + "=", 0) == 0) out.push_back(line.substr(key.size() + 1));
  }
  return out;
}

class SystemdUnits : public testing::Test {
protected:
  void SetUp() override {
    if (access("/usr/bin/systemd-analyze", X_OK) != 0) GTEST_SKIP() << "no systemd-analyze";
    // The units name /usr/local/bin; here they point at the build's executables.
    for (auto& name : {"containerd", "containerd-content", "containerd-snapshot", "containerd-diff",
                       "containerd-tasks"}) {
      for (auto suffix : {".service", ".socket"}) {
        auto text = unitText(std::string(name) + suffix);
        if (text.empty()) continue;
        text = std::regex_replace(text, std::regex("/usr/local/bin/"), binPath(""));
        std::ofstream(dir.path() + "/" + name + suffix) << text;
      }
    }
  }
  TempDir dir;
};

TEST_F(SystemdUnits, EveryUnitVerifies) {
  for (auto name : {"containerd", "containerd-content", "containerd-snapshot", "containerd-diff",
                    "containerd-tasks"}) {
    std::vector<std::string> argv = {"/usr/bin/systemd-analyze", "verify", "--man=no",
                                     dir.path() + "/" + name + ".service"};
    if (std::string(name) != "containerd") argv.push_back(dir.path() + "/" + name + ".socket");
    auto r = run(argv);
    EXPECT_EQ(r.status, 0) << name << ": " << r.out << r.err;
  }
}

TEST_F(SystemdUnits, UnprivilegedServicesExposeAtMostTwo) {
  for (auto name : {"containerd-content", "containerd-snapshot", "containerd-diff"}) {
    auto r = run({"/usr/bin/systemd-analyze", "security", "--offline=true", "--no-pager",
                  dir.path() + "/" + name + ".service"});
    std::smatch m;
    std::string out = r.out;
    ASSERT_TRUE(
        std::regex_search(out, m, std::regex("Overall exposure level for [^:]+: ([0-9.]+)")))
        << r.out << r.err;
    EXPECT_LE(std::stod(m[1]), 2.0) << name;
  }
}

TEST_F(SystemdUnits, NoTwoUnitsShareAStateDirectory) {
  // systemd chowns a StateDirectory recursively to its unit's user: a shared one (or
  // containerd/ itself) would hand one service's files to another.
  std::set<std::string> seen;
  for (auto name : {"containerd", "containerd-content", "containerd-snapshot", "containerd-diff",
                    "containerd-tasks"}) {
    for (auto& v : values(unitText(std::string(name) + ".service"), "StateDirectory")) {
      EXPECT_NE(v, "containerd") << name;
      EXPECT_TRUE(seen.insert(v).second) << name << " shares " << v;
      auto root = values(unitText(std::string(name) + ".service"), "ExecStart");
      ASSERT_EQ(root.size(), 1u);
      EXPECT_NE(root[0].find("--root /var/lib/" + v), std::string::npos) << root[0];
    }
  }
}

TEST_F(SystemdUnits, CapabilitiesAreTheProfileTables) {
  for (auto& p : allProfiles()) {
    if (p.runsAsRoot) continue;
    auto text = unitText(kj::str(p.executable, ".service").cStr());
    std::set<std::string> want;
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
      if (p.capabilities & capabilityBit(cap)) {
        char* n = cap_to_name(cap);
        std::string upper = n;
        cap_free(n);
        for (auto& c : upper) c = toupper(c);
        want.insert(upper);
      }
    }
    for (auto key : {"CapabilityBoundingSet", "AmbientCapabilities"}) {
      auto v = values(text, key);
      ASSERT_EQ(v.size(), 1u) << p.executable.cStr() << " " << key;
      std::istringstream words(v[0]);
      std::set<std::string> got;
      for (std::string w; words >> w;) got.insert(w);
      EXPECT_EQ(got, want) << p.executable.cStr() << " " << key;
    }
  }
}

}  // namespace
}  // namespace ctrd::test
