// A snapshotter as one namespace sees it. containerd-snapshot has one global key space; each
// namespace's keys live in it as "<namespace>/<key>" (a namespace name has no '/'), so tenants
// never see or touch each other's snapshots and may use the same keys.
#pragma once

#include <schema/snapshots.capnp.h>

#include "supervisor.h"

namespace ctrd {

class NamespaceSnapshots final : public schema::Snapshots::Server {
public:
  NamespaceSnapshots(kj::StringPtr ns, schema::Snapshots::Client inner)
      : prefix(kj::str(ns, "/")), inner(kj::mv(inner)) {}

  kj::Promise<void> prepare(PrepareContext context) override;
  kj::Promise<void> view(ViewContext context) override;
  kj::Promise<void> mounts(MountsContext context) override;
  kj::Promise<void> commit(CommitContext context) override;
  kj::Promise<void> rebase(RebaseContext context) override;
  kj::Promise<void> traits(TraitsContext context) override;
  kj::Promise<void> remove(RemoveContext context) override;
  kj::Promise<void> stat(StatContext context) override;
  kj::Promise<void> update(UpdateContext context) override;
  kj::Promise<void> usage(UsageContext context) override;
  kj::Promise<void> list(ListContext context) override;
  kj::Promise<void> cleanup(CleanupContext context) override;
  kj::Promise<void> writableDir(WritableDirContext context) override;

private:
  kj::String prefix;
  schema::Snapshots::Client inner;

  kj::String toStore(kj::StringPtr key);
  kj::String fromStore(kj::StringPtr key);
  void stripInfo(schema::SnapshotInfo::Builder info);
  kj::Promise<void> unprefixErrors(kj::Promise<void> promise);
};

schema::Snapshots::Client namespaceSnapshots(kj::StringPtr ns, kj::StringPtr snapshotter,
                                             ServiceProcess& service);

}  // namespace ctrd
