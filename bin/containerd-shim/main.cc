// containerd-shim: the per-container process that runs the OCI runtime, holds the task's state
// and reaps its init. containerd-tasks starts it with the listening socket of the task's bundle
// (a 0700 directory under <state>, never an abstract socket) at fd 3; it detaches (a session of
// its own, re-parented to init by a second fork), so it outlives a restart of containerd-tasks,
// and serves the Shim interface until the task is deleted and it is told to shut down.
#include <common/errors.h>
#include <common/log.h>
#include <common/rpc.h>
#include <common/version.h>
#include <fcntl.h>
#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "shim.h"

namespace ctrd {
namespace {

constexpr int LISTEN_FD = 3;

void detach(const std::string& logPath) {
  // The second fork: our parent (containerd-tasks) reaps the first process at once, and this
  // one is re-parented to init, out of its way.
  pid_t pid = fork();
  if (pid < 0) _exit(1);
  if (pid > 0) _exit(0);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  int log = open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (null < 0 || log < 0) _exit(1);
  dup2(null, 0);
  dup2(null, 1);
  dup2(log, 2);
  close(null);
  close(log);
}

}  // namespace
}  // namespace ctrd

int main(int argc, char** argv) {
  using namespace ctrd;
  CLI::App app("containerd-shim: one container's runtime, stdio and exit status",
               "containerd-shim");
  app.set_version_flag("--version,-v",
                       kj::str("containerd-shim ", CTRD_VERSION, " ", CTRD_REVISION).cStr());
  std::string ns, id, bundle, runtime = "runc", runtimeRoot;
  app.add_option("--namespace", ns, "the task's namespace")->required();
  app.add_option("--id", id, "the container's id")->required();
  app.add_option("--bundle", bundle, "the bundle directory (config.json, rootfs)")->required();
  app.add_option("--runtime", runtime, "the OCI runtime: runc, crun or a path");
  app.add_option("--runtime-root", runtimeRoot, "the runtime's state directory (--root)")
      ->required();
  CLI11_PARSE(app, argc, argv);

  detach(bundle + "/shim.log");
  // The container's init is re-parented to us when runc exits: we reap it and keep its status.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  kj::UnixEventPort::captureSignal(SIGCHLD);
  signal(SIGPIPE, SIG_IGN);

  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                auto io = kj::setupAsyncIo();
                auto server = kj::heap<ShimServer>(
                    ShimOptions{kj::str(ns.c_str()), kj::str(id.c_str()), kj::str(bundle.c_str()),
                                kj::str(runtime.c_str()), kj::str(runtimeRoot.c_str())},
                    io.unixEventPort, io.provider->getTimer());
                auto& shim = *server;
                schema::Shim::Client cap = kj::mv(server);
                auto reaper = shim.reap().eagerlyEvaluate(
                    [](kj::Exception&& e) { logError("reaper: ", errorMessage(e)); });
                auto listener = io.lowLevelProvider->wrapListenSocketFd(
                    LISTEN_FD, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
                serveListener(kj::mv(listener), [&]() -> capnp::Capability::Client { return cap; })
                    .exclusiveJoin(shim.onShutdown())
                    .wait(io.waitScope);
                // Let the shutdown reply reach the caller before the process goes.
                io.provider->getTimer().afterDelay(50 * kj::MILLISECONDS).wait(io.waitScope);
              })) {
    logError("containerd-shim ", ns.c_str(), "/", id.c_str(), ": ", errorMessage(*e));
    return 1;
  }
  return 0;
}
