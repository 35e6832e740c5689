#include "api.h"

#include <common/errors.h>
#include <common/identifiers.h>
#include <common/service-main.h>
#include <kj/debug.h>

#include "containers-api.h"
#include "content-api.h"
#include "diff-api.h"
#include "images-api.h"
#include "leases-api.h"
#include "namespaces-api.h"
#include "snapshots-api.h"
#include "tasks-api.h"

namespace ctrd {

ServiceProcess& Backends::service(ServiceKind kind) {
  for (auto& s : services) {
    if (s->profile().kind == kind) return *s;
  }
  if (kind == ServiceKind::TASKS && namespaceHolder != 0) {
    throwError(ErrorKind::NOT_IMPLEMENTED,
               "containerd-tasks is not running: this daemon is rootless, and running containers "
               "rootless is not implemented (pull, unpack, mount and remove images are)");
  }
  KJ_FAIL_ASSERT("no such service", static_cast<int>(kind));
}

namespace {

class NamespaceServer final : public schema::Namespace::Server {
  // One tenant's view. Each service's capability arrives with the issue that builds it; until
  // then the call says which part is missing.
public:
  NamespaceServer(kj::String name, Backends& backends, kj::Maybe<kj::String> lease = nullptr)
      : name_(kj::mv(name)), backends(backends), lease(kj::mv(lease)) {}

  kj::Promise<void> content(ContentContext context) override {
    context.getResults().setStore(kj::heap<NamespaceContent>(kj::str(name_), backends.metadata,
                                                             backends.service(ServiceKind::CONTENT),
                                                             backends.deletions, leaseId()));
    return kj::READY_NOW;
  }
  kj::Promise<void> snapshots(SnapshotsContext context) override {
    context.getResults().setSnapshots(
        namespaceSnapshots(backends, name_, context.getParams().getSnapshotter(), lease));
    return kj::READY_NOW;
  }
  kj::Promise<void> images(ImagesContext context) override {
    context.getResults().setImages(kj::heap<NamespaceImages>(kj::str(name_), backends, leaseId()));
    return kj::READY_NOW;
  }
  kj::Promise<void> containers(ContainersContext context) override {
    context.getResults().setContainers(kj::heap<NamespaceContainers>(kj::str(name_), backends));
    return kj::READY_NOW;
  }
  kj::Promise<void> tasks(TasksContext context) override {
    context.getResults().setTasks(kj::heap<NamespaceTasks>(kj::str(name_), backends));
    return kj::READY_NOW;
  }
  kj::Promise<void> leases(LeasesContext context) override {
    context.getResults().setLeases(kj::heap<NamespaceLeases>(kj::str(name_), backends));
    return kj::READY_NOW;
  }
  kj::Promise<void> diff(DiffContext context) override {
    context.getResults().setDiff(kj::heap<NamespaceDiff>(kj::str(name_), backends, leaseId()));
    return kj::READY_NOW;
  }
  kj::Promise<void> name(NameContext context) override {
    context.getResults().setName(name_);
    return kj::READY_NOW;
  }
  kj::Promise<void> events(EventsContext context) override {
    context.getResults().setEvents(kj::heap<EventsServer>(backends.events, kj::str(name_)));
    return kj::READY_NOW;
  }
  kj::Promise<void> withLease(WithLeaseContext context) override {
    auto id = context.getParams().getId();
    validateIdentifier("lease", id);
    if (backends.metadata.leases.get(name_, id) == nullptr) {
      throwError(ErrorKind::NOT_FOUND, kj::str("lease \"", id, "\""));
    }
    context.getResults().setNs(kj::heap<NamespaceServer>(kj::str(name_), backends, kj::str(id)));
    return kj::READY_NOW;
  }

private:
  kj::String name_;
  Backends& backends;
  kj::Maybe<kj::String> lease;

  kj::Maybe<kj::String> leaseId() {
    return lease.map([](const kj::String& l) { return kj::str(l); });
  }
};

}  // namespace

kj::Promise<void> ContainerdServer::namespace_(NamespaceContext context) {
  auto name = context.getParams().getName();
  validateIdentifier("namespace", name);
  context.getResults().setNs(kj::heap<NamespaceServer>(kj::str(name), backends));
  return kj::READY_NOW;
}

kj::Promise<void> ContainerdServer::namespaces(NamespacesContext context) {
  context.getResults().setAdmin(kj::heap<NamespacesAdmin>(backends));
  return kj::READY_NOW;
}

kj::Promise<void> ContainerdServer::events(EventsContext context) {
  context.getResults().setEvents(kj::heap<EventsServer>(backends.events, nullptr));
  return kj::READY_NOW;
}

kj::Promise<void> ContainerdServer::collectGarbage(CollectGarbageContext context) {
  return backends.gc.collect().then([context](GcReport report) mutable {
    fillGcReport(context.getResults().initReport(), report);
  });
}

kj::Promise<void> ContainerdServer::version(VersionContext context) {
  auto results = context.getResults();
  fillProcessInfo(results.initDaemon(), "containerd");
  auto list = results.initProcesses(backends.services.size());
  for (size_t i = 0; i < list.size(); i++) backends.services[i]->fillState(list[i]);
  return kj::READY_NOW;
}

kj::Promise<void> ContainerdServer::userNamespace(UserNamespaceContext context) {
  if (backends.namespaceHolder == 0) {
    throwError(ErrorKind::NOT_FOUND, "user namespace: this daemon runs as root, in the host's");
  }
  context.getResults().setHolder(backends.namespaceHolder);
  return kj::READY_NOW;
}

kj::Promise<void> ContainerdServer::plugins(PluginsContext context) {
  auto list = context.getResults().initPlugins(backends.services.size());
  for (size_t i = 0; i < list.size(); i++) backends.services[i]->fillState(list[i]);
  return kj::READY_NOW;
}

}  // namespace ctrd
