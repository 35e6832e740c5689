#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <utility>

#include "path.h"

namespace ctrd {
namespace {

template <typename Func>
void forEachEntry(int dirFd, Func&& func) {
  for (auto& n : listDirectory(dirFd)) func(n);
}

void copyXattrs(int from, int to, kj::StringPtr what) {
  char names[65536];
  ssize_t len = flistxattr(from, names, sizeof(names));
  if (len < 0) {
    if (errno == ENOTSUP) return;
    KJ_FAIL_SYSCALL("flistxattr", errno, what);
  }
  for (char* n = names; n < names + len; n += strlen(n) + 1) {
    char value[65536];
    ssize_t vlen = fgetxattr(from, n, value, sizeof(value));
    if (vlen < 0) KJ_FAIL_SYSCALL("fgetxattr", errno, what, n);
    KJ_SYSCALL(fsetxattr(to, n, value, vlen, 0), what, n);
  }
}

void copyOwnerModeTimes(int parent, kj::StringPtr name, const struct stat& st, bool symlink) {
  KJ_SYSCALL(fchownat(parent, name.cStr(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW), name);
  // chown clears setuid/setgid: the mode comes after it.
  if (!symlink) {
    KJ_SYSCALL(fchmodat(parent, name.cStr(), st.st_mode & 07777, 0), name);
  }
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  KJ_SYSCALL(utimensat(parent, name.cStr(), times, AT_SYMLINK_NOFOLLOW), name);
}

using InodeKey = std::pair<dev_t, ino_t>;
using LinkMap = std::map<InodeKey, std::pair<int, std::string>>;  // first copy: dir fd + name

void copyEntries(int from, int to, LinkMap& links, kj::Vector<kj::AutoCloseFd>& keepDirs);

void copyEntry(int from, int to, kj::StringPtr name, LinkMap& links,
               kj::Vector<kj::AutoCloseFd>& keepDirs) {
  struct stat st;
  KJ_SYSCALL(fstatat(from, name.cStr(), &st, AT_SYMLINK_NOFOLLOW), name);
  if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
    auto it = links.find({st.st_dev, st.st_ino});
    if (it != links.end()) {
      KJ_SYSCALL(linkat(it->second.first, it->second.second.c_str(), to, name.cStr(), 0), name);
      return;
    }
  }
  switch (st.st_mode & S_IFMT) {
    case S_IFDIR: {
      KJ_SYSCALL(mkdirat(to, name.cStr(), 0700), name);
      auto src = openDirectory(from, name);
      auto dst = openDirectory(to, name);
      copyEntries(src, dst, links, keepDirs);
      copyOwnerModeTimes(to, name, st, false);
      copyXattrs(src, dst, name);
      return;
    }
    case S_IFREG: {
      int in, out;
      KJ_SYSCALL(in = openat(from, name.cStr(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC), name);
      kj::AutoCloseFd inFd(in);
      KJ_SYSCALL(
          out = openat(to, name.cStr(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600),
          name);
      kj::AutoCloseFd outFd(out);
      for (off_t left = st.st_size; left > 0;) {
        ssize_t n = copy_file_range(in, nullptr, out, nullptr, left, 0);
        if (n < 0) KJ_FAIL_SYSCALL("copy_file_range", errno, name);
        if (n == 0) break;
        left -= n;
      }
      // chown drops security.capability: owner and mode first, then the xattrs.
      copyOwnerModeTimes(to, name, st, false);
      copyXattrs(in, out, name);
      break;
    }
    case S_IFLNK: {
      char target[PATH_MAX + 1];
      ssize_t n;
      KJ_SYSCALL(n = readlinkat(from, name.cStr(), target, PATH_MAX), name);
      target[n] = '\0';
      KJ_SYSCALL(symlinkat(target, to, name.cStr()), name);
      copyOwnerModeTimes(to, name, st, true);
      return;
    }
    default:
      // Character and block devices (whiteouts are char 0:0), fifos, sockets.
      KJ_SYSCALL(mknodat(to, name.cStr(), st.st_mode & S_IFMT, st.st_rdev), name);
      copyOwnerModeTimes(to, name, st, false);
      break;
  }
  if (st.st_nlink > 1) {
    int keep;
    KJ_SYSCALL(keep = dup(to));
    keepDirs.add(kj::AutoCloseFd(keep));
    links[{st.st_dev, st.st_ino}] = {keep, std::string(name.cStr())};
  }
}

void copyEntries(int from, int to, LinkMap& links, kj::Vector<kj::AutoCloseFd>& keepDirs) {
  forEachEntry(from, [&](kj::StringPtr name) { copyEntry(from, to, name, links, keepDirs); });
}

void usageOf(int dir, DiskUsage& usage, std::set<InodeKey>& seen) {
  forEachEntry(dir, [&](kj::StringPtr name) {
    struct stat st;
    KJ_SYSCALL(fstatat(dir, name.cStr(), &st, AT_SYMLINK_NOFOLLOW), name);
    if (seen.insert({st.st_dev, st.st_ino}).second) {
      usage.inodes++;
      usage.size += int64_t(st.st_blocks) * 512;
    }
    if (S_ISDIR(st.st_mode)) {
      auto sub = openDirectory(dir, name);
      usageOf(sub, usage, seen);
    }
  });
}

}  // namespace

void removeTree(int parentFd, kj::StringPtr name) {
  struct stat st;
  if (fstatat(parentFd, name.cStr(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    KJ_FAIL_SYSCALL("fstatat", errno, name);
  }
  if (S_ISDIR(st.st_mode)) {
    auto dir = openDirectory(parentFd, name);
    forEachEntry(dir, [&](kj::StringPtr child) { removeTree(dir, child); });
    KJ_SYSCALL(unlinkat(parentFd, name.cStr(), AT_REMOVEDIR), name);
  } else {
    KJ_SYSCALL(unlinkat(parentFd, name.cStr(), 0), name);
  }
}

void copyTree(int fromDir, int toDir) {
  LinkMap links;
  kj::Vector<kj::AutoCloseFd> keepDirs;
  copyEntries(fromDir, toDir, links, keepDirs);
  struct stat st;
  KJ_SYSCALL(fstat(fromDir, &st));
  KJ_SYSCALL(fchown(toDir, st.st_uid, st.st_gid));
  KJ_SYSCALL(fchmod(toDir, st.st_mode & 07777));
}

DiskUsage diskUsage(int dir) {
  DiskUsage usage;
  std::set<InodeKey> seen;
  usageOf(dir, usage, seen);
  return usage;
}

}  // namespace ctrd
