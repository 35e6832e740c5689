// A snapshotter as one namespace sees it. containerd-snapshot has one global key space; each
// namespace's keys live in it as "<namespace>/<key>" (a namespace name has no '/'), so tenants
// never see or touch each other's snapshots and may use the same keys.
#pragma once

#include <schema/snapshots.capnp.h>

#include "supervisor.h"

namespace ctrd {

struct Backends;

class NamespaceSnapshots final : public schema::Snapshots::Server {
public:
  NamespaceSnapshots(Backends& backends, kj::StringPtr ns, kj::StringPtr snapshotter,
                     schema::Snapshots::Client inner, kj::Maybe<kj::String> lease);
  // With a lease, what prepare, view and commit make is recorded in it before it is made.

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
  Backends& backends;
  kj::String ns;
  kj::String prefix;
  kj::String snapshotter;
  schema::Snapshots::Client inner;
  kj::Maybe<kj::String> lease;

  kj::String toStore(kj::StringPtr key);
  kj::String fromStore(kj::StringPtr key);
  void stripInfo(schema::SnapshotInfo::Builder info);
  kj::Promise<void> unprefixErrors(kj::Promise<void> promise);
  void hold(kj::StringPtr key);
  kj::Promise<void> changing(kj::Promise<void> promise);
};

schema::Snapshots::Client namespaceSnapshots(Backends& backends, kj::StringPtr ns,
                                             kj::StringPtr snapshotter,
                                             const kj::Maybe<kj::String>& lease = nullptr);

}  // namespace ctrd
