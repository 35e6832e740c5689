#include "api.h"

#include <common/errors.h>
#include <common/identifiers.h>
#include <common/service-main.h>
#include <kj/debug.h>

#include "containers-api.h"
#include "content-api.h"
#include "diff-api.h"
#include "images-api.h"
#include "namespaces-api.h"
#include "snapshots-api.h"
#include "tasks-api.h"

namespace ctrd {

ServiceProcess& Backends::service(ServiceKind kind) {
  for (auto& s : services) {
    if (s->profile().kind == kind) return *s;
  }
  KJ_FAIL_ASSERT("no such service", static_cast<int>(kind));
}

namespace {

class NamespaceServer final : public schema::Namespace::Server {
  // One tenant's view. Each service's capability arrives with the issue that builds it; until
  // then the call says which part is missing.
public:
  NamespaceServer(kj::String name, Backends& backends) : name_(kj::mv(name)), backends(backends) {}

  kj::Promise<void> content(ContentContext context) override {
    context.getResults().setStore(kj::heap<NamespaceContent>(kj::str(name_), backends.metadata,
                                                             backends.service(ServiceKind::CONTENT),
                                                             backends.deletions));
    return kj::READY_NOW;
  }
  kj::Promise<void> snapshots(SnapshotsContext context) override {
    context.getResults().setSnapshots(namespaceSnapshots(
        name_, context.getParams().getSnapshotter(), backends.service(ServiceKind::SNAPSHOT)));
    return kj::READY_NOW;
  }
  kj::Promise<void> images(ImagesContext context) override {
    context.getResults().setImages(kj::heap<NamespaceImages>(kj::str(name_), backends));
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
  kj::Promise<void> leases(LeasesContext) override { return missing("leases"); }
  kj::Promise<void> diff(DiffContext context) override {
    context.getResults().setDiff(kj::heap<NamespaceDiff>(
        kj::str(name_), backends.metadata, backends.service(ServiceKind::CONTENT),
        backends.service(ServiceKind::SNAPSHOT), backends.service(ServiceKind::DIFF),
        backends.deletions));
    return kj::READY_NOW;
  }
  kj::Promise<void> name(NameContext context) override {
    context.getResults().setName(name_);
    return kj::READY_NOW;
  }

private:
  kj::String name_;
  Backends& backends;

  static kj::Promise<void> missing(kj::StringPtr what) {
    return makeError(ErrorKind::NOT_IMPLEMENTED, what);
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

kj::Promise<void> ContainerdServer::events(EventsContext) {
  return makeError(ErrorKind::NOT_IMPLEMENTED, "events");
}

kj::Promise<void> ContainerdServer::version(VersionContext context) {
  auto results = context.getResults();
  fillProcessInfo(results.initDaemon(), "containerd");
  auto list = results.initProcesses(backends.services.size());
  for (size_t i = 0; i < list.size(); i++) backends.services[i]->fillState(list[i]);
  return kj::READY_NOW;
}

kj::Promise<void> ContainerdServer::plugins(PluginsContext context) {
  auto list = context.getResults().initPlugins(backends.services.size());
  for (size_t i = 0; i < list.size(); i++) backends.services[i]->fillState(list[i]);
  return kj::READY_NOW;
}

}  // namespace ctrd
