// Tasks of one namespace: each container's running process, through containerd-tasks (which
// makes the bundle and starts the shim) to the container's own shim (which drives runc). The
// caller's stdio capabilities pass along as they are: their fds reach the container, so no
// byte of its output goes through this process.
#pragma once

#include <schema/shim.capnp.h>
#include <schema/tasks.capnp.h>

#include "api.h"

namespace ctrd {

class NamespaceTasks final : public schema::Tasks::Server {
public:
  NamespaceTasks(kj::String ns, Backends& backends) : ns(kj::mv(ns)), backends(backends) {}

  kj::Promise<void> create(CreateContext context) override;
  kj::Promise<void> start(StartContext context) override;
  kj::Promise<void> delete_(DeleteContext context) override;
  kj::Promise<void> get(GetContext context) override;
  kj::Promise<void> list(ListContext context) override;
  kj::Promise<void> kill(KillContext context) override;
  kj::Promise<void> exec(ExecContext context) override;
  kj::Promise<void> closeIo(CloseIoContext context) override;
  kj::Promise<void> metrics(MetricsContext context) override;
  kj::Promise<void> pause(PauseContext context) override;
  kj::Promise<void> resume(ResumeContext context) override;
  kj::Promise<void> pids(PidsContext context) override;
  kj::Promise<void> wait(WaitContext context) override;
  kj::Promise<void> attach(AttachContext context) override;
  kj::Promise<void> resizePty(ResizePtyContext context) override;
  kj::Promise<void> update(UpdateContext context) override;

private:
  kj::String ns;
  Backends& backends;

  schema::TaskRuntime::Client runtime();
  schema::Shim::Client shim(kj::StringPtr containerId);
  void published(kj::StringPtr topic, kj::StringPtr containerId, kj::StringPtr execId,
                 uint32_t pid);
  void watchExit(kj::StringPtr containerId, kj::StringPtr execId, uint32_t pid);
};

kj::Promise<bool> hasTask(Backends& backends, kj::StringPtr ns, kj::StringPtr containerId);
// Whether the container has a task (a bundle with a shim), for the containers service.

}  // namespace ctrd
