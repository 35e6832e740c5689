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

kj::Maybe<kj::String> tryReadSmallFile(int dirFd, kj::StringPtr name, size_t limit) {
  int fd = openat(dirFd, name.cStr(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return nullptr;
  kj::AutoCloseFd owned(fd);
  auto buf = kj::heapArray<char>(limit);
  size_t have = 0;
  while (have < limit) {
    ssize_t n = read(fd, buf.begin() + have, limit - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      KJ_FAIL_SYSCALL("read", errno, name);
    }
    if (n == 0) break;
    have += n;
  }
  return kj::heapString(buf.begin(), have);
}

void writeSmallFile(int dirFd, kj::StringPtr name, kj::ArrayPtr<const kj::byte> content,
                    mode_t mode) {
  int fd;
  KJ_SYSCALL(
      fd = openat(dirFd, name.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode),
      name);
  kj::AutoCloseFd owned(fd);
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.begin() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      KJ_FAIL_SYSCALL("write", errno, name);
    }
    done += n;
  }
}

}  // namespace ctrd
