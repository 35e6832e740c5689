// The public bootstrap served on <state>/containerd.sock.
#pragma once

#include <kj/vector.h>
#include <schema/containerd.capnp.h>

#include "supervisor.h"

namespace ctrd {

class ContainerdServer final : public schema::Containerd::Server {
public:
  explicit ContainerdServer(kj::ArrayPtr<kj::Own<ServiceProcess>> services) : services(services) {}

  kj::Promise<void> namespace_(NamespaceContext context) override;
  kj::Promise<void> namespaces(NamespacesContext context) override;
  kj::Promise<void> version(VersionContext context) override;
  kj::Promise<void> events(EventsContext context) override;
  kj::Promise<void> plugins(PluginsContext context) override;

private:
  kj::ArrayPtr<kj::Own<ServiceProcess>> services;
};

}  // namespace ctrd
