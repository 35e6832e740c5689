// Where an entry goes: its name cleaned, its parent resolved beneath the target (made when
// missing, never reached through a symlink that leaves the tree), and the directories a layer
// makes only as parents given the owner and mode the layers below show.
#include <common/path.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer-applier.h"
#include "layer-entry.h"

namespace ctrd {
namespace {

// Well under any RLIMIT_NOFILE, with room for parallel applies.
constexpr size_t MAX_CACHED_DIRS = 512;

}  // namespace

kj::String cleanEntryPath(kj::StringPtr name) {
  if (name.size() == 0) refuseEntry(name, "empty name");
  if (name[0] == '/') refuseEntry(name, "absolute name");
  kj::Vector<kj::StringPtr> parts;
  size_t start = 0;
  auto copy = kj::str(name);
  for (size_t i = 0; i <= copy.size(); i++) {
    if (i == copy.size() || copy[i] == '/') {
      auto part = kj::StringPtr(copy.begin() + start, i - start);
      if (part == "..") refuseEntry(name, "\"..\" in the name");
      start = i + 1;
    }
  }
  kj::Vector<kj::String> clean;
  start = 0;
  for (size_t i = 0; i <= copy.size(); i++) {
    if (i == copy.size() || copy[i] == '/') {
      auto part = kj::heapString(copy.slice(start, i));
      if (part.size() > 0 && part != ".") clean.add(kj::mv(part));
      start = i + 1;
    }
  }
  return kj::strArray(clean, "/");
}

kj::Maybe<kj::AutoCloseFd> LayerApplier::tryResolve(kj::StringPtr entry, int root,
                                                    kj::StringPtr path, int flags) {
  int fd = openBeneath(root, path.size() == 0 ? "." : path.cStr(), flags);
  if (fd >= 0) return kj::AutoCloseFd(fd);
  if (errno == ENOENT || errno == ENOTDIR) return nullptr;
  if (errno == EXDEV) refuseEntry(entry, "reached through a symlink that leaves the tree");
  if (errno == ELOOP) refuseEntry(entry, "too many levels of symbolic links");
  entryFailed(entry, "resolve", errno);
}

void LayerApplier::forgetCachedDirs() {
  // Closed once the entry being applied is done with them.
  for (auto& entry : dirCache) retiredDirs.add(kj::mv(entry.value));
  dirCache.clear();
}

void LayerApplier::makeImplicitDir(kj::StringPtr entry, int parentFd, kj::StringPtr path,
                                   kj::StringPtr name) {
  // A directory the layer names only as a parent: in overlay the upper directory's metadata
  // wins, so it takes the owner and mode the lower snapshots show for it. Where a lower layer has
  // something else there (a symlink, even one leading out of the tree), the new directory
  // shadows it as root's, 0755, as containerd's unpack does. (Its times are those of the entries
  // written into it, which come right after.)
  if (mkdirat(parentFd, name.cStr(), 0755) < 0 && errno != EEXIST)
    entryFailed(entry, "mkdir", errno);
  // Made by this process's uid; a directory nobody describes belongs to root.
  int fd = openat(parentFd, name.cStr(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) entryFailed(entry, kj::str("open \"", path, "\""), errno);
  kj::AutoCloseFd dir(fd);
  if (fchown(dir, 0, 0) < 0) entryFailed(entry, "chown", errno);
  inheritFromLowers(parents, dir, path);
  implicitDirs.add(kj::str(path));
}

void LayerApplier::inheritFromLowers(kj::ArrayPtr<const int> lowers, int dirFd,
                                     kj::StringPtr path) {
  // `dirFd` is the directory itself, opened without following a symlink: its owner and mode
  // are set through the fd, never by name.
  kj::String dir, base;
  splitEntryPath(path, dir, base);
  for (int lower : lowers) {
    int lowerDir = openBeneath(lower, dir.size() == 0 ? "." : dir.cStr(), O_PATH | O_DIRECTORY);
    if (lowerDir < 0) continue;
    kj::AutoCloseFd owned(lowerDir);
    struct stat st;
    if (fstatat(lowerDir, base.cStr(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    if (!S_ISDIR(st.st_mode)) return;
    KJ_SYSCALL(fchown(dirFd, st.st_uid, st.st_gid), path);
    KJ_SYSCALL(fchmod(dirFd, st.st_mode & 07777), path);
    return;
  }
}

kj::Vector<kj::String> LayerApplier::implicitDirectories() const {
  kj::Vector<kj::String> out;
  for (auto& d : implicitDirs) {
    if (!unpacked.contains(d)) out.add(kj::str(d));
  }
  return out;
}

void LayerApplier::inheritMetadata(int target, kj::ArrayPtr<const int> parents,
                                   kj::ArrayPtr<const kj::String> paths) {
  for (auto& path : paths) {
    auto clean = cleanEntryPath(path);
    if (clean.size() == 0) continue;
    kj::String dir, base;
    splitEntryPath(clean, dir, base);
    int parentFd = openBeneath(target, dir.size() == 0 ? "." : dir.cStr(), O_PATH | O_DIRECTORY);
    if (parentFd < 0) continue;  // removed again later in the layer
    kj::AutoCloseFd owned(parentFd);
    // Not a directory any more (or a symlink now): nothing to inherit, nothing followed.
    int fd = openat(parentFd, base.cStr(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    kj::AutoCloseFd dirFd(fd);
    inheritFromLowers(parents, dirFd, clean);
  }
}

int LayerApplier::parentDir(kj::StringPtr entry, kj::StringPtr dir) {
  KJ_IF_MAYBE(cached, dirCache.find(dir)) {
    return cached->get();
  }
  // Opened for reading, not O_PATH: the *at() calls that create entries need such an fd, and
  // one open per directory instead of one per entry is a syscall less for every file.
  constexpr int DIR_FLAGS = O_RDONLY | O_DIRECTORY;
  int fd = openBeneath(target, dir.size() == 0 ? "." : dir.cStr(), DIR_FLAGS);
  if (fd < 0) {
    // Walk it one component at a time beneath the target. A missing directory is created; a
    // symlink in the way that leads out of the tree (or nowhere) becomes a real directory, as
    // containerd's unpack makes it: nothing is ever written through it.
    kj::String soFar = kj::str("");
    size_t start = 0;
    for (size_t i = 0; i <= dir.size(); i++) {
      if (i != dir.size() && dir[i] != '/') continue;
      auto name = kj::heapString(dir.slice(start, i));
      auto path = soFar.size() == 0 ? kj::str(name) : kj::str(soFar, "/", name);
      int probe = openBeneath(target, path.cStr(), O_PATH | O_DIRECTORY);
      if (probe >= 0) {
        close(probe);
      } else {
        int err = errno;
        int writable =
            openBeneath(target, soFar.size() == 0 ? "." : soFar.cStr(), O_RDONLY | O_DIRECTORY);
        if (writable < 0) entryFailed(entry, "open parent", errno);
        kj::AutoCloseFd w(writable);
        struct stat st;
        bool present = fstatat(w, name.cStr(), &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (present && S_ISLNK(st.st_mode)) {
          if (unlinkat(w, name.cStr(), 0) < 0) entryFailed(entry, "replace symlink", errno);
          forgetCachedDirs();
        } else if (present) {
          refuseEntry(entry, kj::str("\"", path, "\" is not a directory"));
        } else if (err != ENOENT) {
          entryFailed(entry, kj::str("resolve \"", path, "\""), err);
        }
        makeImplicitDir(entry, w, path, name);
      }
      soFar = kj::mv(path);
      start = i + 1;
    }
    fd = openBeneath(target, dir.cStr(), DIR_FLAGS);
    if (fd < 0) entryFailed(entry, "resolve parent", errno);
  }
  // A layer of many directories would otherwise hold an fd for each.
  if (dirCache.size() >= MAX_CACHED_DIRS) forgetCachedDirs();
  dirCache.insert(kj::str(dir), kj::AutoCloseFd(fd));
  return fd;
}

}  // namespace ctrd
