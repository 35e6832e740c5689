#include "namespaces-api.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/filters.h>
#include <common/identifiers.h>
#include <common/snapshot-info.h>

#include "snapshots-api.h"

namespace ctrd {
namespace {

void fillNamespace(schema::NamespaceInfo::Builder out, const NamespaceRecord& r) {
  out.setName(r.name);
  fillLabels(out.initLabels(r.labels.size()), r.labels);
}

FieldLookup namespaceFields(const NamespaceRecord& r) {
  return [&r](kj::ArrayPtr<const kj::String> path) -> kj::Maybe<kj::String> {
    if (path.size() == 1 && path[0] == "name") return kj::str(r.name);
    if (path.size() >= 2 && path[0] == "labels") {
      KJ_IF_MAYBE(v, r.labels.find(kj::strArray(path.slice(1, path.size()), "."))) {
        return kj::str(*v);
      }
    }
    return nullptr;
  };
}

}  // namespace

NamespaceRecord NamespacesAdmin::require(kj::StringPtr name) {
  validateIdentifier("namespace", name);
  KJ_IF_MAYBE(r, backends.metadata.namespaces.get(name)) {
    return kj::mv(*r);
  }
  throwError(ErrorKind::NOT_FOUND, kj::str("namespace \"", name, "\""));
}

kj::Promise<void> NamespacesAdmin::get(GetContext context) {
  fillNamespace(context.getResults().initNamespace(), require(context.getParams().getName()));
  return kj::READY_NOW;
}

kj::Promise<void> NamespacesAdmin::list(ListContext context) {
  auto filter = Filter::parse(context.getParams().getFilters());
  kj::Vector<NamespaceRecord> matched;
  for (auto& r : backends.metadata.namespaces.list()) {
    auto lookup = namespaceFields(r);
    if (filter.matches(lookup)) matched.add(kj::mv(r));
  }
  auto out = context.getResults().initNamespaces(matched.size());
  for (size_t i = 0; i < matched.size(); i++) fillNamespace(out[i], matched[i]);
  return kj::READY_NOW;
}

kj::Promise<void> NamespacesAdmin::create(CreateContext context) {
  auto info = context.getParams().getNamespace();
  validateIdentifier("namespace", info.getName());
  auto labels = readLabels(info.getLabels());
  validateLabels(labels);
  int64_t now = nowNanos();
  NamespaceRecord r{kj::str(info.getName()), kj::mv(labels), now, now};
  bool created = backends.metadata.write([&]() { return backends.metadata.namespaces.create(r); });
  if (!created) throwError(ErrorKind::ALREADY_EXISTS, kj::str("namespace \"", r.name, "\""));
  fillNamespace(context.getResults().initNamespace(), r);
  return kj::READY_NOW;
}

kj::Promise<void> NamespacesAdmin::update(UpdateContext context) {
  auto params = context.getParams();
  auto info = params.getNamespace();
  auto given = readLabels(info.getLabels());
  validateLabels(given);
  auto r = backends.metadata.write([&]() {
    auto r = require(info.getName());
    updateLabels(r.labels, given, params.getFieldpaths(), kj::str("namespace \"", r.name, "\""));
    validateLabels(r.labels);
    r.updatedAt = nowNanos();
    backends.metadata.namespaces.setLabels(r.name, r.labels, r.updatedAt);
    return r;
  });
  fillNamespace(context.getResults().initNamespace(), r);
  return kj::READY_NOW;
}

kj::Promise<bool> NamespacesAdmin::holdsSnapshots(kj::StringPtr name) {
  kj::Vector<kj::Promise<bool>> lists;
  for (auto snapshotter : SNAPSHOTTERS) {
    auto snapshots = namespaceSnapshots(backends, name, snapshotter);
    lists.add(snapshots.listRequest().send().then(
        [snapshots](auto response) { return response.getInfos().size() > 0; }));
  }
  return kj::joinPromises(lists.releaseAsArray()).then([](kj::Array<bool> held) {
    for (bool h : held) {
      if (h) return true;
    }
    return false;
  });
}

kj::Promise<void> NamespacesAdmin::delete_(DeleteContext context) {
  auto name = kj::str(context.getParams().getName());
  require(name);
  return holdsSnapshots(name).then([this, name = kj::mv(name)](bool snapshots) {
    backends.metadata.write([&]() {
      // meta.db's tables are checked inside the write: nothing lands in them in between.
      auto held = backends.metadata.namespaces.holdings(name);
      if (snapshots) held.add("snapshots");
      if (held.size() > 0) {
        throwError(ErrorKind::FAILED_PRECONDITION,
                   kj::str("namespace \"", name, "\" must be empty, but it still has ",
                           kj::strArray(held, ", ")));
      }
      if (!backends.metadata.namespaces.remove(name)) {
        throwError(ErrorKind::NOT_FOUND, kj::str("namespace \"", name, "\""));
      }
    });
  });
}

}  // namespace ctrd
