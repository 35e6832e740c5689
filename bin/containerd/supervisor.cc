#include "supervisor.h"

#include <common/errors.h>
#include <common/log.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <sandbox/spawn.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ctrd {
namespace {

constexpr kj::Duration MAX_BACKOFF = 30 * kj::SECONDS;  // a spawned service crash-looping
constexpr kj::Duration MAX_REDIAL = 2 * kj::SECONDS;    // an external unit: dialing is cheap
constexpr kj::Duration ANSWER_WITHIN = 10 * kj::SECONDS;
constexpr kj::Duration STOP_GRACE = 5 * kj::SECONDS;

// The fd number a spawned service finds its end of the socketpair at.
constexpr int SERVICE_SOCKET_FD = 3;

kj::String formatDuration(kj::Duration d) {
  return kj::str(static_cast<double>(d / kj::MILLISECONDS) / 1000.0, "s");
}

}  // namespace

kj::Duration RestartPolicy::delayAfter(kj::Duration livedFor) {
  if (livedFor >= STABLE_AFTER) next = FIRST;
  auto delay = next;
  next = kj::min(next * 2, ceiling);
  return delay;
}

kj::String describeWaitStatus(int status) {
  if (WIFEXITED(status)) return kj::str("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return kj::str("killed by signal ", WTERMSIG(status), " (", name ? name : "?", ")");
  }
  return kj::str("stopped with wait status ", status);
}

ServiceProcess::ServiceProcess(kj::AsyncIoContext& io, const ServiceConfig& config,
                               kj::StringPtr binDir, kj::StringPtr rootDir, kj::StringPtr stateDir,
                               kj::StringPtr logLevel, kj::Maybe<const UserNamespace&> userns)
    : io(io),
      config(config),
      executable(kj::str(config.path.orDefault(kj::str(binDir, "/", config.profile->executable)))),
      logLevel(kj::str(logLevel)),
      restartPolicy(config.address == nullptr ? MAX_BACKOFF : MAX_REDIAL),
      launchedAt(io.provider->getTimer().now()),
      userns(userns) {
  if (config.address == nullptr && !config.profile->runsAsRoot && userns == nullptr) {
    identity = resolveIdentity(config);
  }
  if (config.address == nullptr && config.profile->storeDirectory.size() > 0) {
    storeDir = kj::str(config.profile->storeInState ? stateDir : rootDir, "/",
                       config.profile->storeDirectory);
  }
}

void ServiceProcess::prepareStoreDirectory(kj::StringPtr path) {
  // The service owns its store; nobody else may enter it.
  if (mkdir(path.cStr(), 0700) < 0 && errno != EEXIST) {
    throwError(ErrorKind::UNKNOWN, kj::str("store directory \"", path, "\": ", strerror(errno)));
  }
  KJ_IF_MAYBE(id, identity) {
    KJ_SYSCALL(chown(path.cStr(), id->uid, id->gid), path);
  }
  KJ_SYSCALL(chmod(path.cStr(), 0700), path);
}

void ServiceProcess::throwUnavailable() {
  auto what = state == State::STARTING     ? "starting"_kj
              : state == State::RESTARTING ? "restarting"_kj
                                           : "unavailable"_kj;
  throwError(ErrorKind::UNAVAILABLE, kj::str(config.profile->executable, " is ", what));
}

ServiceProcess::~ServiceProcess() noexcept(false) {
  KJ_IF_MAYBE(pid, childPid) {
    kill(*pid, SIGKILL);
  }
}

void ServiceProcess::spawn() {
  int sv[2];
  KJ_SYSCALL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
  kj::AutoCloseFd ours(sv[0]);
  kj::AutoCloseFd theirs(sv[1]);

  kj::Vector<kj::String> args;
  args.add(kj::str(executable));
  args.add(kj::str("--socket-fd"));
  args.add(kj::str(SERVICE_SOCKET_FD));
  args.add(kj::str("--log-level"));
  args.add(kj::str(logLevel));
  KJ_IF_MAYBE(dir, storeDir) {
    prepareStoreDirectory(*dir);
    args.add(kj::str("--root"));
    args.add(kj::str(*dir));
  }
  KJ_IF_MAYBE(id, identity) {
    args.add(kj::str("--uid"));
    args.add(kj::str(id->uid));
    args.add(kj::str("--gid"));
    args.add(kj::str(id->gid));
  }
  kj::Vector<FdMapping> fds;
  fds.add(FdMapping{theirs.get(), SERVICE_SOCKET_FD});
  KJ_IF_MAYBE(ns, userns) {
    if (config.profile->capabilities != 0) {
      fds.add(FdMapping{ns->userFd(), SERVICE_SOCKET_FD + 1});
      fds.add(FdMapping{ns->mountFd(), SERVICE_SOCKET_FD + 2});
      args.add(kj::str("--userns-fd"));
      args.add(kj::str(SERVICE_SOCKET_FD + 1));
      args.add(kj::str("--mntns-fd"));
      args.add(kj::str(SERVICE_SOCKET_FD + 2));
    }
  }
  // Its own process group keeps a terminal's ^C away from it: the supervisor stops it in order.
  kj::StringPtr env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"_kj};
  pid_t pid = 0;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                pid = spawnProcess({executable, args, env, fds, ProcessGroup::OWN_GROUP});
              })) {
    kj::throwFatalException(withContext(kj::str("cannot start ", config.profile->executable), *e));
  }
  childPid = pid;
  // onChildExit must be registered before control returns to the event loop.
  childExit = io.unixEventPort.onChildExit(childPid).fork();
  connection = kj::heap<RpcClient>(io.lowLevelProvider->wrapUnixSocketFd(
      ours.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP));
  logDebug("spawned ", config.profile->executable, " as pid ", pid);
}

kj::Promise<void> ServiceProcess::handshake() {
  auto service = connection->bootstrap<schema::Service>();
  bootstrapCap = service;
  generation_++;
  auto answered = service.infoRequest().send().then([this](auto response) {
    auto message = kj::heap<capnp::MallocMessageBuilder>();
    message->setRoot(response.getInfo());
    lastInfo = kj::mv(message);
  });
  auto timeout = io.provider->getTimer().afterDelay(ANSWER_WITHIN).then([]() -> kj::Promise<void> {
    return makeError(ErrorKind::UNAVAILABLE,
                     kj::str("did not answer within ", formatDuration(ANSWER_WITHIN)));
  });
  return answered.exclusiveJoin(kj::mv(timeout));
}

kj::Promise<void> ServiceProcess::launch() {
  launchedAt = io.provider->getTimer().now();
  lastInfo = nullptr;
  KJ_IF_MAYBE(address, config.address) {
    connection = connectRpc(*io.lowLevelProvider, *address);
    return handshake();
  }
  spawn();
  auto died = KJ_ASSERT_NONNULL(childExit).addBranch().then([](int status) -> kj::Promise<void> {
    return makeError(ErrorKind::UNKNOWN, describeWaitStatus(status));
  });
  return handshake().exclusiveJoin(kj::mv(died)).catch_([this](kj::Exception&& e) {
    return reapAfterFailedLaunch(kj::mv(e));
  });
}

kj::Promise<void> ServiceProcess::reapAfterFailedLaunch(kj::Exception&& e) {
  bootstrapCap = nullptr;
  connection = nullptr;
  bool killed = false;
  KJ_IF_MAYBE(pid, childPid) {
    killed = kill(*pid, SIGKILL) == 0;
  }
  auto exit = KJ_ASSERT_NONNULL(childExit).addBranch();
  return exit.then([killed, e = kj::mv(e)](int status) mutable -> kj::Promise<void> {
    // A process that died on its own explains the failure better than the broken pipe the
    // handshake may have seen first.
    bool diedByItself = !(killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    if (diedByItself) return makeError(ErrorKind::UNKNOWN, describeWaitStatus(status));
    return kj::mv(e);
  });
}

kj::Promise<kj::String> ServiceProcess::gone() {
  if (config.address != nullptr) {
    return connection->onDisconnect().then([this]() {
      return kj::str("connection to ", KJ_ASSERT_NONNULL(config.address), " closed");
    });
  }
  return KJ_ASSERT_NONNULL(childExit).addBranch().then([this](int status) {
    return kj::str("pid ", lastInfo ? lastInfo->getRoot<schema::ProcessInfo>().getPid() : 0, " ",
                   describeWaitStatus(status));
  });
}

kj::Promise<void> ServiceProcess::start() {
  state = State::STARTING;
  return kj::evalNow([this]() { return launch(); })
      .then(
          [this]() -> kj::Promise<void> {
            state = State::RUNNING;
            logInfo(config.profile->executable, " is up (pid ",
                    lastInfo->getRoot<schema::ProcessInfo>().getPid(), ")");
            supervision = supervise().eagerlyEvaluate([this](kj::Exception&& e) {
              logError(config.profile->executable, ": supervision ended: ", errorMessage(e));
            });
            return kj::READY_NOW;
          },
          [this](kj::Exception&& e) -> kj::Promise<void> {
            return withContext(kj::str(config.profile->executable, " failed to start"), e);
          });
}

kj::Promise<void> ServiceProcess::supervise() {
  return gone().then([this](kj::String why) { return recover(kj::mv(why)); });
}

kj::Promise<void> ServiceProcess::recover(kj::String why) {
  if (stopping) return kj::READY_NOW;
  bootstrapCap = nullptr;
  connection = nullptr;
  auto& timer = io.provider->getTimer();
  auto delay = restartPolicy.delayAfter(timer.now() - launchedAt);
  state = config.address == nullptr ? State::RESTARTING : State::UNAVAILABLE;
  lastError = kj::mv(why);
  logError(config.profile->executable, ": ", lastError, "; ",
           config.address == nullptr ? "restarting" : "reconnecting", " in ",
           formatDuration(delay));
  return timer.afterDelay(delay).then([this]() {
    restarts++;
    // evalNow: a dial that fails at once throws here, and must reach the handler below rather
    // than end supervision.
    return kj::evalNow([this]() { return launch(); })
        .then(
            [this]() {
              state = State::RUNNING;
              logInfo(config.profile->executable, " is back (pid ",
                      lastInfo->getRoot<schema::ProcessInfo>().getPid(), ")");
              return supervise();
            },
            [this](kj::Exception&& e) { return recover(kj::str(errorMessage(e))); });
  });
}

kj::Promise<void> ServiceProcess::stop() {
  stopping = true;
  supervision = nullptr;
  bootstrapCap = nullptr;
  connection = nullptr;
  KJ_IF_MAYBE(pid, childPid) {
    kill(*pid, SIGTERM);
    auto exit = KJ_ASSERT_NONNULL(childExit).addBranch().ignoreResult();
    auto escalate = io.provider->getTimer().afterDelay(STOP_GRACE).then([this]() {
      KJ_IF_MAYBE(p, childPid) {
        logWarn(config.profile->executable, " ignored SIGTERM; killing it");
        kill(*p, SIGKILL);
      }
      return KJ_ASSERT_NONNULL(childExit).addBranch().ignoreResult();
    });
    return exit.exclusiveJoin(kj::mv(escalate));
  }
  return kj::READY_NOW;
}

void ServiceProcess::fillState(schema::ProcessState::Builder out) {
  out.setType(config.profile->pluginType);
  if (state == State::RUNNING && lastInfo) {
    out.setInfo(lastInfo->getRoot<schema::ProcessInfo>().asReader());
  } else {
    out.initInfo().setName(config.profile->executable);
  }
  switch (state) {
    case State::STARTING:
      out.setState(schema::ProcessState::State::STARTING);
      break;
    case State::RUNNING:
      out.setState(schema::ProcessState::State::RUNNING);
      break;
    case State::RESTARTING:
      out.setState(schema::ProcessState::State::RESTARTING);
      break;
    case State::UNAVAILABLE:
      out.setState(schema::ProcessState::State::UNAVAILABLE);
      break;
  }
  out.setRestarts(restarts);
  out.setLastError(lastError);
  out.setExternal(config.address != nullptr);
}

}  // namespace ctrd
