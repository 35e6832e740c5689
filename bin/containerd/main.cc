// containerd: the supervisor. Starts the service processes under their privilege profiles, keeps
// them running, and serves the public API on <state>/containerd.sock.
#include <common/config.h>
#include <common/errors.h>
#include <common/log.h>
#include <common/rpc.h>
#include <common/socket.h>
#include <common/version.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/async-unix.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <limits.h>
#include <pwd.h>
#include <sandbox/profile.h>
#include <sandbox/spawn.h>
#include <sandbox/userns.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "api.h"
#include "supervisor.h"

namespace ctrd {
namespace {

constexpr kj::StringPtr DEFAULT_CONFIG_PATH = "/etc/containerd/config.toml"_kj;

struct Flags {
  std::string config;
  std::string root;
  std::string state;
  std::string address;
  std::string logLevel;
};

void makeDirectory(kj::StringPtr what, kj::StringPtr path, mode_t mode) {
  // mkdir -p, then make sure what is there is a directory we can use.
  for (size_t i = 1; i <= path.size(); i++) {
    if (i < path.size() && path[i] != '/') continue;
    auto prefix = kj::heapString(path.begin(), i);
    if (mkdir(prefix.cStr(), i == path.size() ? mode : 0755) < 0 && errno != EEXIST) {
      throwError(ErrorKind::INVALID_ARGUMENT,
                 kj::str(what, " directory \"", path, "\": ", strerror(errno)));
    }
  }
  int fd = open(path.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(what, " directory \"", path, "\": ", strerror(errno)));
  }
  close(fd);
}

Config loadConfig(const Flags& flags, kj::Maybe<const RootlessPaths&> rootless) {
  Config config = defaultConfig();
  auto defaultPath = DEFAULT_CONFIG_PATH;
  KJ_IF_MAYBE(paths, rootless) {
    defaultPath = paths->config;
  }
  if (!flags.config.empty()) {
    config = loadConfigFile(flags.config.c_str());
  } else if (access(defaultPath.cStr(), F_OK) == 0) {
    config = loadConfigFile(defaultPath);
  }
  KJ_IF_MAYBE(paths, rootless) {
    makeRootless(config, *paths);
  }
  if (!flags.root.empty()) config.root = kj::str(flags.root.c_str());
  if (!flags.state.empty()) config.state = kj::str(flags.state.c_str());
  if (!flags.address.empty()) config.address = kj::str(flags.address.c_str());
  if (!flags.logLevel.empty()) config.logLevel = kj::str(flags.logLevel.c_str());
  if (tryParseLogLevel(config.logLevel) == nullptr) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str("unknown log level \"", config.logLevel, "\""));
  }
  return config;
}

kj::Promise<void> stopSignal(kj::UnixEventPort& port) {
  auto onSignal = [](siginfo_t info) {
    logInfo("received signal ", info.si_signo, " (", sigabbrev_np(info.si_signo), "), stopping");
  };
  return port.onSignal(SIGTERM).then(onSignal).exclusiveJoin(port.onSignal(SIGINT).then(onSignal));
}

kj::Own<UserNamespace> rootlessNamespace() {
  // The user's subordinate ids, or only the user's own.
  uid_t uid = getuid();
  gid_t gid = getgid();
  struct passwd* pw = getpwuid(uid);
  auto name = kj::str(pw != nullptr ? pw->pw_name : "");
  auto uids = subordinateRange("/etc/subuid", name, uid);
  auto gids = subordinateRange("/etc/subgid", name, uid);
  if (uids == nullptr || gids == nullptr) {
    logWarn("rootless: no subordinate ", uids == nullptr ? "uids" : "gids", " for user \"", name,
            "\" in ", uids == nullptr ? "/etc/subuid" : "/etc/subgid", ": only uid ", uid,
            " and gid ", gid,
            " are mapped, and a layer with files of any other owner fails to unpack");
    return UserNamespace::create(uid, gid, nullptr, nullptr);
  }
  auto u = KJ_ASSERT_NONNULL(uids);
  auto g = KJ_ASSERT_NONNULL(gids);
  auto ns = UserNamespace::create(uid, gid, u, g);
  logInfo("rootless: uid 0 is ", uid, ", uids 1-", u.count, " are ", u.start, "-",
          u.start + u.count - 1, " (gids ", g.start, "-", g.start + g.count - 1,
          "); the namespace is held by pid ", ns->holder());
  return ns;
}

int run(const Flags& flags) {
  kj::Maybe<RootlessPaths> rootless;
  if (geteuid() != 0) rootless = rootlessPaths();
  Config config = loadConfig(flags, rootless);
  setLogLevel(KJ_ASSERT_NONNULL(tryParseLogLevel(config.logLevel)));

  makeDirectory("root", config.root, rootless != nullptr ? 0700 : 0711);
  makeDirectory("state", config.state, rootless != nullptr ? 0700 : 0711);
  auto address = config.socketAddress();
  // Bound before any service starts, so that a second daemon fails at once and spawns nothing.
  auto listenFd = listenUnix(address, 0660);
  MetadataStore metadata(kj::str(config.root, "/meta.db"));
  // Made before any thread or event loop: its holder is forked.
  kj::Maybe<kj::Own<UserNamespace>> userns;
  if (rootless != nullptr) userns = rootlessNamespace();

  auto binDir = executableDirectory();
  kj::UnixEventPort::captureChildExit();
  kj::UnixEventPort::captureSignal(SIGTERM);
  kj::UnixEventPort::captureSignal(SIGINT);
  signal(SIGPIPE, SIG_IGN);
  auto io = kj::setupAsyncIo();

  kj::Vector<kj::Own<ServiceProcess>> services;
  for (auto& s : config.services) {
    kj::Maybe<const UserNamespace&> ns;
    KJ_IF_MAYBE(n, userns) {
      ns = **n;
    }
    services.add(
        kj::heap<ServiceProcess>(io, s, binDir, config.root, config.state, config.logLevel, ns));
  }
  auto stopAll = [&]() {
    auto stops = KJ_MAP(s, services) {
      return s->stop();
    };
    kj::joinPromises(kj::mv(stops)).wait(io.waitScope);
  };

  Inflight inflight;
  kj::Maybe<ServiceProcess&> contentService;
  for (auto& s : services) {
    if (s->profile().kind == ServiceKind::CONTENT) contentService = *s;
  }
  auto& content = KJ_ASSERT_NONNULL(contentService);
  BlobDeletions deletions([&content]() { return content.client<schema::ContentStore>(); });
  kj::Maybe<ServiceProcess&> snapshotService;
  for (auto& s : services) {
    if (s->profile().kind == ServiceKind::SNAPSHOT) snapshotService = *s;
  }
  GarbageCollector gc(metadata, content, KJ_ASSERT_NONNULL(snapshotService), deletions,
                      io.provider->getTimer());
  EventBus events;
  metadata.onCommit(
      [&events](kj::ArrayPtr<const Change> changes) { publishCommitted(events, changes); });
  Backends backends{services, metadata, io.provider->getTimer(), inflight, deletions, gc, events};
  KJ_IF_MAYBE(n, userns) {
    backends.namespaceHolder = (*n)->holder();
  }
  auto starts = KJ_MAP(s, services) {
    return s->start();
  };
  KJ_IF_MAYBE(e, kj::runCatchingExceptions(
                     [&]() { kj::joinPromises(kj::mv(starts)).wait(io.waitScope); })) {
    stopAll();
    unlink(address.cStr());
    kj::throwFatalException(kj::mv(*e));
  }

  auto listener = io.lowLevelProvider->wrapListenSocketFd(
      listenFd.release(), kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  // What a sweep cut short (the daemon was killed in it) and leases that expired while it was
  // down: collected once it serves.
  gc.resume();
  logInfo("serving on ", address, " (containerd ", CTRD_VERSION, ", ", services.size(),
          " services)");
  serveListener(kj::mv(listener),
                [&]() -> capnp::Capability::Client { return kj::heap<ContainerdServer>(backends); })
      .exclusiveJoin(stopSignal(io.unixEventPort))
      .wait(io.waitScope);

  stopAll();
  unlink(address.cStr());
  logInfo("stopped");
  return 0;
}

}  // namespace
}  // namespace ctrd

int main(int argc, char** argv) {
  using namespace ctrd;
  setLogSource("containerd");
  Flags flags;
  CLI::App app("containerd: a container runtime daemon of small privilege-separated processes",
               "containerd");
  app.set_version_flag(
      "--version,-v",
      kj::str("containerd containerd-cpp ", CTRD_VERSION, " ", CTRD_REVISION).cStr());
  app.add_option("--config,-c", flags.config, "path to the configuration file");
  app.add_option("--root", flags.root, "where persistent data is kept");
  app.add_option("--state", flags.state, "where transient state (sockets) is kept");
  app.add_option("--address,-a", flags.address, "the public socket");
  app.add_option("--log-level,-l", flags.logLevel, "trace, debug, info, warn, error, fatal");
  auto* configCmd = app.add_subcommand("config", "information about the configuration");
  auto* defaultCmd = configCmd->add_subcommand("default", "print the default configuration");
  configCmd->require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  raiseFileLimit();
  if (defaultCmd->parsed()) {
    auto text = defaultConfigText();
    fwrite(text.begin(), 1, text.size(), stdout);
    return 0;
  }

  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { run(flags); })) {
    fprintf(stderr, "containerd: %s\n", errorMessage(*e).cStr());
    return 1;
  }
  return 0;
}
