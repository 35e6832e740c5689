// The supervisor's view of one service process: spawn it under its profile (or dial it when it
// runs on its own), wait until it answers, restart it with backoff when it dies.
#pragma once

#include <capnp/message.h>
#include <common/config.h>
#include <common/rpc.h>
#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <sandbox/userns.h>
#include <schema/containerd.capnp.h>
#include <schema/service.capnp.h>
#include <sys/types.h>

namespace ctrd {

class RestartPolicy {
  // When to start a service again after it died: at once is never right (a crash loop would
  // spin), so the first wait is short and each next one doubles up to a ceiling; a process that
  // lived long enough to be called stable starts the sequence over.
public:
  static constexpr kj::Duration FIRST = 100 * kj::MILLISECONDS;
  static constexpr kj::Duration STABLE_AFTER = 10 * kj::SECONDS;
  explicit RestartPolicy(kj::Duration ceiling) : ceiling(ceiling) {}

  kj::Duration delayAfter(kj::Duration livedFor);
  // The wait before the next start, for a process that ran `livedFor` (or a dial that failed
  // after that long).

private:
  kj::Duration ceiling;
  kj::Duration next = FIRST;
};

class ServiceProcess {
public:
  ServiceProcess(kj::AsyncIoContext& io, const ServiceConfig& config, kj::StringPtr binDir,
                 kj::StringPtr rootDir, kj::StringPtr stateDir, kj::StringPtr logLevel,
                 kj::Maybe<const UserNamespace&> userns = nullptr);
  // With `userns` the daemon is rootless: the service runs as the user, and one whose profile
  // holds any capability joins that namespace first (its capabilities mean something there).
  KJ_DISALLOW_COPY(ServiceProcess);
  ~ServiceProcess() noexcept(false);

  kj::Promise<void> start();
  // The first start: resolves once the service answered `info`, and from then on supervises it.
  // Rejects, naming the service and the reason, if it could not be spawned or dialed, exited,
  // or did not answer in time.

  kj::Promise<void> stop();
  // SIGTERM, then SIGKILL if it has not exited after a grace period. No restart follows.

  void fillState(schema::ProcessState::Builder state);

  template <typename T>
  typename T::Client client() {
    // The service's bootstrap, while it runs; `unavailable` while it is being restarted.
    KJ_IF_MAYBE(cap, bootstrapCap) {
      if (state == State::RUNNING) return cap->castAs<T>();
    }
    throwUnavailable();
  }

  const Profile& profile() const { return *config.profile; }

  uint64_t generation() const { return generation_; }
  // Which connection to the service clients get now: it grows at every (re)connection. Work
  // keyed with it is never joined by callers that came after a restart, whose capabilities
  // reach the new process (the old work's reach the dead one and will fail).

private:
  enum class State { STARTING, RUNNING, RESTARTING, UNAVAILABLE };

  kj::AsyncIoContext& io;
  const ServiceConfig& config;
  kj::String executable;
  kj::Maybe<kj::String> storeDir;  // <root>/<profile.storeDirectory>, made and chowned by us
  kj::String logLevel;
  kj::Maybe<Identity> identity;
  kj::Maybe<const UserNamespace&> userns;

  State state = State::STARTING;
  kj::Maybe<pid_t> childPid;  // KJ nulls it once the child is reaped
  kj::Maybe<kj::ForkedPromise<int>> childExit;
  kj::Own<RpcClient> connection;
  kj::Maybe<capnp::Capability::Client> bootstrapCap;
  kj::Own<capnp::MallocMessageBuilder> lastInfo;
  uint32_t restarts = 0;
  uint64_t generation_ = 0;
  kj::String lastError;
  RestartPolicy restartPolicy;
  kj::TimePoint launchedAt;
  bool stopping = false;
  kj::Promise<void> supervision = nullptr;

  kj::Promise<void> launch();
  // Spawn (or dial) and wait for the first `info` answer.
  kj::Promise<kj::String> gone();
  // Resolves with why the running service went away.
  kj::Promise<void> supervise();
  kj::Promise<void> recover(kj::String why);
  void spawn();
  void prepareStoreDirectory(kj::StringPtr path);
  [[noreturn]] void throwUnavailable();
  kj::Promise<void> handshake();
  kj::Promise<void> reapAfterFailedLaunch(kj::Exception&& e);
};

kj::String describeWaitStatus(int status);
// "exited with status 1", "killed by signal 9 (KILL)".

}  // namespace ctrd
