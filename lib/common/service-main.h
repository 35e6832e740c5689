// The one main() of every service process: flags, sandbox, serve.
#pragma once

#include <capnp/capability.h>
#include <kj/async-io.h>
#include <kj/function.h>
#include <kj/io.h>
#include <sandbox/profile.h>
#include <schema/service.capnp.h>

namespace ctrd {

void fillProcessInfo(schema::ProcessInfo::Builder info, kj::StringPtr name);
// This process's identity as the `info` call reports it.

class ServiceInfoServer : public virtual schema::Service::Server {
  // `info` for a service process; service interfaces extend Service and derive from this.
public:
  explicit ServiceInfoServer(const Profile& profile) : profile(profile) {}
  kj::Promise<void> info(InfoContext context) override;

protected:
  const Profile& profile;
};

struct ServiceContext {
  const Profile& profile;
  kj::AsyncIoContext& io;
  kj::Maybe<kj::AutoCloseFd> root;  // --root, opened before the sandbox; the factory takes it
  kj::String rootPath;              // its absolute path, for what must name host paths (mounts)
  bool inUserNamespace = false;     // a rootless daemon's: uid 0 here is the user outside
};

using BootstrapFactory = kj::Function<capnp::Capability::Client(ServiceContext&)>;

int serviceMain(int argc, char** argv, ServiceKind kind, BootstrapFactory makeBootstrap);
// Parses the service flags, takes the socket to serve on (--socket-fd from the supervisor,
// --listen PATH, or systemd's LISTEN_FDS), enters the sandbox of `kind`'s profile, then serves
// `makeBootstrap()` until SIGTERM or, when the supervisor spawned it, until the supervisor goes.

}  // namespace ctrd
