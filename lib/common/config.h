// The daemon's configuration: containerd's TOML keys (root, state, [grpc] address, [debug] level)
// plus one [services.NAME] table per service process.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <sandbox/profile.h>
#include <sys/types.h>

#include "rootless.h"

namespace ctrd {

struct ServiceConfig {
  const Profile* profile;
  kj::Maybe<kj::String> user;  // looked up in /etc/passwd when the daemon starts
  kj::Maybe<uid_t> uid;        // numeric ids replace `user`
  kj::Maybe<gid_t> gid;
  kj::Maybe<kj::String> address;  // connect to this running service instead of spawning it
  kj::Maybe<kj::String> path;     // the executable; default: beside `containerd`
};

struct Config {
  kj::String root;
  kj::String state;
  kj::Maybe<kj::String> address;  // default <state>/containerd.sock
  kj::String logLevel;
  kj::Array<ServiceConfig> services;  // one per profile, in allProfiles() order

  kj::String socketAddress() const;
  const ServiceConfig& service(ServiceKind kind) const;
};

Config defaultConfig();

kj::String defaultConfigText();
// What `containerd config default` prints; parsing it gives defaultConfig().

Config parseConfig(kj::StringPtr text, kj::StringPtr sourceName);
// Throws `invalid argument` naming the file, and the line and column where it can.
// Unknown top-level tables (containerd's [plugins] and the like) are logged and ignored.

Config loadConfigFile(kj::StringPtr path);

void makeRootless(Config& config, const RootlessPaths& paths);
// Root's default paths become the user's; no service switches to a uid of its own (only root
// could), and the services that must run as root are left out.

Identity resolveIdentity(const ServiceConfig& service);
// The uid/gid a non-root service runs as: numeric ids if set, else the user's.

}  // namespace ctrd
