#include "containers-api.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/filters.h>
#include <common/identifiers.h>
#include <common/snapshot-info.h>
#include <oci/image.h>

#include "snapshots-api.h"
#include "tasks-api.h"

namespace ctrd {
namespace {

constexpr size_t MAX_SPEC = 4 << 20;  // a spec is a few kB; gRPC caps containerd's at 16 MiB
constexpr kj::StringPtr DEFAULT_RUNTIME = "io.containerd.runc.v2"_kj;
constexpr kj::StringPtr DEFAULT_RUNTIME_BINARY = "runc"_kj;

void fillContainer(schema::Container::Builder out, const ContainerRecord& r) {
  out.setId(r.id);
  out.setImage(r.image);
  auto runtime = out.initRuntime();
  runtime.setName(r.runtimeName);
  runtime.setBinary(r.runtimeBinary);
  out.setSpec(r.spec.asBytes());
  out.setSnapshotter(r.snapshotter);
  out.setSnapshotKey(r.snapshotKey);
  fillLabels(out.initLabels(r.labels.size()), r.labels);
  out.setCreatedAt(r.createdAt);
  out.setUpdatedAt(r.updatedAt);
}

kj::String readSpec(kj::StringPtr id, capnp::Data::Reader spec) {
  if (spec.size() == 0) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str("container \"", id, "\": no spec"));
  }
  if (spec.size() > MAX_SPEC) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str("container \"", id, "\": spec of ", spec.size(),
                                                    " bytes, more than ", MAX_SPEC));
  }
  return kj::heapString(reinterpret_cast<const char*>(spec.begin()), spec.size());
}

FieldLookup containerFields(const ContainerRecord& r) {
  return [&r](kj::ArrayPtr<const kj::String> path) -> kj::Maybe<kj::String> {
    if (path.size() == 1 && path[0] == "id") return kj::str(r.id);
    if (path.size() == 1 && path[0] == "image") return kj::str(r.image);
    if (path.size() == 1 && path[0] == "snapshotter") return kj::str(r.snapshotter);
    if (path.size() == 2 && path[0] == "runtime" && path[1] == "name") {
      return kj::str(r.runtimeName);
    }
    if (path.size() >= 2 && path[0] == "labels") {
      KJ_IF_MAYBE(v, r.labels.find(kj::strArray(path.slice(1, path.size()), "."))) {
        return kj::str(*v);
      }
    }
    return nullptr;
  };
}

}  // namespace

ContainerRecord NamespaceContainers::require(kj::StringPtr id) {
  KJ_IF_MAYBE(r, backends.metadata.containers.get(ns, id)) {
    return kj::mv(*r);
  }
  throwError(ErrorKind::NOT_FOUND, kj::str("container \"", id, "\""));
}

kj::Promise<void> NamespaceContainers::get(GetContext context) {
  fillContainer(context.getResults().initContainer(), require(context.getParams().getId()));
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceContainers::list(ListContext context) {
  auto filter = Filter::parse(context.getParams().getFilters());
  kj::Vector<ContainerRecord> matched;
  for (auto& r : backends.metadata.containers.list(ns)) {
    auto lookup = containerFields(r);
    if (filter.matches(lookup)) matched.add(kj::mv(r));
  }
  auto out = context.getResults().initContainers(matched.size());
  for (size_t i = 0; i < matched.size(); i++) fillContainer(out[i], matched[i]);
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceContainers::create(CreateContext context) {
  auto c = context.getParams().getContainer();
  validateIdentifier("container", c.getId());
  int64_t now = nowNanos();
  auto runtime = c.getRuntime();
  auto record = kj::heap<ContainerRecord>(ContainerRecord{
      kj::str(c.getId()), kj::str(c.getImage()),
      kj::str(runtime.getName().size() > 0 ? runtime.getName() : DEFAULT_RUNTIME),
      kj::str(runtime.getBinary().size() > 0 ? runtime.getBinary() : DEFAULT_RUNTIME_BINARY),
      readSpec(c.getId(), c.getSpec()), kj::str(snapshotterOrDefault(c.getSnapshotter())),
      kj::str(c.getSnapshotKey()), readLabels(c.getLabels()), now, now});
  validateLabels(record->labels);
  if (backends.metadata.containers.get(ns, record->id) != nullptr) {
    throwError(ErrorKind::ALREADY_EXISTS, kj::str("container \"", record->id, "\""));
  }
  kj::Promise<void> snapshotChecked = kj::READY_NOW;
  if (record->snapshotKey.size() > 0) {
    // Its root filesystem must be there: a container never names a snapshot it cannot use.
    auto stat = namespaceSnapshots(backends, ns, record->snapshotter).statRequest();
    stat.setKey(record->snapshotKey);
    snapshotChecked = stat.send().ignoreResult();
  }
  auto& r = *record;
  return snapshotChecked
      .then([this, context, &r]() mutable {
        if (!backends.metadata.containers.insert(ns, r)) {
          throwError(ErrorKind::ALREADY_EXISTS, kj::str("container \"", r.id, "\""));
        }
        fillContainer(context.getResults().initContainer(), r);
      })
      .attach(kj::mv(record));
}

kj::Promise<void> NamespaceContainers::update(UpdateContext context) {
  auto params = context.getParams();
  auto given = params.getContainer();
  auto r = require(given.getId());
  auto paths = params.getFieldpaths();
  bool all = paths.size() == 0;
  kj::Vector<kj::String> labelPaths;
  for (auto p : paths) {
    if (p == "spec") {
      r.spec = readSpec(r.id, given.getSpec());
    } else if (p == "image") {
      r.image = kj::str(given.getImage());
    } else if (p == "snapshotkey") {
      r.snapshotKey = kj::str(given.getSnapshotKey());
    } else {
      labelPaths.add(kj::str(p));
    }
  }
  if (all) {
    r.spec = readSpec(r.id, given.getSpec());
    r.image = kj::str(given.getImage());
    r.snapshotKey = kj::str(given.getSnapshotKey());
  }
  if (all || labelPaths.size() > 0) {
    updateLabels(r.labels, readLabels(given.getLabels()), labelPaths.asPtr(),
                 kj::str("container \"", r.id, "\""));
  }
  r.updatedAt = nowNanos();
  backends.metadata.containers.update(ns, r);
  fillContainer(context.getResults().initContainer(), r);
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceContainers::delete_(DeleteContext context) {
  auto params = context.getParams();
  auto r = kj::heap<ContainerRecord>(require(params.getId()));
  auto keep = params.getKeepSnapshot();
  auto& record = *r;
  return hasTask(backends, ns, record.id)
      .then([this, keep, &record](bool running) {
        if (running) {
          throwError(ErrorKind::FAILED_PRECONDITION,
                     kj::str("cannot delete container \"", record.id,
                             "\": it has a task (ctr tasks rm it first)"));
        }
        return removeWithSnapshot(record, keep);
      })
      .attach(kj::mv(r));
}

kj::Promise<void> NamespaceContainers::removeWithSnapshot(const ContainerRecord& record,
                                                          bool keep) {
  const ContainerRecord* r = &record;
  kj::Promise<void> snapshotGone = kj::READY_NOW;
  if (!keep && r->snapshotKey.size() > 0) {
    // The snapshot first: if it cannot go, the record stays and says where it is.
    auto remove = namespaceSnapshots(backends, ns, r->snapshotter).removeRequest();
    remove.setKey(r->snapshotKey);
    snapshotGone = remove.send().ignoreResult().catch_([](kj::Exception&& e) {
      if (errorKind(e) != ErrorKind::NOT_FOUND) kj::throwFatalException(kj::mv(e));
    });
  } else if (r->snapshotKey.size() > 0) {
    // Kept means kept: labelled a root before the record that held it goes, or garbage
    // collection would take it (as containerd's does with --keep-snapshot).
    auto update = namespaceSnapshots(backends, ns, r->snapshotter).updateRequest();
    update.setKey(r->snapshotKey);
    auto label = update.initLabels(1);
    label[0].setKey(oci::labels::GC_ROOT);
    label[0].setValue(formatRfc3339(nowNanos()));
    update.initFieldpaths(1).set(0, kj::str("labels.", oci::labels::GC_ROOT));
    snapshotGone = update.send().ignoreResult().catch_([](kj::Exception&& e) {
      if (errorKind(e) != ErrorKind::NOT_FOUND) kj::throwFatalException(kj::mv(e));
    });
  }
  return snapshotGone.then([this, r]() {
    if (!backends.metadata.containers.remove(ns, r->id)) {
      throwError(ErrorKind::NOT_FOUND, kj::str("container \"", r->id, "\""));
    }
    backends.gc.schedule();
  });
}

}  // namespace ctrd
