#include "shim.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/identifiers.h>
#include <common/log.h>
#include <common/path.h>
#include <common/rpc.h>
#include <common/socket.h>
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

constexpr auto REPORT_WITHOUT_OUTPUT = 2 * kj::SECONDS;
// How long a process's exit waits for the end of its output (a child it left behind may hold
// its pipe) before it is reported all the same.

kj::Promise<kj::Maybe<kj::AutoCloseFd>> streamFd(schema::Stream::Client stream, bool set,
                                                 kj::StringPtr what) {
  if (!set) return kj::Maybe<kj::AutoCloseFd>(nullptr);
  return receiveFd(kj::mv(stream), what).then([](kj::AutoCloseFd fd) {
    return kj::Maybe<kj::AutoCloseFd>(kj::mv(fd));
  });
}

kj::Promise<CallerFds> receiveFds(schema::Stdio::Reader stdio) {
  auto fds = kj::heap<CallerFds>();
  auto* f = fds.get();
  return streamFd(stdio.getStdin(), stdio.hasStdin(), "stdin")
      .then([f, stdio](auto fd) mutable {
        f->in = kj::mv(fd);
        return streamFd(stdio.getStdout(), stdio.hasStdout(), "stdout");
      })
      .then([f, stdio](auto fd) mutable {
        f->out = kj::mv(fd);
        return streamFd(stdio.getStderr(), stdio.hasStderr(), "stderr");
      })
      .then([fds = kj::mv(fds)](auto fd) mutable {
        fds->err = kj::mv(fd);
        return kj::mv(*fds);
      });
}

kj::Maybe<schema::Stream::Client> callerOf(schema::Stdio::Reader stdio) {
  // The stream whose failure tells that the caller is gone: any of them will do.
  if (stdio.hasStdout()) return stdio.getStdout();
  if (stdio.hasStdin()) return stdio.getStdin();
  if (stdio.hasStderr()) return stdio.getStderr();
  return nullptr;
}

int rawFd(kj::Maybe<kj::AutoCloseFd>& fd) {
  KJ_IF_MAYBE(f, fd) {
    return f->get();
  }
  return -1;
}

kj::AutoCloseFd openBundle(kj::StringPtr bundle) {
  int dir;
  KJ_SYSCALL(dir = open(bundle.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return kj::AutoCloseFd(dir);
}

pid_t readPid(int bundleDir, kj::StringPtr file) {
  auto text = KJ_ASSERT_NONNULL(tryReadSmallFile(bundleDir, file), "no pid file", file);
  pid_t pid = atoi(text.cStr());
  if (pid <= 0) throwError(ErrorKind::UNKNOWN, kj::str(file, ": \"", text, "\""));
  return pid;
}

}  // namespace

ShimServer::ShimServer(ShimOptions optionsParam, kj::UnixEventPort& port, kj::Timer& timer)
    : options(kj::mv(optionsParam)),
      port(port),
      timer(timer),
      runtime(kj::str(options.runtime), kj::str(options.runtimeRoot), kj::str(options.bundle)),
      bundleDir(openBundle(options.bundle)),
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
  // A terminal: a pty, the streams given are its attached caller's. None given: detached, on
  // pipes we hold. Otherwise the caller's fds are the process's own.
  bool given = stdio.hasStdin() || stdio.hasStdout() || stdio.hasStderr();
  if (stdio.getTerminal()) {
    into.io = ProcessIo::terminal();
    into.caller = callerOf(stdio);
  } else if (!given) {
    into.io = ProcessIo::pipes();
  }
  auto* p = &into;
  return receiveFds(stdio).then([p](CallerFds fds) { p->given = kj::mv(fds); });
}

void ShimServer::runWithStdio(Process& p, kj::Vector<kj::StringPtr>& args,
                              kj::StringPtr consoleName) {
  RuntimeStdio stdio{rawFd(p.given.in), rawFd(p.given.out), rawFd(p.given.err)};
  kj::Maybe<kj::AutoCloseFd> listener;
  kj::String consolePath;
  KJ_IF_MAYBE(io, p.io) {
    if ((*io)->isTerminal()) {
      // runc sends the pty master it made inside the container here (in our 0700 bundle).
      consolePath = kj::str(options.bundle, "/", consoleName);
      listener = listenUnix(consolePath, 0600);
      args.add("--console-socket");
      args.add(consolePath);
      stdio = {};
    } else {
      stdio = (*io)->containerEnds();
    }
  }
  args.add(options.id);
  KJ_DEFER(if (consolePath.size() > 0) unlink(consolePath.cStr()));
  runtime.run(args, stdio);
  KJ_IF_MAYBE(io, p.io) {
    KJ_IF_MAYBE(l, listener) {
      (*io)->setConsole(receiveConsole(*l));
    }
    (*io)->start();
    KJ_IF_MAYBE(c, p.caller) {
      attachCaller(p, kj::mv(p.given), *c);
      p.caller = nullptr;
    }
  }
  p.given = CallerFds();  // the process has them now
}

void ShimServer::attachCaller(Process& p, CallerFds fds, schema::Stream::Client stream) {
  auto& io = *KJ_ASSERT_NONNULL(p.io);
  auto attachment = io.attach(kj::mv(fds));
  // closed() never returns while the caller lives; when it fails, the caller is gone.
  p.watch = stream.closedRequest()
                .send()
                .ignoreResult()
                .then([]() -> kj::Promise<void> { return kj::NEVER_DONE; })
                .catch_([&io, attachment](kj::Exception&&) { io.detach(attachment); })
                .eagerlyEvaluate(nullptr);
}

kj::Promise<void> ShimServer::create(CreateContext context) {
  auto params = context.getParams();
  if (init != nullptr) throwError(ErrorKind::ALREADY_EXISTS, kj::str("task ", options.id));
  if (params.getCheckpoint().size() > 0) {
    throwError(ErrorKind::NOT_IMPLEMENTED, "restore from a checkpoint");
  }
  auto process = kj::heap<Process>();
  auto& p = *process;
  bool andStart = params.getStart();
  return receiveStdio(params.getStdio(), p)
      .then([this, context, &p, andStart, process = kj::mv(process)]() mutable {
        auto pidFile = kj::str(options.bundle, "/init.pid");
        kj::Vector<kj::StringPtr> args;
        if (andStart) args.addAll(std::initializer_list<kj::StringPtr>{"run", "--detach"});
        if (!andStart) args.add("create");
        args.addAll(std::initializer_list<kj::StringPtr>{"--bundle", options.bundle, "--pid-file",
                                                         pidFile});
        runWithStdio(p, args, "console.sock");
        if (andStart) p.status = schema::TaskStatus::RUNNING;
        p.pid = readPid(bundleDir, "init.pid");
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
  // The process has a terminal when its stdio is one, whatever the spec said.
  auto process = nlohmann::json::parse(spec.begin(), spec.end(), nullptr, false);
  if (!process.is_object()) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str("process ", execId, ": spec is not JSON"));
  }
  process["terminal"] = params.getStdio().getTerminal();
  auto text = process.dump();
  writeSmallFile(bundleDir, kj::str("exec-", execId, ".json"),
                 kj::arrayPtr(reinterpret_cast<const kj::byte*>(text.data()), text.size()));
  auto record = kj::heap<Process>();
  record->execId = kj::str(execId);
  auto& p = *record;
  return receiveStdio(params.getStdio(), p)
      .then([this, execId = kj::mv(execId), process = kj::mv(record)]() mutable {
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
    kj::Vector<kj::StringPtr> args;
    args.addAll(std::initializer_list<kj::StringPtr>{"exec", "--detach", "--pid-file", pidFile,
                                                     "--process", specFile});
    auto console = kj::str("console-", execId, ".sock");
    runWithStdio(p, args, console);
    p.pid = readPid(bundleDir, kj::str("exec-", execId, ".pid"));
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
  // A process on the caller's own fds: its stdin ends when the caller closes its end (an exec
  // not yet started still holds ours, which go now). One on our pipes: ours closes.
  auto& p = require(context.getParams().getExecId());
  p.given.in = nullptr;
  KJ_IF_MAYBE(io, p.io) {
    (*io)->closeStdin();
  }
  return kj::READY_NOW;
}

kj::Promise<void> ShimServer::resizePty(ResizePtyContext context) {
  auto params = context.getParams();
  auto& p = require(params.getExecId());
  KJ_IF_MAYBE(io, p.io) {
    (*io)->resize(params.getWidth(), params.getHeight());  // refused without a terminal
    return kj::READY_NOW;
  }
  throwError(ErrorKind::FAILED_PRECONDITION, "the process has no terminal to resize");
}

kj::Promise<void> ShimServer::attach(AttachContext context) {
  auto params = context.getParams();
  auto& p = require(params.getExecId());
  auto what = params.getExecId().size() > 0 ? kj::str("process ", params.getExecId())
                                            : kj::str("task ", options.id);
  if (p.io == nullptr) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str(what,
                       " writes to its caller's own fds or to its log: it has nothing "
                       "to attach to"));
  }
  if (p.exitStatus != nullptr) {
    throwError(ErrorKind::FAILED_PRECONDITION, kj::str(what, " has exited"));
  }
  auto stdio = params.getStdio();
  auto caller = callerOf(stdio);
  if (caller == nullptr) throwError(ErrorKind::INVALID_ARGUMENT, "attach with no stream given");
  auto* process = &p;
  return receiveFds(stdio).then([this, process, caller = kj::mv(caller)](CallerFds fds) mutable {
    attachCaller(*process, kj::mv(fds), KJ_ASSERT_NONNULL(caller));
  });
}

kj::Promise<void> ShimServer::update(UpdateContext context) {
  // `runc update --resources FILE`: the spec's linux.resources object.
  auto resources = context.getParams().getResources();
  if (resources.size() > MAX_PROCESS_SPEC ||
      !nlohmann::json::parse(resources.begin(), resources.end(), nullptr, false).is_object()) {
    throwError(ErrorKind::INVALID_ARGUMENT, "resources are not a JSON object");
  }
  auto& p = requireInit();
  if (p.exitStatus != nullptr) {
    throwError(ErrorKind::FAILED_PRECONDITION, kj::str("task ", options.id, " is not running"));
  }
  writeSmallFile(bundleDir, "resources.json", resources);
  auto file = kj::str(options.bundle, "/resources.json");
  kj::StringPtr args[] = {"update", "--resources", file, options.id};
  runtime.run(args);
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
  int64_t at = nowNanos();
  p.reaped = true;
  if (p.execId.size() == 0) {
    // On disk before anyone hears of it: a tasks service that restarts reads it from here.
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                  auto text = kj::str(code, " ", at, "\n");
                  writeSmallFile(bundleDir, "exit.tmp", text.asBytes());
                  KJ_SYSCALL(renameat(bundleDir, "exit.tmp", bundleDir, "exit"));
                })) {
      logError("task ", options.id, ": cannot record its exit: ", errorMessage(*e));
    }
  }
  // Reported once its last output is out, so a caller that waits has all of it.
  kj::Promise<void> output = kj::READY_NOW;
  KJ_IF_MAYBE(io, p.io) {
    output = (*io)->drained().exclusiveJoin(timer.afterDelay(REPORT_WITHOUT_OUTPUT));
  }
  p.reporting =
      output
          .then([this, &p, code, at]() {
            p.exitStatus = code;
            p.exitedAt = at;
            p.status = schema::TaskStatus::STOPPED;
            if (p.execId.size() == 0) {
              // The container is gone with its init: so are its exec'd processes.
              for (auto& e : execs) {
                if (e.value->exitStatus == nullptr && e.value->pid == 0) {
                  e.value->exitStatus = 255;
                  e.value->status = schema::TaskStatus::STOPPED;
                }
              }
            }
            logInfo("task ", options.ns, "/", options.id, p.execId.size() > 0 ? " exec " : "",
                    p.execId, " exited with status ", code);
            for (auto& w : p.waiters) w->fulfill();
            p.waiters.clear();
          })
          .eagerlyEvaluate(nullptr);
}

kj::Promise<void> ShimServer::reap() {
  return port.onSignal(SIGCHLD).then([this](siginfo_t) {
    for (;;) {
      int waitStatus;
      pid_t pid = waitpid(-1, &waitStatus, WNOHANG);
      if (pid <= 0) break;
      KJ_IF_MAYBE(p, init) {
        if ((*p)->pid == pid && !(*p)->reaped) {
          exited(**p, waitStatus);
          continue;
        }
      }
      for (auto& e : execs) {
        if (e.value->pid == pid && !e.value->reaped) {
          exited(*e.value, waitStatus);
          break;
        }
      }
    }
    return reap();
  });
}

}  // namespace ctrd
