// One container's shim: drives the OCI runtime for it, is the subreaper its processes are
// re-parented to (the init, and each process exec'd into it), and records the init's exit
// status on disk before anyone is told of it.
#pragma once

#include <kj/async-unix.h>
#include <kj/map.h>
#include <schema/shim.capnp.h>

#include "process-io.h"
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
  ShimServer(ShimOptions options, kj::UnixEventPort& port, kj::Timer& timer);

  kj::Promise<void> create(CreateContext context) override;
  kj::Promise<void> start(StartContext context) override;
  kj::Promise<void> state(StateContext context) override;
  kj::Promise<void> kill(KillContext context) override;
  kj::Promise<void> exec(ExecContext context) override;
  kj::Promise<void> delete_(DeleteContext context) override;
  kj::Promise<void> wait(WaitContext context) override;
  kj::Promise<void> pause(PauseContext context) override;
  kj::Promise<void> resume(ResumeContext context) override;
  kj::Promise<void> pids(PidsContext context) override;
  kj::Promise<void> closeIo(CloseIoContext context) override;
  kj::Promise<void> resizePty(ResizePtyContext context) override;
  kj::Promise<void> attach(AttachContext context) override;
  kj::Promise<void> update(UpdateContext context) override;
  kj::Promise<void> stats(StatsContext context) override;
  kj::Promise<void> shutdown(ShutdownContext context) override;

  kj::Promise<void> onShutdown() { return shutdownPromise.addBranch(); }
  // Resolves once the task is deleted and shutdown() was called: the process may exit.

  kj::Promise<void> reap();
  // Reaps every child that exits (the re-parented processes among them), forever.

private:
  struct Process {
    kj::String execId;  // empty for the init
    pid_t pid = 0;
    schema::TaskStatus status = schema::TaskStatus::CREATED;
    bool reaped = false;
    kj::Maybe<int> exitStatus;  // once its output is drained too
    int64_t exitedAt = 0;
    kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> waiters;
    CallerFds given;                   // the caller's own fds, held until the runtime has them
    kj::Maybe<kj::Own<ProcessIo>> io;  // a terminal, or a detached process's pipes
    kj::Maybe<schema::Stream::Client> caller;  // the attached caller's, until it is attached
    kj::Promise<void> watch = nullptr;         // the attached caller's life
    kj::Promise<void> reporting = nullptr;     // its exit, once its output is out
  };

  ShimOptions options;
  kj::UnixEventPort& port;
  kj::Timer& timer;
  Runtime runtime;
  kj::AutoCloseFd bundleDir;  // where the pid files, exec specs and exit record are
  kj::Maybe<kj::Own<Process>> init;
  kj::HashMap<kj::String, kj::Own<Process>> execs;
  bool deleted = false;
  kj::ForkedPromise<void> shutdownPromise;
  kj::Own<kj::PromiseFulfiller<void>> shutdownFulfiller;

  Process& require(kj::StringPtr execId);
  Process& requireInit();
  kj::Promise<void> receiveStdio(schema::Stdio::Reader stdio, Process& into);
  void runWithStdio(Process& process, kj::Vector<kj::StringPtr>& args, kj::StringPtr consoleName);
  // The runtime command `args` (then the container's id) with the process's stdio: the
  // caller's fds as they are, the pipes' ends, or a console socket named `consoleName`. Starts
  // the process's copier after it, attached to the caller given.
  void attachCaller(Process& process, CallerFds fds, schema::Stream::Client stream);
  void exited(Process& process, int waitStatus);
  kj::Promise<void> whenExited(Process& process);
  void fillExit(Process& process, schema::Exit::Builder out);
};

}  // namespace ctrd
