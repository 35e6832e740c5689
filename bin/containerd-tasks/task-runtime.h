// What containerd-tasks serves: each task's bundle under <state>/tasks/<namespace>/<id>/
// (config.json, the rootfs mounted from the snapshot's mounts, the shim's socket and the files
// it writes), one containerd-shim per task, started detached, and the way back to a running
// shim after a restart of this process.
#pragma once

#include <common/rpc.h>
#include <common/service-main.h>
#include <kj/map.h>
#include <schema/shim.capnp.h>

namespace ctrd {

class TaskRuntimeServer final : public schema::TaskRuntime::Server, public ServiceInfoServer {
public:
  TaskRuntimeServer(ServiceContext& context);

  kj::Promise<void> start(StartContext context) override;
  kj::Promise<void> connect(ConnectContext context) override;
  kj::Promise<void> list(ListContext context) override;
  kj::Promise<void> cleanup(CleanupContext context) override;

private:
  kj::AsyncIoContext& io;
  kj::AutoCloseFd root;
  kj::String rootPath;
  kj::String shimBinary;
  struct ShimConnection {
    kj::Own<RpcClient> rpc;
    bool gone = false;  // the shim hung up (died): never bootstrapped from again
    kj::Promise<void> watch = nullptr;
  };
  kj::HashMap<kj::String, kj::Own<ShimConnection>> shims;  // "<namespace>/<id>" -> its connection

  kj::String bundlePath(kj::StringPtr ns, kj::StringPtr id);
  schema::Shim::Client dial(kj::StringPtr ns, kj::StringPtr id);
  void removeBundle(kj::StringPtr ns, kj::StringPtr id);
  bool forceDelete(int bundleDir, kj::StringPtr ns, kj::StringPtr id);
  // After a shim's death: `<runtime> delete --force` of its container if the runtime still has
  // it; whether it had.
};

}  // namespace ctrd
