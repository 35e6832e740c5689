#include "shim.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/identifiers.h>
#include <common/log.h>
#include <common/path.h>
#include <common/rpc.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace ctrd {
namespace {

constexpr size_t MAX_PROCESS_SPEC = 1 << 20;

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

pid_t readPid(kj::StringPtr bundle, kj::StringPtr file) {
  int dir;
  KJ_SYSCALL(dir = open(bundle.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  kj::AutoCloseFd dirFd(dir);
  auto text = KJ_ASSERT_NONNULL(tryReadSmallFile(dirFd, file), "no pid file", file);
  pid_t pid = atoi(text.cStr());
  if (pid <= 0) throwError(ErrorKind::UNKNOWN, kj::str(file, ": \"", text, "\""));
  return pid;
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

ShimServer::Process& ShimServer::requireInit() {
  KJ_IF_MAYBE(p, init) {
    return **p;
  }
  throwError(ErrorKind::NOT_FOUND, kj::str("task ", options.id, " has no process yet"));
}

ShimServer::Process& ShimServer::require(kj::StringPtr execId) {
  if (execId.size() == 0) return requireInit();
  KJ_IF_MAYBE(p, execs.find(execId)) {
    return **p;
  }
  throwError(ErrorKind::NOT_FOUND, kj::str("process ", execId));
}

kj::Promise<void> ShimServer::receiveStdio(schema::Stdio::Reader stdio, Process& into) {
  if (stdio.getTerminal()) {
    throwError(ErrorKind::NOT_IMPLEMENTED, "a terminal for the process (-t)");
  }
  auto* p = &into;
  return streamFd(stdio.getStdin(), stdio.hasStdin(), "stdin")
      .then([p, stdio](auto fd) mutable {
        p->in = kj::mv(fd);
        return streamFd(stdio.getStdout(), stdio.hasStdout(), "stdout");
      })
      .then([p, stdio](auto fd) mutable {
        p->out = kj::mv(fd);
        return streamFd(stdio.getStderr(), stdio.hasStderr(), "stderr");
      })
      .then([p](auto fd) mutable { p->err = kj::mv(fd); });
}

kj::Promise<void> ShimServer::create(CreateContext context) {
  auto params = context.getParams();
  if (init != nullptr) throwError(ErrorKind::ALREADY_EXISTS, kj::str("task ", options.id));
  if (params.getCheckpoint().size() > 0) {
    throwError(ErrorKind::NOT_IMPLEMENTED, "restore from a checkpoint");
  }
  auto process = kj::heap<Process>();
  auto& p = *process;
  return receiveStdio(params.getStdio(), p)
      .then([this, context, &p, process = kj::mv(process)]() mutable {
        // The init's stdio is the caller's own: runc hands these fds to it as they are. Our
        // copies close when this returns.
        auto pidFile = kj::str(options.bundle, "/init.pid");
        kj::StringPtr args[] = {"create",     "--bundle", options.bundle,
                                "--pid-file", pidFile,    options.id};
        runtime.run(args, RuntimeStdio{rawFd(p.in), rawFd(p.out), rawFd(p.err)});
        p.in = nullptr;
        p.out = nullptr;
        p.err = nullptr;
        p.pid = readPid(options.bundle, "init.pid");
        logInfo("task ", options.ns, "/", options.id, " created, pid ", p.pid);
        context.getResults().setPid(p.pid);
        init = kj::mv(process);  // before the loop turns: its exit is never missed
      });
}

kj::Promise<void> ShimServer::exec(ExecContext context) {
  auto params = context.getParams();
  auto execId = kj::str(params.getExecId());
  validateIdentifier("exec id", execId);
  auto& initProcess = requireInit();
  if (initProcess.status != schema::TaskStatus::RUNNING) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("task ", options.id, " is not running: nothing to exec into"));
  }
  if (execs.find(execId) != nullptr) {
    throwError(ErrorKind::ALREADY_EXISTS, kj::str("process ", execId));
  }
  auto spec = params.getSpec().getJson();
  if (spec.size() == 0 || spec.size() > MAX_PROCESS_SPEC) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str("process ", execId, ": spec of ", spec.size(), " bytes"));
  }
  int dir;
  KJ_SYSCALL(dir = open(options.bundle.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  kj::AutoCloseFd dirFd(dir);
  writeSmallFile(dirFd, kj::str("exec-", execId, ".json"), spec);
  auto process = kj::heap<Process>();
  process->execId = kj::str(execId);
  auto& p = *process;
  return receiveStdio(params.getStdio(), p)
      .then([this, execId = kj::mv(execId), process = kj::mv(process)]() mutable {
        execs.insert(kj::mv(execId), kj::mv(process));
      });
}

kj::Promise<void> ShimServer::start(StartContext context) {
  auto execId = context.getParams().getExecId();
  auto& p = require(execId);
  if (p.status != schema::TaskStatus::CREATED) {
    throwError(
        ErrorKind::FAILED_PRECONDITION,
        kj::str(execId.size() > 0 ? kj::str("process ", execId) : kj::str("task ", options.id),
                " cannot be started: it is not created"));
  }
  if (execId.size() == 0) {
    kj::StringPtr args[] = {"start", options.id};
    runtime.run(args);
  } else {
    // runc exec --detach: the process is re-parented to us, its subreaper, when runc exits.
    auto pidFile = kj::str(options.bundle, "/exec-", execId, ".pid");
    auto specFile = kj::str(options.bundle, "/exec-", execId, ".json");
    kj::StringPtr args[] = {"exec",      "--detach", "--pid-file", pidFile,
                            "--process", specFile,   options.id};
    runtime.run(args, RuntimeStdio{rawFd(p.in), rawFd(p.out), rawFd(p.err)});
    p.in = nullptr;
    p.out = nullptr;
    p.err = nullptr;
    p.pid = readPid(options.bundle, kj::str("exec-", execId, ".pid"));
  }
  if (p.exitStatus == nullptr) p.status = schema::TaskStatus::RUNNING;
  context.getResults().setPid(p.pid);
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::state(StateContext context) {
  auto execId = context.getParams().getExecId();
  auto& p = require(execId);
  auto out = context.getResults().initProcess();
  out.setContainerId(options.id);
  out.setExecId(execId);
  out.setPid(p.pid);
  out.setStatus(p.status);
  KJ_IF_MAYBE(s, p.exitStatus) {
    out.setExitStatus(*s);
    out.setExitedAt(p.exitedAt);
  }
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::kill(KillContext context) {
  auto params = context.getParams();
  auto& p = require(params.getExecId());
  if (p.exitStatus != nullptr) throwError(ErrorKind::NOT_FOUND, "process already finished");
  if (p.execId.size() > 0) {
    if (p.pid == 0) throwError(ErrorKind::FAILED_PRECONDITION, "process not started");
    // Ours to reap, so the pid cannot have been reused while it is unreaped.
    if (::kill(p.pid, params.getSignal()) < 0) KJ_FAIL_SYSCALL("kill", errno, p.pid);
    return kj::READY_NOW;
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
  auto execId = kj::str(context.getParams().getExecId());
  auto& p = require(execId);
  if (p.status == schema::TaskStatus::RUNNING || p.status == schema::TaskStatus::PAUSED) {
    throwError(
        ErrorKind::FAILED_PRECONDITION,
        kj::str(execId.size() > 0 ? kj::str("process ", execId) : kj::str("task ", options.id),
                " must be stopped before deletion: running"));
  }
  if (execId.size() > 0) {
    auto results = context.getResults();
    if (p.exitStatus != nullptr) fillExit(p, results.initExit());
    results.setPid(p.pid);
    execs.erase(execId);
    return kj::READY_NOW;
  }
  // A created task that never started is killed by the delete: wait for its init too.
  kj::StringPtr args[] = {"delete", "--force", options.id};
  runtime.run(args);
  return whenExited(p).then([this, context, &p]() mutable {
    deleted = true;
    auto results = context.getResults();
    fillExit(p, results.initExit());
    results.setPid(p.pid);
  });
}

kj::Promise<void> ShimServer::wait(WaitContext context) {
  auto& p = require(context.getParams().getExecId());
  return whenExited(p).then(
      [this, context, &p]() mutable { fillExit(p, context.getResults().initExit()); });
}

kj::Promise<void> ShimServer::pause(PauseContext) {
  auto& p = requireInit();
  if (p.status != schema::TaskStatus::RUNNING) {
    throwError(ErrorKind::FAILED_PRECONDITION, kj::str("task ", options.id, " is not running"));
  }
  kj::StringPtr args[] = {"pause", options.id};
  runtime.run(args);
  p.status = schema::TaskStatus::PAUSED;
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::resume(ResumeContext) {
  auto& p = requireInit();
  if (p.status != schema::TaskStatus::PAUSED) {
    throwError(ErrorKind::FAILED_PRECONDITION, kj::str("task ", options.id, " is not paused"));
  }
  kj::StringPtr args[] = {"resume", options.id};
  runtime.run(args);
  if (p.exitStatus == nullptr) p.status = schema::TaskStatus::RUNNING;
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::pids(PidsContext context) {
  requireInit();
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

kj::Promise<void> ShimServer::stats(StatsContext context) {
  // `runc events --stats`: one JSON object, the cgroup's counters ({"type":"stats","data":...}).
  auto& p = requireInit();
  if (p.exitStatus != nullptr) {
    throwError(ErrorKind::FAILED_PRECONDITION, kj::str("task ", options.id, " is not running"));
  }
  kj::StringPtr args[] = {"events", "--stats", options.id};
  auto text = runtime.output(args);
  context.getResults().setJson(text.asBytes());
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::closeIo(CloseIoContext context) {
  // The processes hold the caller's own fds: their stdin ends when the caller closes its end.
  // An exec not yet started still holds ours, which go now.
  auto& p = require(context.getParams().getExecId());
  p.in = nullptr;
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::shutdown(ShutdownContext) {
  if (init != nullptr && !deleted) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("task ", options.id, " is not deleted: the shim stays"));
  }
  shutdownFulfiller->fulfill();
  return kj::READY_NOW;
}

void ShimServer::fillExit(Process& p, schema::Exit::Builder out) {
  out.setStatus(KJ_ASSERT_NONNULL(p.exitStatus));
  out.setExitedAt(p.exitedAt);
}

kj::Promise<void> ShimServer::whenExited(Process& p) {
  if (p.exitStatus != nullptr) return kj::READY_NOW;
  auto paf = kj::newPromiseAndFulfiller<void>();
  p.waiters.add(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

void ShimServer::exited(Process& p, int waitStatus) {
  int code = WIFEXITED(waitStatus)     ? WEXITSTATUS(waitStatus)
             : WIFSIGNALED(waitStatus) ? 128 + WTERMSIG(waitStatus)
                                       : 255;
  p.exitStatus = code;
  p.exitedAt = nowNanos();
  p.status = schema::TaskStatus::STOPPED;
  if (p.execId.size() == 0) {
    // On disk before anyone hears of it: a tasks service that restarts reads it from here.
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                  int dir;
                  KJ_SYSCALL(dir = open(options.bundle.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
                  kj::AutoCloseFd dirFd(dir);
                  auto text = kj::str(code, " ", p.exitedAt, "\n");
                  writeSmallFile(dirFd, "exit.tmp", text.asBytes());
                  KJ_SYSCALL(renameat(dirFd, "exit.tmp", dirFd, "exit"));
                })) {
      logError("task ", options.id, ": cannot record its exit: ", errorMessage(*e));
    }
    // The container is gone with its init: so are the processes exec'd into it.
    for (auto& e : execs) {
      if (e.value->exitStatus == nullptr && e.value->pid == 0) {
        e.value->exitStatus = 255;
        e.value->status = schema::TaskStatus::STOPPED;
      }
    }
  }
  logInfo("task ", options.ns, "/", options.id, p.execId.size() > 0 ? " exec " : "", p.execId,
          " exited with status ", code);
  for (auto& w : p.waiters) w->fulfill();
  p.waiters.clear();
}

kj::Promise<void> ShimServer::reap() {
  return port.onSignal(SIGCHLD).then([this](siginfo_t) {
    for (;;) {
      int waitStatus;
      pid_t pid = waitpid(-1, &waitStatus, WNOHANG);
      if (pid <= 0) break;
      KJ_IF_MAYBE(p, init) {
        if ((*p)->pid == pid && (*p)->exitStatus == nullptr) {
          exited(**p, waitStatus);
          continue;
        }
      }
      for (auto& e : execs) {
        if (e.value->pid == pid && e.value->exitStatus == nullptr) {
          exited(*e.value, waitStatus);
          break;
        }
      }
    }
    return reap();
  });
}

}  // namespace ctrd
