// containerd-diff's RPC face.
#pragma once

#include <common/service-main.h>
#include <schema/diff.capnp.h>

namespace ctrd {

class DifferServer final : public schema::Differ::Server, public ServiceInfoServer {
public:
  DifferServer() : ServiceInfoServer(profileFor(ServiceKind::DIFF)) {}
  kj::Promise<void> apply(ApplyContext context) override;
  kj::Promise<void> diff(DiffContext context) override;
  kj::Promise<void> inherit(InheritContext context) override;
};

}  // namespace ctrd
