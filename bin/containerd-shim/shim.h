// One container's shim: drives the OCI runtime for it, is the subreaper its init process is
// re-parented to, and records the init's exit status on disk before anyone is told of it.
#pragma once

#include <kj/async-unix.h>
#include <schema/shim.capnp.h>

#include "runc.h"

namespace ctrd {

struct ShimOptions {
  kj::String ns;
  kj::String id;
  kj::String bundle;  // holds config.json, rootfs/, and what the shim writes: init.pid, exit
  kj::String runtime;
  kj::String runtimeRoot;
};

class ShimServer final : public schema::Shim::Server {
public:
  ShimServer(ShimOptions options, kj::UnixEventPort& port);

  kj::Promise<void> create(CreateContext context) override;
  kj::Promise<void> start(StartContext context) override;
  kj::Promise<void> state(StateContext context) override;
  kj::Promise<void> kill(KillContext context) override;
  kj::Promise<void> delete_(DeleteContext context) override;
  kj::Promise<void> wait(WaitContext context) override;
  kj::Promise<void> pause(PauseContext context) override;
  kj::Promise<void> resume(ResumeContext context) override;
  kj::Promise<void> pids(PidsContext context) override;
  kj::Promise<void> shutdown(ShutdownContext context) override;

  kj::Promise<void> onShutdown() { return shutdownPromise.addBranch(); }
  // Resolves once the task is deleted and shutdown() was called: the process may exit.

  kj::Promise<void> reap();
  // Reaps every child that exits (the re-parented init among them), forever.

private:
  ShimOptions options;
  kj::UnixEventPort& port;
  Runtime runtime;
  schema::TaskStatus status = schema::TaskStatus::UNKNOWN;
  pid_t initPid = 0;
  bool deleted = false;
  kj::Maybe<int> exitStatus;  // once the init exited
  int64_t exitedAt = 0;
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> waiters;
  kj::ForkedPromise<void> shutdownPromise;
  kj::Own<kj::PromiseFulfiller<void>> shutdownFulfiller;

  void requireInit(kj::StringPtr execId);
  void initExited(int waitStatus);
  kj::Promise<void> whenExited();
  void fillExit(schema::Exit::Builder out);
};

}  // namespace ctrd
