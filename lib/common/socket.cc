#include "socket.h"

#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "errors.h"

namespace ctrd {
namespace {

struct sockaddr_un unixAddress(kj::StringPtr path) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str("socket path \"", path, "\" is longer than ",
                                                    sizeof(addr.sun_path) - 1, " bytes"));
  }
  memcpy(addr.sun_path, path.begin(), path.size());
  return addr;
}

int tryConnect(kj::StringPtr path) {
  auto addr = unixAddress(path);
  int fd;
  KJ_SYSCALL(fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

}  // namespace

kj::AutoCloseFd listenUnix(kj::StringPtr path, mode_t mode) {
  auto addr = unixAddress(path);
  int live = tryConnect(path);
  if (live >= 0) {
    close(live);
    throwError(ErrorKind::ALREADY_EXISTS,
               kj::str("address \"", path, "\" is in use by another process"));
  }
  if (errno == ECONNREFUSED) {
    // A socket file nobody accepts on: left by a process that died. Anything else there (a
    // regular file, which connect() also refuses) is not ours to remove.
    struct stat st;
    KJ_SYSCALL(lstat(path.cStr(), &st), path);
    if (!S_ISSOCK(st.st_mode)) {
      throwError(ErrorKind::ALREADY_EXISTS,
                 kj::str("address \"", path, "\" exists and is not a socket"));
    }
    KJ_SYSCALL(unlink(path.cStr()), path);
  }
  int fd;
  KJ_SYSCALL(fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  kj::AutoCloseFd owned(fd);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) < 0) {
    int err = errno;
    throwError(err == EADDRINUSE ? ErrorKind::ALREADY_EXISTS : ErrorKind::UNKNOWN,
               kj::str("listen on \"", path, "\": ", strerror(err)));
  }
  KJ_SYSCALL(chmod(path.cStr(), mode), path);
  KJ_SYSCALL(listen(fd, 128));
  return owned;
}

kj::AutoCloseFd connectUnix(kj::StringPtr path) {
  int fd = tryConnect(path);
  if (fd < 0) {
    throwError(ErrorKind::UNAVAILABLE, kj::str("failed to dial \"", path, "\": ", strerror(errno)));
  }
  return kj::AutoCloseFd(fd);
}

kj::Maybe<int> takeSystemdListenFd() {
  const char* pid = getenv("LISTEN_PID");
  const char* fds = getenv("LISTEN_FDS");
  if (pid == nullptr || fds == nullptr) return nullptr;
  bool ours = strtol(pid, nullptr, 10) == getpid() && strtol(fds, nullptr, 10) >= 1;
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  if (!ours) return nullptr;
  constexpr int SD_LISTEN_FDS_START = 3;
  KJ_SYSCALL(fcntl(SD_LISTEN_FDS_START, F_SETFD, FD_CLOEXEC));
  return SD_LISTEN_FDS_START;
}

}  // namespace ctrd
