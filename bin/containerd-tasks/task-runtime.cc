#include "task-runtime.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/identifiers.h>
#include <common/log.h>
#include <common/mount.h>
#include <common/path.h>
#include <common/socket.h>
#include <common/tree.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <limits.h>
#include <oci/runtime-spec.h>
#include <sandbox/spawn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ctrd {
namespace {

constexpr kj::StringPtr RUNTIME_STATE = ".runtime"_kj;  // no namespace name starts with '.'

bool isMountPoint(kj::StringPtr path) {
  struct stat st, parent;
  if (lstat(path.cStr(), &st) < 0) return false;
  if (lstat(kj::str(path, "/..").cStr(), &parent) < 0) return false;
  return st.st_dev != parent.st_dev;
}

}  // namespace

TaskRuntimeServer::TaskRuntimeServer(ServiceContext& context)
    : ServiceInfoServer(context.profile),
      io(context.io),
      root(KJ_ASSERT_NONNULL(kj::mv(context.root), "containerd-tasks needs --root")),
      rootPath(kj::str(context.rootPath)),
      shimBinary(kj::str(executableDirectory(), "/containerd-shim")) {
  makeDirectory(root, RUNTIME_STATE, 0700);
}

kj::String TaskRuntimeServer::bundlePath(kj::StringPtr ns, kj::StringPtr id) {
  return kj::str(rootPath, "/", ns, "/", id);
}

kj::Promise<void> TaskRuntimeServer::start(StartContext context) {
  auto params = context.getParams();
  auto ns = kj::str(params.getNamespace());
  auto container = params.getContainer();
  auto id = kj::str(container.getId());
  validateIdentifier("namespace", ns);
  validateIdentifier("container", id);
  auto specBytes = container.getSpec();
  auto spec = kj::heapString(reinterpret_cast<const char*>(specBytes.begin()), specBytes.size());
  // The spec's process.terminal and the task's stdio agree, or runc fails obscurely later.
  bool wants = oci::specTerminal(spec);
  if (wants && !params.getTerminal()) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               "the container's spec asks for a terminal, but the task was created without one");
  }
  if (!wants && params.getTerminal()) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               "the task was created with a terminal, but the container's spec has none "
               "(process.terminal)");
  }
  auto nsDir = makeDirectory(root, ns, 0711);
  if (mkdirat(nsDir, id.cStr(), 0700) < 0) {
    if (errno == EEXIST) throwError(ErrorKind::ALREADY_EXISTS, kj::str("task ", id));
    KJ_FAIL_SYSCALL("mkdirat", errno, id);
  }
  auto bundle = bundlePath(ns, id);
  // Whatever fails from here leaves no bundle, mount or shim behind.
  KJ_ON_SCOPE_FAILURE(removeBundle(ns, id));
  auto bundleDir = openDirectory(nsDir, id);
  auto rootfs = params.getRootfs();
  if (rootfs.size() > 0) {
    KJ_SYSCALL(mkdirat(bundleDir, "rootfs", 0755));
    mountAll(rootfs, kj::str(bundle, "/rootfs"));
  }
  {
    // A user given by name is resolved now, in the container's own /etc/passwd.
    auto rootPath = oci::specRootPath(spec);
    int fd = openat(bundleDir, rootPath.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      throwError(ErrorKind::INVALID_ARGUMENT,
                 kj::str("root filesystem \"", rootPath, "\": ", strerror(errno)));
    }
    kj::AutoCloseFd rootFd(fd);
    spec = oci::resolveSpecUser(spec, rootFd);
  }
  writeSmallFile(bundleDir, "config.json", spec.asBytes());
  auto socketPath = kj::str(bundle, "/shim.sock");
  auto listener = listenUnix(socketPath, 0600);
  auto runtimeRoot = kj::str(rootPath, "/", RUNTIME_STATE, "/", ns);
  makeDirectory(root, kj::str(RUNTIME_STATE, "/", ns), 0700);
  auto binary =
      kj::str(container.getRuntime().getBinary().size() > 0 ? container.getRuntime().getBinary()
                                                            : "runc"_kj);
  // `not found` here, naming it, rather than from a detached shim; kept for a cleanup after the
  // shim's death.
  writeSmallFile(bundleDir, "runtime", findExecutable(binary).asBytes());
  kj::Vector<kj::String> argv;
  for (kj::StringPtr a :
       {shimBinary.asPtr(), "--namespace"_kj, ns.asPtr(), "--id"_kj, id.asPtr(), "--bundle"_kj,
        bundle.asPtr(), "--runtime"_kj, binary.asPtr(), "--runtime-root"_kj, runtimeRoot.asPtr()}) {
    argv.add(kj::str(a));
  }
  kj::StringPtr env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"_kj};
  FdMapping fds[] = {{listener.get(), 3}};
  pid_t pid = spawnProcess({shimBinary, argv, env, fds, ProcessGroup::OWN_SESSION});
  // The shim forks once more and this first process exits at once: reap it here.
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throwError(ErrorKind::UNKNOWN,
               kj::str("containerd-shim for ", ns, "/", id, " did not start (",
                       WIFEXITED(status) ? "exit status " : "signal ",
                       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), ")"));
  }
  logInfo("task ", ns, "/", id, ": shim started");
  context.getResults().setShim(dial(ns, id));
  return kj::READY_NOW;
}

schema::Shim::Client TaskRuntimeServer::dial(kj::StringPtr ns, kj::StringPtr id) {
  auto key = kj::str(ns, "/", id);
  KJ_IF_MAYBE(existing, shims.find(key)) {
    // A connection whose shim hung up is shut down: bootstrapping from it again would fail
    // inside the RPC system. Dial afresh instead (and fail if the shim is dead).
    if (!(*existing)->gone) return (*existing)->rpc->bootstrap<schema::Shim>();
  }
  auto socketPath = kj::str(bundlePath(ns, id), "/shim.sock");
  if (access(socketPath.cStr(), F_OK) < 0) throwError(ErrorKind::NOT_FOUND, kj::str("task ", id));
  auto connection = kj::heap<ShimConnection>();
  connection->rpc = connectRpc(*io.lowLevelProvider, socketPath);
  auto* c = connection.get();
  connection->watch = c->rpc->onDisconnect()
                          .then([c]() { c->gone = true; }, [c](kj::Exception&&) { c->gone = true; })
                          .eagerlyEvaluate(nullptr);
  auto cap = c->rpc->bootstrap<schema::Shim>();
  shims.upsert(kj::mv(key), kj::mv(connection),
               [](auto& old, auto&& fresh) { old = kj::mv(fresh); });
  return cap;
}

kj::Promise<void> TaskRuntimeServer::connect(ConnectContext context) {
  auto params = context.getParams();
  validateIdentifier("namespace", params.getNamespace());
  validateIdentifier("container", params.getContainerId());
  context.getResults().setShim(dial(params.getNamespace(), params.getContainerId()));
  return kj::READY_NOW;
}

kj::Promise<void> TaskRuntimeServer::list(ListContext context) {
  kj::Vector<kj::String> found;
  for (auto& ns : listDirectory(root)) {
    if (ns.startsWith(".")) continue;
    auto nsDir = openDirectory(root, ns);
    for (auto& id : listDirectory(nsDir)) {
      struct stat st;
      if (fstatat(nsDir, kj::str(id, "/shim.sock").cStr(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        found.add(kj::str(ns, "/", id));
      }
    }
  }
  auto out = context.getResults().initTasks(found.size());
  for (size_t i = 0; i < found.size(); i++) out[i].setContainerId(found[i]);
  return kj::READY_NOW;
}

void TaskRuntimeServer::removeBundle(kj::StringPtr ns, kj::StringPtr id) {
  shims.erase(kj::str(ns, "/", id));
  auto rootfs = kj::str(bundlePath(ns, id), "/rootfs");
  if (isMountPoint(rootfs) && umount2(rootfs.cStr(), MNT_DETACH) < 0) {
    logError("task ", ns, "/", id, ": unmount rootfs: ", strerror(errno));
  }
  auto nsDir = openDirectory(root, ns);
  removeTree(nsDir, id);
}

bool TaskRuntimeServer::forceDelete(int bundleDir, kj::StringPtr ns, kj::StringPtr id) {
  // The runtime's state of the container outlives its shim only when the shim died before it
  // deleted it: the container may even run on, unsupervised. `delete --force` kills what is left
  // of it and removes its cgroup.
  auto runtimeRoot = kj::str(rootPath, "/", RUNTIME_STATE, "/", ns);
  if (access(kj::str(runtimeRoot, "/", id).cStr(), F_OK) < 0) return false;
  auto binary = tryReadSmallFile(bundleDir, "runtime").orDefault(kj::str("runc"));
  kj::Vector<kj::String> argv;
  for (kj::StringPtr a :
       {binary.asPtr(), "--root"_kj, runtimeRoot.asPtr(), "delete"_kj, "--force"_kj, id}) {
    argv.add(kj::str(a));
  }
  kj::StringPtr env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"_kj};
  pid_t pid = spawnProcess({binary, argv, env, {}, ProcessGroup::OWN_GROUP});
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    logError("task ", ns, "/", id, ": ", binary, " delete --force failed");
  } else {
    logInfo("task ", ns, "/", id, ": its shim had died; the runtime deleted the container");
  }
  return true;
}

kj::Promise<void> TaskRuntimeServer::cleanup(CleanupContext context) {
  auto params = context.getParams();
  auto ns = kj::str(params.getNamespace());
  auto id = kj::str(params.getContainerId());
  validateIdentifier("namespace", ns);
  validateIdentifier("container", id);
  auto bundle = bundlePath(ns, id);
  if (access(bundle.cStr(), F_OK) < 0) throwError(ErrorKind::NOT_FOUND, kj::str("task ", id));
  int dir;
  KJ_SYSCALL(dir = open(bundle.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  kj::AutoCloseFd bundleDir(dir);
  bool killed = forceDelete(bundleDir, ns, id);
  KJ_IF_MAYBE(text, tryReadSmallFile(bundleDir, "exit")) {
    long long status = 0, at = 0;
    if (sscanf(text->cStr(), "%lld %lld", &status, &at) == 2) {
      auto exit = context.getResults().initExit();
      exit.setStatus(static_cast<uint32_t>(status));
      exit.setExitedAt(at);
    }
  } else if (killed) {
    auto exit = context.getResults().initExit();
    exit.setStatus(128 + SIGKILL);
    exit.setExitedAt(nowNanos());
  }
  removeBundle(ns, id);
  return kj::READY_NOW;
}

}  // namespace ctrd
