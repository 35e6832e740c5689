#include "registry.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace ctrd::test {
namespace {

bool answers(const std::string& address, const std::string& user, bool tls) {
  std::vector<std::string> argv = {"/usr/bin/curl", "-s", "-k",          "-o",
                                   "/dev/null",     "-w", "%{http_code}"};
  if (!user.empty()) {
    argv.push_back("-u");
    argv.push_back(user);
  }
  argv.push_back((tls ? "https://" : "http://") + address + "/v2/");
  return run(argv).out == "200";
}

}  // namespace

std::string sourcePath(const std::string& relative) {
  return std::string(CTRD_SOURCE_DIR) + "/" + relative;
}

bool Registry::available() {
  return access("/usr/bin/docker-registry", X_OK) == 0;
}

Registry::Registry(const Options& options) : user_(options.user), tls_(options.tls) {
  address_ = "127.0.0.1:" + std::to_string(freePort());
  auto config = dir_.path() + "/config.yml";
  std::ofstream c(config);
  c << "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
    << "storage:\n  filesystem:\n    rootdirectory: " << dir_.path() << "/data\n"
    << "  delete:\n    enabled: true\n"
    << "http:\n  addr: " << address_ << "\n  secret: test\n";
  if (!user_.empty()) {
    auto colon = user_.find(':');
    auto hash = run({"/usr/bin/python3", "-W", "ignore", "-c",
                     "import crypt,sys; print(crypt.crypt(sys.argv[1], "
                     "crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))",
                     user_.substr(colon + 1)});
    std::ofstream(dir_.path() + "/htpasswd") << user_.substr(0, colon) << ":" << hash.out;
    c << "auth:\n  htpasswd:\n    realm: test\n    path: " << dir_.path() << "/htpasswd\n";
  }
  if (tls_) {
    // A CA of the test's own, and a certificate it signed for 127.0.0.1.
    auto d = dir_.path();
    auto ca = run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                   "1", "-subj", "/CN=test CA", "-keyout", d + "/ca.key", "-out", d + "/ca.pem"});
    EXPECT_EQ(ca.status, 0) << ca.err;
    auto csr = run({"/usr/bin/openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=127.0.0.1", "-keyout", d + "/key.pem", "-out", d + "/cert.csr"});
    EXPECT_EQ(csr.status, 0) << csr.err;
    std::ofstream(d + "/san.cnf") << "subjectAltName=IP:127.0.0.1\n";
    auto cert = run({"/usr/bin/openssl", "x509", "-req", "-in", d + "/cert.csr", "-CA",
                     d + "/ca.pem", "-CAkey", d + "/ca.key", "-CAcreateserial", "-days", "1",
                     "-extfile", d + "/san.cnf", "-out", d + "/cert.pem"});
    EXPECT_EQ(cert.status, 0) << cert.err;
    c << "  tls:\n    certificate: " << d << "/cert.pem\n    key: " << d << "/key.pem\n";
  }
  c.close();
  child_ =
      std::make_unique<Child>(std::vector<std::string>{"/usr/bin/docker-registry", "serve", config},
                              dir_.path() + "/registry.log");
  up_ = waitFor([&]() { return answers(address_, user_, tls_); });
}

std::string Registry::push(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/python3", sourcePath("scripts/push-image.py"),
                                   args.at(0), address_ + "/" + args.at(1)};
  argv.insert(argv.end(), args.begin() + 2, args.end());
  if (!user_.empty()) {
    argv.push_back("--user");
    argv.push_back(user_);
  }
  if (tls_) argv.push_back("--https");
  auto r = run(argv);
  EXPECT_EQ(r.status, 0) << r.err;
  auto digest = r.out;
  while (!digest.empty() && digest.back() == '\n') digest.pop_back();
  return digest;
}

RegistryProxy::RegistryProxy(const std::string& upstream, const std::vector<std::string>& flags)
    : upstream_(upstream), flags_(flags), port_(freePort()) {
  address_ = "127.0.0.1:" + std::to_string(port_);
}

bool RegistryProxy::start() {
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   sourcePath("tests/integration/registry-proxy.py"),
                                   "--port",
                                   std::to_string(port_),
                                   "--upstream",
                                   upstream_,
                                   "--log",
                                   dir_.path() + "/requests.log"};
  argv.insert(argv.end(), flags_.begin(), flags_.end());
  child_ = std::make_unique<Child>(argv, dir_.path() + "/proxy.log");
  return waitFor([&]() {
    auto code = run({"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                     "http://" + address_ + "/v2/"});
    return code.out == "200" || code.out == "401";
  });
}

void RegistryProxy::kill() {
  if (child_) child_->stop(9);
}

}  // namespace ctrd::test
