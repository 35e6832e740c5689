// containerd-snapshot's RPC face: the SnapshotStore and one Snapshots per snapshotter.
#pragma once

#include <common/semaphore.h>
#include <common/service-main.h>
#include <schema/snapshots.capnp.h>

#include "snapshotter.h"

namespace ctrd {

class SnapshotStoreServer final : public schema::SnapshotStore::Server, public ServiceInfoServer {
public:
  SnapshotStoreServer(kj::AutoCloseFd root, kj::StringPtr rootPath);
  // Opens (creating) <root>/overlayfs and <root>/native and their metadata.

  kj::Promise<void> snapshotter(SnapshotterContext context) override;

private:
  kj::Own<Snapshotter> overlay;
  kj::Own<Snapshotter> native;
  Semaphore workers;  // tree copies and walks on threads of their own, at most 2 per core
};

void fillMounts(capnp::List<schema::Mount>::Builder out, kj::ArrayPtr<const MountSpec> mounts);
void fillSnapshotInfo(schema::SnapshotInfo::Builder out, const SnapshotRecord& record);

}  // namespace ctrd
