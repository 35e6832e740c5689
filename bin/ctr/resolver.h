// How ctr reaches a registry, as containerd 1.6's ctr does: a hosts directory (hosts.toml per
// registry host), --plain-http, --skip-verify, and credentials from --user or a Docker
// config.json. Files are read here, by the user's own process; the daemon gets the contents.
#pragma once

#include <schema/distribution.capnp.h>

#include <string>

namespace ctrd::ctr {

struct ResolverFlags {
  std::string hostsDir;
  bool plainHttp = false;
  bool skipVerify = false;
  std::string user;  // "name:secret", or "name" to be asked for the secret
};

void fillResolverConfig(schema::ResolverConfig::Builder out, const ResolverFlags& flags,
                        kj::StringPtr host);
// `host` as a reference names it ("127.0.0.1:5000", "docker.io"). Throws `invalid argument`
// naming the file and what is wrong with it.

}  // namespace ctrd::ctr
