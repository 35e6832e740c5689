// The public bootstrap served on <state>/containerd.sock.
#pragma once

#include <common/inflight.h>
#include <kj/timer.h>
#include <kj/vector.h>
#include <schema/containerd.capnp.h>

#include "blob-deletions.h"
#include "events.h"
#include "gc.h"
#include "metadata/store.h"
#include "supervisor.h"

namespace ctrd {

struct Backends {
  // What the public API is served from: the service processes and meta.db.
  kj::ArrayPtr<kj::Own<ServiceProcess>> services;
  MetadataStore& metadata;
  kj::Timer& timer;
  Inflight& inflight;
  BlobDeletions& deletions;
  GarbageCollector& gc;
  EventBus& events;
  pid_t namespaceHolder = 0;  // rootless: the process holding the daemon's user namespace

  ServiceProcess& service(ServiceKind kind);
};

class ContainerdServer final : public schema::Containerd::Server {
public:
  explicit ContainerdServer(Backends& backends) : backends(backends) {}

  kj::Promise<void> namespace_(NamespaceContext context) override;
  kj::Promise<void> namespaces(NamespacesContext context) override;
  kj::Promise<void> version(VersionContext context) override;
  kj::Promise<void> events(EventsContext context) override;
  kj::Promise<void> plugins(PluginsContext context) override;
  kj::Promise<void> collectGarbage(CollectGarbageContext context) override;
  kj::Promise<void> userNamespace(UserNamespaceContext context) override;

private:
  Backends& backends;
};

}  // namespace ctrd
