// A hosts.toml (containerd's hosts directory format), as ctr reads it for the daemon.
#include <capnp/message.h>
#include <kj/exception.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "resolver.h"

static std::string hostsDir() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/fuzz-hosts-XXXXXX";
    std::string d = mkdtemp(tmpl);
    std::string host = d + "/127.0.0.1:5000";
    mkdir(host.c_str(), 0700);
    return d;
  }();
  return dir;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(hostsDir() + "/127.0.0.1:5000/hosts.toml",
                      std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), size);
  }
  kj::runCatchingExceptions([&]() {
    capnp::MallocMessageBuilder message;
    auto config = message.initRoot<ctrd::schema::ResolverConfig>();
    ctrd::ctr::ResolverFlags flags;
    flags.hostsDir = hostsDir();
    ctrd::ctr::fillResolverConfig(config, flags, "127.0.0.1:5000");
  });
  return 0;
}
