#include "rootless.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fstream>

#include "errors.h"

namespace ctrd {

RootlessPaths rootlessPaths() {
  auto env = [](const char* name) -> kj::Maybe<kj::StringPtr> {
    const char* v = getenv(name);
    if (v == nullptr || v[0] != '/') return nullptr;  // relative ones are ignored, as XDG says
    return kj::StringPtr(v);
  };
  auto home = [&]() -> kj::StringPtr {
    KJ_IF_MAYBE(h, env("HOME")) {
      return *h;
    }
    throwError(ErrorKind::FAILED_PRECONDITION, "HOME is not set: cannot place a rootless store");
  };
  RootlessPaths paths;
  KJ_IF_MAYBE(runtime, env("XDG_RUNTIME_DIR")) {
    paths.state = kj::str(*runtime, "/containerd");
  } else {
    throwError(ErrorKind::FAILED_PRECONDITION,
               "XDG_RUNTIME_DIR is not set: a rootless daemon keeps its socket there (log in "
               "through systemd-logind, or set it to a directory only you can write)");
  }
  KJ_IF_MAYBE(data, env("XDG_DATA_HOME")) {
    paths.root = kj::str(*data, "/containerd");
  } else {
    paths.root = kj::str(home(), "/.local/share/containerd");
  }
  KJ_IF_MAYBE(config, env("XDG_CONFIG_HOME")) {
    paths.config = kj::str(*config, "/containerd/config.toml");
  } else {
    paths.config = kj::str(home(), "/.config/containerd/config.toml");
  }
  return paths;
}

kj::String defaultClientAddress() {
  if (geteuid() != 0) {
    const char* runtime = getenv("XDG_RUNTIME_DIR");
    if (runtime != nullptr && runtime[0] == '/') {
      return kj::str(runtime, "/containerd/containerd.sock");
    }
  }
  return kj::str("/run/containerd/containerd.sock");
}

kj::AutoCloseFd openNamespace(pid_t pid, kj::StringPtr which) {
  auto path = kj::str("/proc/", pid, "/ns/", which);
  int fd = open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throwError(ErrorKind::UNKNOWN, kj::str(path, ": ", strerror(errno)));
  return kj::AutoCloseFd(fd);
}

void joinNamespaces(int userFd, int mountFd) {
  if (setns(userFd, CLONE_NEWUSER) < 0) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("joining the daemon's user namespace: ", strerror(errno)));
  }
  if (setns(mountFd, CLONE_NEWNS) < 0) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("joining the daemon's mount namespace: ", strerror(errno)));
  }
}

void joinNamespacesOf(pid_t pid) {
  auto user = openNamespace(pid, "user");
  auto mount = openNamespace(pid, "mnt");
  joinNamespaces(user.get(), mount.get());
}

bool inUserNamespace() {
  // The initial namespace maps every id: "0 0 4294967295".
  std::ifstream in("/proc/self/uid_map");
  unsigned long inside = 1, outside = 1, count = 0;
  in >> inside >> outside >> count;
  return !(inside == 0 && outside == 0 && count == 4294967295ul);
}

}  // namespace ctrd
