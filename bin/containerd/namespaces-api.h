// Namespaces admin: create, list, label and remove tenants. A namespace also comes into being on
// its first write; removing one is refused while it holds anything, naming what.
#pragma once

#include <schema/containerd.capnp.h>

#include "api.h"

namespace ctrd {

class NamespacesAdmin final : public schema::Namespaces::Server {
public:
  explicit NamespacesAdmin(Backends& backends) : backends(backends) {}

  kj::Promise<void> get(GetContext context) override;
  kj::Promise<void> list(ListContext context) override;
  kj::Promise<void> create(CreateContext context) override;
  kj::Promise<void> update(UpdateContext context) override;
  kj::Promise<void> delete_(DeleteContext context) override;

private:
  Backends& backends;

  NamespaceRecord require(kj::StringPtr name);
  kj::Promise<bool> holdsSnapshots(kj::StringPtr name);
};

}  // namespace ctrd
