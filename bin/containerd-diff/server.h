// containerd-diff's RPC face.
#pragma once

#include <common/semaphore.h>
#include <common/service-main.h>
#include <schema/diff.capnp.h>

#include "layer-applier.h"
#include "target-locks.h"

namespace ctrd {

class DifferServer final : public schema::Differ::Server, public ServiceInfoServer {
public:
  explicit DifferServer(Devices devices = Devices::CREATE);
  // SKIP in a rootless daemon's user namespace, where no device node can be made.
  kj::Promise<void> apply(ApplyContext context) override;
  kj::Promise<void> diff(DiffContext context) override;
  kj::Promise<void> inherit(InheritContext context) override;

private:
  // Every apply, inherit and diff runs on a thread of its own, confined by Landlock to the trees
  // it was handed; at most `workers` at once, and one at a time per target directory.
  Semaphore workers;
  TargetLocks targets;
  Devices devices;

  template <typename T, typename Func>
  kj::Promise<T> onConfinedWorker(Func&& func);
};

}  // namespace ctrd
