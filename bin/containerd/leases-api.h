// Leases for one namespace: create, list and remove them, and which blobs, ingests and
// snapshots each keeps from garbage collection. Removing one lets garbage collection take what
// only it kept (at once with `sync`).
#pragma once

#include <schema/leases.capnp.h>
#include <schema/types.capnp.h>

#include "api.h"

namespace ctrd {

void fillGcReport(schema::GcReport::Builder out, const GcReport& report);

class NamespaceLeases final : public schema::Leases::Server {
public:
  NamespaceLeases(kj::String ns, Backends& backends) : ns(kj::mv(ns)), backends(backends) {}

  kj::Promise<void> create(CreateContext context) override;
  kj::Promise<void> delete_(DeleteContext context) override;
  kj::Promise<void> list(ListContext context) override;
  kj::Promise<void> addResource(AddResourceContext context) override;
  kj::Promise<void> deleteResource(DeleteResourceContext context) override;
  kj::Promise<void> listResources(ListResourcesContext context) override;

private:
  kj::String ns;
  Backends& backends;

  LeaseRecord require(kj::StringPtr id);
};

kj::String takeJobLease(Backends& backends, kj::StringPtr ns, kj::StringPtr kind, Labels labels);
// A lease of a job's own ("<kind>-<id>": a pull, an import), expiring in 24 hours as those of
// containerd's client do: what the job writes is held in it until the images hold it.
void dropJobLease(Backends& backends, kj::StringPtr ns, kj::Maybe<kj::String>& lease);
// Removes it (when there is one) and lets garbage collection look.

kj::String newLeaseId();
// A fresh id for a lease asked without one: the time and random bits, as containerd's.

}  // namespace ctrd
