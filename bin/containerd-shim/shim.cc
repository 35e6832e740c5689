#include "shim.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/log.h>
#include <common/path.h>
#include <common/rpc.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace ctrd {
namespace {

kj::Promise<kj::Maybe<kj::AutoCloseFd>> streamFd(schema::Stream::Client stream, bool set,
                                                 kj::StringPtr what) {
  if (!set) return kj::Maybe<kj::AutoCloseFd>(nullptr);
  return receiveFd(kj::mv(stream), what).then([](kj::AutoCloseFd fd) {
    return kj::Maybe<kj::AutoCloseFd>(kj::mv(fd));
  });
}

int rawFd(kj::Maybe<kj::AutoCloseFd>& fd) {
  KJ_IF_MAYBE(f, fd) {
    return f->get();
  }
  return -1;
}

}  // namespace

ShimServer::ShimServer(ShimOptions optionsParam, kj::UnixEventPort& port)
    : options(kj::mv(optionsParam)),
      port(port),
      runtime(kj::str(options.runtime), kj::str(options.runtimeRoot), kj::str(options.bundle)),
      shutdownPromise(nullptr) {
  auto paf = kj::newPromiseAndFulfiller<void>();
  shutdownPromise = paf.promise.fork();
  shutdownFulfiller = kj::mv(paf.fulfiller);
}

void ShimServer::requireInit(kj::StringPtr execId) {
  if (execId.size() > 0) {
    throwError(ErrorKind::NOT_IMPLEMENTED, kj::str("exec process \"", execId, "\""));
  }
  if (initPid == 0) {
    throwError(ErrorKind::NOT_FOUND, kj::str("task ", options.id, " has no process yet"));
  }
}

kj::Promise<void> ShimServer::create(CreateContext context) {
  auto params = context.getParams();
  if (initPid != 0) throwError(ErrorKind::ALREADY_EXISTS, kj::str("task ", options.id));
  if (params.getCheckpoint().size() > 0) {
    throwError(ErrorKind::NOT_IMPLEMENTED, "restore from a checkpoint");
  }
  auto stdio = params.getStdio();
  if (stdio.getTerminal()) {
    throwError(ErrorKind::NOT_IMPLEMENTED, "a terminal for the task (-t)");
  }
  struct Fds {
    kj::Maybe<kj::AutoCloseFd> in, out, err;
  };
  auto fds = kj::heap<Fds>();
  auto* f = fds.get();
  auto received = streamFd(stdio.getStdin(), stdio.hasStdin(), "stdin")
                      .then([f, stdio](auto fd) mutable {
                        f->in = kj::mv(fd);
                        return streamFd(stdio.getStdout(), stdio.hasStdout(), "stdout");
                      })
                      .then([f, stdio](auto fd) mutable {
                        f->out = kj::mv(fd);
                        return streamFd(stdio.getStderr(), stdio.hasStderr(), "stderr");
                      })
                      .then([f](auto fd) mutable { f->err = kj::mv(fd); });
  return received
      .then([this, context, f]() mutable {
        // The container's stdio is the caller's own: runc hands these fds to its init as they
        // are. Our copies close when this returns.
        auto pidFile = kj::str(options.bundle, "/init.pid");
        kj::StringPtr args[] = {"create",     "--bundle", options.bundle,
                                "--pid-file", pidFile,    options.id};
        runtime.run(args, RuntimeStdio{rawFd(f->in), rawFd(f->out), rawFd(f->err)});
        int dir;
        KJ_SYSCALL(dir = open(options.bundle.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        kj::AutoCloseFd dirFd(dir);
        auto text = KJ_ASSERT_NONNULL(tryReadSmallFile(dirFd, "init.pid"), "no init.pid");
        initPid = atoi(text.cStr());
        if (initPid <= 0) throwError(ErrorKind::UNKNOWN, kj::str("init.pid: \"", text, "\""));
        status = schema::TaskStatus::CREATED;
        logInfo("task ", options.ns, "/", options.id, " created, pid ", initPid);
        context.getResults().setPid(initPid);
      })
      .attach(kj::mv(fds));
}

kj::Promise<void> ShimServer::start(StartContext context) {
  auto execId = context.getParams().getExecId();
  requireInit(execId);
  if (status != schema::TaskStatus::CREATED) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("task ", options.id, " cannot be started: it is not created"));
  }
  kj::StringPtr args[] = {"start", options.id};
  runtime.run(args);
  if (exitStatus == nullptr) status = schema::TaskStatus::RUNNING;
  context.getResults().setPid(initPid);
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::state(StateContext context) {
  auto execId = context.getParams().getExecId();
  requireInit(execId);
  auto p = context.getResults().initProcess();
  p.setContainerId(options.id);
  p.setPid(initPid);
  p.setStatus(status);
  KJ_IF_MAYBE(s, exitStatus) {
    p.setExitStatus(*s);
    p.setExitedAt(exitedAt);
  }
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::kill(KillContext context) {
  auto params = context.getParams();
  requireInit(params.getExecId());
  if (exitStatus != nullptr) {
    throwError(ErrorKind::NOT_FOUND, kj::str("process already finished"));
  }
  auto signal = kj::str(params.getSignal());
  if (params.getAll()) {
    kj::StringPtr args[] = {"kill", "--all", options.id, signal};
    runtime.run(args);
  } else {
    kj::StringPtr args[] = {"kill", options.id, signal};
    runtime.run(args);
  }
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::delete_(DeleteContext context) {
  requireInit(context.getParams().getExecId());
  if (status == schema::TaskStatus::RUNNING || status == schema::TaskStatus::PAUSED) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("task ", options.id, " must be stopped before deletion: running"));
  }
  // A created task that never started is killed by the delete: wait for its init too.
  kj::StringPtr args[] = {"delete", "--force", options.id};
  runtime.run(args);
  return whenExited().then([this, context]() mutable {
    deleted = true;
    auto results = context.getResults();
    fillExit(results.initExit());
    results.setPid(initPid);
  });
}

kj::Promise<void> ShimServer::wait(WaitContext context) {
  requireInit(context.getParams().getExecId());
  return whenExited().then(
      [this, context]() mutable { fillExit(context.getResults().initExit()); });
}

kj::Promise<void> ShimServer::pause(PauseContext) {
  requireInit("");
  if (status != schema::TaskStatus::RUNNING) {
    throwError(ErrorKind::FAILED_PRECONDITION, kj::str("task ", options.id, " is not running"));
  }
  kj::StringPtr args[] = {"pause", options.id};
  runtime.run(args);
  status = schema::TaskStatus::PAUSED;
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::resume(ResumeContext) {
  requireInit("");
  if (status != schema::TaskStatus::PAUSED) {
    throwError(ErrorKind::FAILED_PRECONDITION, kj::str("task ", options.id, " is not paused"));
  }
  kj::StringPtr args[] = {"resume", options.id};
  runtime.run(args);
  if (exitStatus == nullptr) status = schema::TaskStatus::RUNNING;
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::pids(PidsContext context) {
  requireInit("");
  kj::StringPtr args[] = {"ps", "--format", "json", options.id};
  auto text = runtime.output(args);
  auto list = nlohmann::json::parse(text.cStr(), nullptr, false);
  if (!list.is_array()) throwError(ErrorKind::UNKNOWN, kj::str("runtime ps: \"", text, "\""));
  auto out = context.getResults().initPids(list.size());
  for (size_t i = 0; i < list.size(); i++) {
    out.set(i, list[i].is_number_unsigned() ? list[i].get<uint32_t>() : 0);
  }
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::shutdown(ShutdownContext) {
  if (initPid != 0 && !deleted) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("task ", options.id, " is not deleted: the shim stays"));
  }
  shutdownFulfiller->fulfill();
  return kj::READY_NOW;
}

void ShimServer::fillExit(schema::Exit::Builder out) {
  out.setStatus(KJ_ASSERT_NONNULL(exitStatus));
  out.setExitedAt(exitedAt);
}

kj::Promise<void> ShimServer::whenExited() {
  if (exitStatus != nullptr) return kj::READY_NOW;
  auto paf = kj::newPromiseAndFulfiller<void>();
  waiters.add(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

void ShimServer::initExited(int waitStatus) {
  int code = WIFEXITED(waitStatus)     ? WEXITSTATUS(waitStatus)
             : WIFSIGNALED(waitStatus) ? 128 + WTERMSIG(waitStatus)
                                       : 255;
  exitStatus = code;
  exitedAt = nowNanos();
  status = schema::TaskStatus::STOPPED;
  // On disk before anyone hears of it: a tasks service that restarts reads it from here.
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                int dir;
                KJ_SYSCALL(dir = open(options.bundle.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
                kj::AutoCloseFd dirFd(dir);
                auto text = kj::str(code, " ", exitedAt, "\n");
                writeSmallFile(dirFd, "exit.tmp", text.asBytes());
                KJ_SYSCALL(renameat(dirFd, "exit.tmp", dirFd, "exit"));
              })) {
    logError("task ", options.id, ": cannot record its exit: ", errorMessage(*e));
  }
  logInfo("task ", options.ns, "/", options.id, " exited with status ", code);
  for (auto& w : waiters) w->fulfill();
  waiters.clear();
}

kj::Promise<void> ShimServer::reap() {
  return port.onSignal(SIGCHLD).then([this](siginfo_t) {
    for (;;) {
      int waitStatus;
      pid_t pid = waitpid(-1, &waitStatus, WNOHANG);
      if (pid <= 0) break;
      if (pid == initPid && exitStatus == nullptr) initExited(waitStatus);
    }
    return reap();
  });
}

}  // namespace ctrd
