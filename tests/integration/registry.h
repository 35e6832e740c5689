// A real registry for tests: Debian's docker-registry on 127.0.0.1, storage in a temporary
// directory, optionally behind basic auth; images pushed with scripts/push-image.py; and a
// misbehaving proxy in front of it (tests/integration/registry-proxy.py).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "harness.h"

namespace ctrd::test {

class Registry {
public:
  struct Options {
    std::string user;  // "name:password": basic auth (htpasswd, bcrypt)
    bool tls = false;  // HTTPS with a certificate for 127.0.0.1 from a CA of its own
  };
  explicit Registry(const Options& options);
  Registry() : Registry(Options{}) {}

  static bool available();
  // docker-registry is installed.
  bool up() const { return up_; }
  const std::string& address() const { return address_; }
  std::string caPath() const { return dir_.path() + "/ca.pem"; }

  std::string push(const std::vector<std::string>& args);
  // Runs push-image.py with `args` (`image|busybox|index REF ...`, REF relative to this
  // registry) and returns the manifest digest it printed; fails the test on an error.

private:
  TempDir dir_;
  std::string address_;
  std::string user_;
  bool tls_;
  std::unique_ptr<Child> child_;
  bool up_ = false;
};

class RegistryProxy {
public:
  RegistryProxy(const std::string& upstream, const std::vector<std::string>& flags);
  bool start();
  // Always on the same port: a restart keeps the address references name.
  void setFlags(const std::vector<std::string>& flags) { flags_ = flags; }
  void kill();
  bool running() const { return child_ && child_->running(); }
  const std::string& address() const { return address_; }
  std::string caPath() const { return dir_.path() + "/ca.pem"; }
  std::string log() const { return readFile(dir_.path() + "/requests.log"); }

private:
  TempDir dir_;
  std::string upstream_;
  std::vector<std::string> flags_;
  int port_;
  std::string address_;
  std::unique_ptr<Child> child_;
};

std::string sourcePath(const std::string& relative);
// A path in the source tree.

}  // namespace ctrd::test
