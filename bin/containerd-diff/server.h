// containerd-diff's RPC face.
#pragma once

#include <common/semaphore.h>
#include <common/service-main.h>
#include <schema/diff.capnp.h>

#include "target-locks.h"

namespace ctrd {

class DifferServer final : public schema::Differ::Server, public ServiceInfoServer {
public:
  DifferServer();
  kj::Promise<void> apply(ApplyContext context) override;
  kj::Promise<void> diff(DiffContext context) override;
  kj::Promise<void> inherit(InheritContext context) override;

private:
  // Every apply, inherit and diff runs on a thread of its own, confined by Landlock to the trees
  // it was handed; at most `workers` at once, and one at a time per target directory.
  Semaphore workers;
  TargetLocks targets;

  template <typename T, typename Func>
  kj::Promise<T> onConfinedWorker(Func&& func);
};

}  // namespace ctrd
