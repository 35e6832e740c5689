// Registry credentials go only to the host they are for: never to a mirror, never to a token
// realm on another host, never across a redirect to another host.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>

#include "harness.h"
#include "registry.h"

namespace ctrd::test {
namespace {

class Probe {
  // tests/integration/auth-probe.py on a port of its own.
public:
  Probe(const TempDir& dir, const std::string& mode, const std::string& arg = "")
      : port_(freePort()), log_(dir.path() + "/probe-" + std::to_string(port_) + ".log") {
    std::ofstream(log_).flush();
    child_ = std::make_unique<Child>(
        std::vector<std::string>{"/usr/bin/python3", sourcePath("tests/integration/auth-probe.py"),
                                 std::to_string(port_), log_, mode, arg},
        log_ + ".err");
    EXPECT_TRUE(waitFor([&]() {
      return run({"/usr/bin/curl", "-s", "-o", "/dev/null", url() + "/ready"}).status == 0;
    }));
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + address(); }
  std::string log() const { return readFile(log_); }

private:
  int port_;
  std::string log_;
  std::unique_ptr<Child> child_;
};

class CredentialsTest : public testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the daemon runs as root";
    ASSERT_TRUE(daemon.start()) << daemon.log();
  }
  Result pull(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"images", "pull", "--user", "alice:secret"};
    argv.insert(argv.end(), args.begin(), args.end());
    return daemon.ctr(argv);
  }
  static constexpr const char* BASIC = "Basic YWxpY2U6c2VjcmV0";  // alice:secret

  Daemon daemon;
  TempDir dir;
};

TEST_F(CredentialsTest, AMirrorNeverGetsTheRegistrysCredentials) {
  Probe server(dir, "basic");
  Probe mirror(dir, "basic");
  auto hostsDir = dir.path() + "/certs.d/" + server.address();
  run({"/bin/mkdir", "-p", hostsDir});
  std::ofstream(hostsDir + "/hosts.toml")
      << "server = \"" << server.url() << "\"\n\n[host.\"" << mirror.url()
      << "\"]\n  capabilities = [\"pull\", \"resolve\"]\n";
  auto r = pull({"--hosts-dir", dir.path() + "/certs.d", server.address() + "/x:1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(mirror.log().find("/v2/"), std::string::npos) << "the mirror was not asked";
  EXPECT_EQ(mirror.log().find("Basic"), std::string::npos) << mirror.log();
}

TEST_F(CredentialsTest, ATokenRealmOnAnotherHostGetsNoCredentials) {
  Probe tokens(dir, "token");
  Probe server(dir, "bearer", tokens.url() + "/token");
  auto r = pull({server.address() + "/x:1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(tokens.log().find("GET /token"), std::string::npos) << tokens.log();
  EXPECT_EQ(tokens.log().find("Basic"), std::string::npos) << tokens.log();
}

TEST_F(CredentialsTest, ARedirectToAnotherHostDropsTheCredentials) {
  Probe elsewhere(dir, "basic");
  Probe server(dir, "redirect", elsewhere.url());
  auto r = pull({server.address() + "/x:1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(server.log().find(BASIC), std::string::npos) << server.log();
  EXPECT_NE(elsewhere.log().find("/v2/"), std::string::npos) << "the redirect was not followed";
  EXPECT_EQ(elsewhere.log().find("Basic"), std::string::npos) << elsewhere.log();
}

TEST_F(CredentialsTest, ALineBreakInAConfiguredHeaderIsRefused) {
  Probe server(dir, "basic");
  auto hostsDir = dir.path() + "/certs.d/" + server.address();
  run({"/bin/mkdir", "-p", hostsDir});
  std::ofstream(hostsDir + "/hosts.toml")
      << "server = \"" << server.url() << "\"\n\n[host.\"" << server.url()
      << "\"]\n  capabilities = [\"pull\", \"resolve\"]\n  [host.\"" << server.url()
      << "\".header]\n    x-a = \"b\\r\\nx-smuggled: 1\"\n";
  auto r = pull({"--hosts-dir", dir.path() + "/certs.d", server.address() + "/x:1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("line break"), std::string::npos) << r.err;
  EXPECT_EQ(server.log().find("/v2/"), std::string::npos) << server.log();
}

}  // namespace
}  // namespace ctrd::test
