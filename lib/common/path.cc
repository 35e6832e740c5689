#include "path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ctrd {

int openBeneath(int dirFd, kj::StringPtr path, int flags) {
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(syscall(SYS_openat2, dirFd, path.cStr(), &how, sizeof(how)));
}

kj::AutoCloseFd openDirectory(int parentFd, kj::StringPtr name) {
  int fd;
  KJ_SYSCALL(fd = openat(parentFd, name.cStr(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
             name);
  return kj::AutoCloseFd(fd);
}

kj::AutoCloseFd makeDirectory(int parentFd, kj::StringPtr name, mode_t mode) {
  if (mkdirat(parentFd, name.cStr(), mode) < 0 && errno != EEXIST) {
    KJ_FAIL_SYSCALL("mkdirat", errno, name);
  }
  return openDirectory(parentFd, name);
}

kj::Vector<kj::String> listDirectory(int dirFd) {
  int fd;
  KJ_SYSCALL(fd = openat(dirFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    int error = errno;
    close(fd);
    KJ_FAIL_SYSCALL("fdopendir", error);
  }
  KJ_DEFER(closedir(d));
  kj::Vector<kj::String> names;
  while (struct dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    names.add(kj::str(e->d_name));
  }
  return names;
}

}  // namespace ctrd
