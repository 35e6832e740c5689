#include "service-main.h"

#include <common/rootless.h>
#include <common/version.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/async-unix.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "rpc.h"
#include "socket.h"

namespace ctrd {

void fillProcessInfo(schema::ProcessInfo::Builder info, kj::StringPtr name) {
  info.setName(name);
  info.setVersion(CTRD_VERSION);
  info.setRevision(CTRD_REVISION);
  info.setPid(getpid());
  info.setUid(getuid());
  info.setGid(getgid());
}

kj::Promise<void> ServiceInfoServer::info(InfoContext context) {
  fillProcessInfo(context.getResults().initInfo(), profile.executable);
  return kj::READY_NOW;
}

namespace {

struct ServiceFlags {
  int socketFd = -1;
  std::string listen;
  std::string root;
  std::string user;
  int64_t uid = -1;
  int64_t gid = -1;
  int usernsFd = -1;
  int mntnsFd = -1;
  std::string logLevel = "info";
};

kj::Maybe<Identity> chooseIdentity(const Profile& profile, const ServiceFlags& flags) {
  if (flags.uid >= 0 || flags.gid >= 0) {
    if (flags.uid < 0 || flags.gid < 0) {
      throwError(ErrorKind::INVALID_ARGUMENT, "give both --uid and --gid");
    }
    return Identity{static_cast<uid_t>(flags.uid), static_cast<gid_t>(flags.gid)};
  }
  if (!flags.user.empty()) {
    ServiceConfig s{&profile, kj::str(flags.user.c_str()), nullptr, nullptr, nullptr, nullptr};
    return resolveIdentity(s);
  }
  return nullptr;
}

kj::Promise<void> onStopSignal(kj::UnixEventPort& port, int signum) {
  return port.onSignal(signum).then(
      [](siginfo_t info) { logInfo("received signal ", info.si_signo, ", stopping"); });
}

int serve(const Profile& profile, ServiceFlags& flags, BootstrapFactory& makeBootstrap) {
  int fd = flags.socketFd;
  bool supervised = fd >= 0;
  kj::AutoCloseFd listenFd;
  if (!supervised) {
    KJ_IF_MAYBE(systemdFd, takeSystemdListenFd()) {
      fd = *systemdFd;
      listenFd = kj::AutoCloseFd(fd);
    } else if (!flags.listen.empty()) {
      listenFd = listenUnix(flags.listen.c_str(), 0660);
      fd = listenFd.get();
    } else {
      throwError(ErrorKind::INVALID_ARGUMENT,
                 "nothing to serve on: give --listen PATH, or start it through systemd socket "
                 "activation");
    }
  }

  bool userns = flags.usernsFd >= 0 || flags.mntnsFd >= 0;
  if (userns) {
    // A rootless daemon's: joined before anything is opened, while this is one thread.
    if (flags.usernsFd < 0 || flags.mntnsFd < 0) {
      throwError(ErrorKind::INVALID_ARGUMENT, "give both --userns-fd and --mntns-fd");
    }
    joinNamespaces(flags.usernsFd, flags.mntnsFd);
    close(flags.usernsFd);
    close(flags.mntnsFd);
  }
  auto identity = chooseIdentity(profile, flags);
  kj::Maybe<kj::AutoCloseFd> root;
  kj::String rootPath;
  kj::Vector<int> keep;
  keep.add(fd);
  if (!flags.root.empty()) {
    // Opened while still privileged; from here on the service reaches its store only by this fd.
    int rootFd = open(flags.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootFd < 0) {
      throwError(ErrorKind::INVALID_ARGUMENT,
                 kj::str("root directory \"", flags.root.c_str(), "\": ", strerror(errno)));
    }
    keep.add(rootFd);
    root = kj::AutoCloseFd(rootFd);
    char resolved[PATH_MAX];
    KJ_SYSCALL(realpath(flags.root.c_str(), resolved) != nullptr ? 0 : -1, flags.root.c_str());
    rootPath = kj::str(resolved);
  } else if (profile.storeDirectory.size() > 0) {
    throwError(ErrorKind::INVALID_ARGUMENT, "give --root DIR: where its store lives");
  }
  kj::UnixEventPort::captureSignal(SIGTERM);
  kj::UnixEventPort::captureSignal(SIGINT);
  enterSandbox(profile, identity, keep, userns);

  auto io = kj::setupAsyncIo();
  auto stop =
      onStopSignal(io.unixEventPort, SIGTERM).exclusiveJoin(onStopSignal(io.unixEventPort, SIGINT));
  ServiceContext context{profile, io, kj::mv(root), kj::mv(rootPath), userns};
  // One service object, however many connections reach it.
  capnp::Capability::Client bootstrap = makeBootstrap(context);
  if (supervised) {
    auto stream =
        io.lowLevelProvider->wrapUnixSocketFd(fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    RpcConnection conn(kj::mv(stream), bootstrap);
    logDebug("serving the supervisor");
    conn.onDisconnect()
        .then([]() { logInfo("the supervisor closed its connection, stopping"); })
        .exclusiveJoin(kj::mv(stop))
        .wait(io.waitScope);
  } else {
    auto listener = io.lowLevelProvider->wrapListenSocketFd(
        listenFd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    logInfo("serving on ", flags.listen.empty() ? "the socket from systemd" : flags.listen.c_str());
    serveListener(kj::mv(listener), [&]() { return bootstrap; })
        .exclusiveJoin(kj::mv(stop))
        .wait(io.waitScope);
    if (!flags.listen.empty()) unlink(flags.listen.c_str());
  }
  return 0;
}

}  // namespace

int serviceMain(int argc, char** argv, ServiceKind kind, BootstrapFactory makeBootstrap) {
  const Profile& profile = profileFor(kind);
  setLogSource(profile.executable);
  signal(SIGPIPE, SIG_IGN);

  ServiceFlags flags;
  CLI::App app(kj::str(profile.executable, ": a service process of containerd").cStr(),
               profile.executable.cStr());
  app.set_version_flag("--version,-v",
                       kj::str(profile.executable, " ", CTRD_VERSION, " ", CTRD_REVISION).cStr());
  app.add_option("--socket-fd", flags.socketFd,
                 "serve one connection on this inherited socket (how the supervisor starts it)");
  app.add_option("--listen", flags.listen, "serve on a unix socket at this path");
  app.add_option("--root", flags.root, "the directory of its store");
  app.add_option("--user", flags.user, "run as this user");
  app.add_option("--uid", flags.uid, "run as this uid (with --gid)");
  app.add_option("--gid", flags.gid, "run as this gid (with --uid)");
  app.add_option("--userns-fd", flags.usernsFd,
                 "join this inherited user namespace first (a rootless daemon's), with --mntns-fd");
  app.add_option("--mntns-fd", flags.mntnsFd, "join this inherited mount namespace first");
  app.add_option("--log-level", flags.logLevel, "trace, debug, info, warn or error");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  KJ_IF_MAYBE(level, tryParseLogLevel(flags.logLevel.c_str())) {
    setLogLevel(*level);
  } else {
    fprintf(stderr, "%s: unknown log level \"%s\"\n", profile.executable.cStr(),
            flags.logLevel.c_str());
    return 1;
  }

  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { serve(profile, flags, makeBootstrap); })) {
    fprintf(stderr, "%s: %s\n", profile.executable.cStr(), errorMessage(*e).cStr());
    return 1;
  }
  return 0;
}

}  // namespace ctrd
