#include "leases-api.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/filters.h>
#include <common/identifiers.h>
#include <kj/encoding.h>
#include <oci/image.h>
#include <sys/random.h>

namespace ctrd {
namespace {

void fillLease(schema::Lease::Builder out, const LeaseRecord& r) {
  out.setId(r.id);
  out.setCreatedAt(r.createdAt);
  fillLabels(out.initLabels(r.labels.size()), r.labels);
}

FieldLookup leaseFields(const LeaseRecord& r) {
  return [&r](kj::ArrayPtr<const kj::String> path) -> kj::Maybe<kj::String> {
    if (path.size() == 1 && path[0] == "id") return kj::str(r.id);
    if (path.size() >= 2 && path[0] == "labels") {
      KJ_IF_MAYBE(v, r.labels.find(kj::strArray(path.slice(1, path.size()), "."))) {
        return kj::str(*v);
      }
    }
    return nullptr;
  };
}

LeaseResource readResource(schema::Resource::Reader r) {
  LeaseResource out{kj::str(r.getType()), kj::str(r.getId())};
  LeaseTable::validateResource(out);
  return out;
}

}  // namespace

void fillGcReport(schema::GcReport::Builder out, const GcReport& r) {
  out.setBlobs(r.blobs);
  out.setBlobsFreed(r.blobsFreed);
  out.setBytesFreed(r.bytesFreed);
  out.setSnapshots(r.snapshots);
  out.setLeases(r.leases);
  out.setNanoseconds(r.nanoseconds);
  out.setLongestPause(r.longestPause);
}

kj::String newLeaseId() {
  kj::byte random[6];
  KJ_SYSCALL(getrandom(random, sizeof(random), 0));
  return kj::str(nowNanos(), "-", kj::encodeHex(random));
}

LeaseRecord NamespaceLeases::require(kj::StringPtr id) {
  validateIdentifier("lease", id);
  KJ_IF_MAYBE(r, backends.metadata.leases.get(ns, id)) {
    return kj::mv(*r);
  }
  throwError(ErrorKind::NOT_FOUND, kj::str("lease \"", id, "\""));
}

kj::Promise<void> NamespaceLeases::create(CreateContext context) {
  auto params = context.getParams();
  auto id = params.getId().size() > 0 ? kj::str(params.getId()) : newLeaseId();
  validateIdentifier("lease", id);
  LeaseRecord r{kj::mv(id), readLabels(params.getLabels()), nowNanos()};
  if (!backends.metadata.leases.create(ns, r)) {
    throwError(ErrorKind::ALREADY_EXISTS, kj::str("lease \"", r.id, "\""));
  }
  KJ_IF_MAYBE(at, LeaseTable::expiry(r)) {
    backends.gc.expiresAt(*at);
  }
  fillLease(context.getResults().initLease(), r);
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceLeases::delete_(DeleteContext context) {
  auto params = context.getParams();
  auto id = params.getId();
  validateIdentifier("lease", id);
  if (!backends.metadata.leases.remove(ns, id)) {
    throwError(ErrorKind::NOT_FOUND, kj::str("lease \"", id, "\""));
  }
  if (!params.getSync()) {
    backends.gc.schedule();
    return kj::READY_NOW;
  }
  return backends.gc.collect().then(
      [context](GcReport report) mutable { fillGcReport(context.getResults().initGc(), report); });
}

kj::Promise<void> NamespaceLeases::list(ListContext context) {
  auto filter = Filter::parse(context.getParams().getFilters());
  kj::Vector<LeaseRecord> matched;
  for (auto& r : backends.metadata.leases.list(ns)) {
    auto fields = leaseFields(r);
    if (filter.matches(fields)) matched.add(kj::mv(r));
  }
  auto out = context.getResults().initLeases(matched.size());
  for (size_t i = 0; i < matched.size(); i++) fillLease(out[i], matched[i]);
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceLeases::addResource(AddResourceContext context) {
  auto params = context.getParams();
  auto resource = readResource(params.getResource());
  require(params.getId());
  backends.metadata.leases.addResource(ns, params.getId(), resource);
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceLeases::deleteResource(DeleteResourceContext context) {
  auto params = context.getParams();
  auto resource = readResource(params.getResource());
  require(params.getId());
  backends.metadata.leases.removeResource(ns, params.getId(), resource);
  backends.gc.schedule();
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceLeases::listResources(ListResourcesContext context) {
  auto id = context.getParams().getId();
  require(id);
  auto resources = backends.metadata.leases.resources(ns, id);
  auto out = context.getResults().initResources(resources.size());
  for (size_t i = 0; i < resources.size(); i++) {
    out[i].setType(resources[i].type);
    out[i].setId(resources[i].id);
  }
  return kj::READY_NOW;
}

kj::String takeJobLease(Backends& backends, kj::StringPtr ns, kj::StringPtr kind, Labels labels) {
  constexpr int64_t EXPIRES = 24ll * 3600 * 1000000000;
  LeaseRecord r{kj::str(kind, "-", newLeaseId()), kj::mv(labels), nowNanos()};
  setLabel(r.labels, kj::str(oci::labels::GC_EXPIRE), formatRfc3339(r.createdAt + EXPIRES));
  backends.metadata.leases.create(ns, r);
  backends.gc.expiresAt(r.createdAt + EXPIRES);
  return kj::mv(r.id);
}

void dropJobLease(Backends& backends, kj::StringPtr ns, kj::Maybe<kj::String>& lease) {
  KJ_IF_MAYBE(id, lease) {
    backends.metadata.leases.remove(ns, *id);
  }
  lease = nullptr;
  backends.gc.schedule();
}

}  // namespace ctrd
