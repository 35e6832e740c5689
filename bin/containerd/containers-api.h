// Container records of one namespace (meta.db). A container is metadata: its spec, its runtime,
// the snapshot that is its root filesystem; deleting it removes that snapshot unless told not to.
#pragma once

#include <schema/containers.capnp.h>

#include "api.h"

namespace ctrd {

class NamespaceContainers final : public schema::Containers::Server {
public:
  NamespaceContainers(kj::String ns, Backends& backends) : ns(kj::mv(ns)), backends(backends) {}

  kj::Promise<void> get(GetContext context) override;
  kj::Promise<void> list(ListContext context) override;
  kj::Promise<void> create(CreateContext context) override;
  kj::Promise<void> update(UpdateContext context) override;
  kj::Promise<void> delete_(DeleteContext context) override;

private:
  kj::String ns;
  Backends& backends;

  ContainerRecord require(kj::StringPtr id);
  kj::Promise<void> removeWithSnapshot(const ContainerRecord& record, bool keep);
  // The snapshot first (unless kept): if it cannot go, the record stays and says where it is.
};

}  // namespace ctrd
