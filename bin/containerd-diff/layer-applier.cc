#include "layer-applier.h"

#include <archive.h>
#include <archive_entry.h>
#include <common/errors.h>
#include <common/path.h>
#include <common/tree.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>

namespace ctrd {
namespace {

constexpr kj::StringPtr WHITEOUT_PREFIX = ".wh."_kj;
constexpr kj::StringPtr OPAQUE_MARKER = ".wh..wh..opq"_kj;
constexpr kj::StringPtr OPAQUE_XATTR = "user.overlay.opaque"_kj;

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

int chmodNoFollow(int dirFd, const char* name, mode_t mode) {
  // fchmodat() follows a symlink in the final component (glibc emulates AT_SYMLINK_NOFOLLOW
  // through /proc, which this process does not have); fchmodat2 refuses to, in the kernel.
  return static_cast<int>(syscall(SYS_fchmodat2, dirFd, name, mode, AT_SYMLINK_NOFOLLOW));
}

bool isOverlayControlXattr(kj::StringPtr name) {
  // The snapshot's overlay mount honours these (`userxattr`): a layer carrying them would make
  // its own whiteouts, opaque directories or redirects. trusted.* is root's overlay namespace.
  return name.startsWith("user.overlay.") || name.startsWith("trusted.");
}

// Well under any RLIMIT_NOFILE, with room for parallel applies.
constexpr size_t MAX_CACHED_DIRS = 512;

[[noreturn]] void refuse(kj::StringPtr entry, kj::StringPtr why) {
  throwError(ErrorKind::INVALID_ARGUMENT, kj::str("layer entry \"", entry, "\": ", why));
}

[[noreturn]] void failed(kj::StringPtr entry, kj::StringPtr what, int err) {
  throwError(ErrorKind::UNKNOWN,
             kj::str("layer entry \"", entry, "\": ", what, ": ", strerror(err)));
}

void splitPath(kj::StringPtr path, kj::String& dir, kj::String& base) {
  KJ_IF_MAYBE(slash, path.findLast('/')) {
    dir = kj::heapString(path.slice(0, *slash));
    base = kj::heapString(path.slice(*slash + 1));
  } else {
    dir = kj::str("");
    base = kj::str(path);
  }
}

la_ssize_t readCallback(struct archive*, void* data, const void** buffer) {
  struct Source {
    LayerStream* stream;
    kj::Array<kj::byte> buf;
  };
  auto* source = static_cast<Source*>(data);
  *buffer = source->buf.begin();
  return source->stream->read(source->buf);
}

}  // namespace

kj::String cleanEntryPath(kj::StringPtr name) {
  if (name.size() == 0) refuse(name, "empty name");
  if (name[0] == '/') refuse(name, "absolute name");
  kj::Vector<kj::StringPtr> parts;
  size_t start = 0;
  auto copy = kj::str(name);
  for (size_t i = 0; i <= copy.size(); i++) {
    if (i == copy.size() || copy[i] == '/') {
      auto part = kj::StringPtr(copy.begin() + start, i - start);
      if (part == "..") refuse(name, "\"..\" in the name");
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

LayerApplier::LayerApplier(int target, kj::ArrayPtr<const int> parents, WhiteoutStyle style)
    : target(target), parents(parents), style(style) {}

kj::Maybe<kj::AutoCloseFd> LayerApplier::tryResolve(kj::StringPtr entry, int root,
                                                    kj::StringPtr path, int flags) {
  int fd = openBeneath(root, path.size() == 0 ? "." : path.cStr(), flags);
  if (fd >= 0) return kj::AutoCloseFd(fd);
  if (errno == ENOENT || errno == ENOTDIR) return nullptr;
  if (errno == EXDEV) refuse(entry, "reached through a symlink that leaves the tree");
  if (errno == ELOOP) refuse(entry, "too many levels of symbolic links");
  failed(entry, "resolve", errno);
}

void LayerApplier::forgetCachedDirs() {
  dirCache.clear();
}

void LayerApplier::makeImplicitDir(kj::StringPtr entry, int parentFd, kj::StringPtr path,
                                   kj::StringPtr name) {
  // A directory the layer names only as a parent: in overlay the upper directory's metadata
  // wins, so it takes the owner and mode the lower snapshots show for it. Where a lower layer has
  // something else there (a symlink, even one leading out of the tree), the new directory
  // shadows it as root's, 0755, as containerd's unpack does. (Its times are those of the entries
  // written into it, which come right after.)
  if (mkdirat(parentFd, name.cStr(), 0755) < 0 && errno != EEXIST) failed(entry, "mkdir", errno);
  // Made by this process's uid; a directory nobody describes belongs to root.
  int fd = openat(parentFd, name.cStr(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) failed(entry, kj::str("open \"", path, "\""), errno);
  kj::AutoCloseFd dir(fd);
  if (fchown(dir, 0, 0) < 0) failed(entry, "chown", errno);
  inheritFromLowers(parents, dir, path);
  implicitDirs.add(kj::str(path));
}

void LayerApplier::inheritFromLowers(kj::ArrayPtr<const int> lowers, int dirFd,
                                     kj::StringPtr path) {
  // `dirFd` is the directory itself, opened without following a symlink: its owner and mode
  // are set through the fd, never by name.
  kj::String dir, base;
  splitPath(path, dir, base);
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
    splitPath(clean, dir, base);
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
  int fd = openBeneath(target, dir.size() == 0 ? "." : dir.cStr(), O_PATH | O_DIRECTORY);
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
        if (writable < 0) failed(entry, "open parent", errno);
        kj::AutoCloseFd w(writable);
        struct stat st;
        bool present = fstatat(w, name.cStr(), &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (present && S_ISLNK(st.st_mode)) {
          if (unlinkat(w, name.cStr(), 0) < 0) failed(entry, "replace symlink", errno);
          forgetCachedDirs();
        } else if (present) {
          refuse(entry, kj::str("\"", path, "\" is not a directory"));
        } else if (err != ENOENT) {
          failed(entry, kj::str("resolve \"", path, "\""), err);
        }
        makeImplicitDir(entry, w, path, name);
      }
      soFar = kj::mv(path);
      start = i + 1;
    }
    fd = openBeneath(target, dir.cStr(), O_PATH | O_DIRECTORY);
    if (fd < 0) failed(entry, "resolve parent", errno);
  }
  // A layer of many directories would otherwise hold an fd for each.
  if (dirCache.size() >= MAX_CACHED_DIRS) forgetCachedDirs();
  dirCache.insert(kj::str(dir), kj::AutoCloseFd(fd));
  return fd;
}

void LayerApplier::removeExisting(kj::StringPtr entry, int dirFd, kj::StringPtr base,
                                  kj::StringPtr path, bool newIsDir) {
  struct stat st;
  if (fstatat(dirFd, base.cStr(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    failed(entry, "stat", errno);
  }
  if (S_ISDIR(st.st_mode)) {
    if (newIsDir) return;  // a directory entry updates the one that is there
    // A lower layer's directory gives way to this layer's file, as in containerd; one this very
    // layer wrote does not (tar would not replace it either).
    if (unpacked.contains(path)) refuse(entry, "would replace a directory with a non-directory");
    removeTree(dirFd, base);
    forgetCachedDirs();
    return;
  }
  if (unlinkat(dirFd, base.cStr(), 0) < 0) failed(entry, "replace", errno);
  forgetCachedDirs();  // it may have been a symlink some cached path went through
}

void LayerApplier::applyWhiteout(kj::StringPtr entry, kj::StringPtr dir, kj::StringPtr base) {
  if (base == OPAQUE_MARKER) {
    int parent = parentDir(entry, dir);
    if (style == WhiteoutStyle::OVERLAY) {
      int fd = openBeneath(parent, ".", O_RDONLY | O_DIRECTORY);
      if (fd < 0) failed(entry, "open", errno);
      kj::AutoCloseFd owned(fd);
      if (fsetxattr(fd, OPAQUE_XATTR.cStr(), "y", 1, 0) < 0) failed(entry, "opaque xattr", errno);
    } else {
      // Everything the directory holds that this layer did not write goes.
      int fd = openBeneath(parent, ".", O_RDONLY | O_DIRECTORY);
      if (fd < 0) failed(entry, "open", errno);
      kj::AutoCloseFd owned(fd);
      kj::Vector<kj::String> doomed;
      for (auto& name : listDirectory(fd)) {
        auto path = dir.size() == 0 ? kj::str(name) : kj::str(dir, "/", name);
        if (!unpacked.contains(path)) doomed.add(kj::str(name));
      }
      for (auto& name : doomed) removeTree(fd, name);
      forgetCachedDirs();
    }
    return;
  }
  auto name = base.slice(WHITEOUT_PREFIX.size());
  if (name.size() == 0 || name == "." || name == "..") refuse(entry, "whiteout of . or ..");
  if (name.findFirst('/') != nullptr) refuse(entry, "whiteout name with a slash");
  int parent = parentDir(entry, dir);
  int fd = openBeneath(parent, ".", O_RDONLY | O_DIRECTORY);
  if (fd < 0) failed(entry, "open", errno);
  kj::AutoCloseFd owned(fd);
  removeTree(fd, name);
  forgetCachedDirs();
  if (style == WhiteoutStyle::OVERLAY) {
    // A 0:0 character device hides the name in overlay; making one needs no capability.
    if (mknodat(fd, kj::heapString(name).cStr(), S_IFCHR | 0, makedev(0, 0)) < 0) {
      failed(entry, "whiteout", errno);
    }
  }
}

namespace {

struct timespec entryTimes(struct archive_entry* e, int which) {
  struct timespec t;
  bool atime = which == 0 && archive_entry_atime_is_set(e);
  t.tv_sec = atime ? archive_entry_atime(e) : archive_entry_mtime(e);
  t.tv_nsec = atime ? archive_entry_atime_nsec(e) : archive_entry_mtime_nsec(e);
  return t;
}

}  // namespace

void LayerApplier::applyMetadata(kj::StringPtr entry, int fd, struct archive_entry* e, bool isDir,
                                 kj::StringPtr path) {
  // Owner, mode, xattrs and times of a regular file or directory, all through `fd` (opened
  // O_NOFOLLOW right after the entry was made): nothing is ever set by name, so a name swapped
  // for a symlink in the meantime leads nowhere.
  if (fchown(fd, archive_entry_uid(e), archive_entry_gid(e)) < 0) failed(entry, "chown", errno);
  // After chown, which clears setuid and setgid.
  if (fchmod(fd, archive_entry_perm(e) & 07777) < 0) failed(entry, "chmod", errno);
  archive_entry_xattr_reset(e);
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (isOverlayControlXattr(name)) continue;
    if (fsetxattr(fd, name, value, size, 0) < 0 && errno != ENOTSUP) {
      failed(entry, kj::str("xattr ", name), errno);
    }
  }
  struct timespec times[2] = {entryTimes(e, 0), entryTimes(e, 1)};
  if (isDir) {
    dirTimes.add(DirTimes{kj::str(path), {times[0], times[1]}});
  } else if (futimens(fd, times) < 0) {
    failed(entry, "set times", errno);
  }
}

void LayerApplier::applyNodeMetadata(kj::StringPtr entry, int dirFd, kj::StringPtr base,
                                     struct archive_entry* e, bool isSymlink) {
  // A symlink, device or FIFO is never opened (opening a device can act on hardware; opening a
  // FIFO blocks): every call names it relative to its parent and refuses to follow it. They
  // carry no xattrs here.
  if (fchownat(dirFd, base.cStr(), archive_entry_uid(e), archive_entry_gid(e),
               AT_SYMLINK_NOFOLLOW) < 0) {
    failed(entry, "chown", errno);
  }
  if (!isSymlink && chmodNoFollow(dirFd, base.cStr(), archive_entry_perm(e) & 07777) < 0) {
    failed(entry, "chmod", errno);
  }
  struct timespec times[2] = {entryTimes(e, 0), entryTimes(e, 1)};
  if (utimensat(dirFd, base.cStr(), times, AT_SYMLINK_NOFOLLOW) < 0) {
    failed(entry, "set times", errno);
  }
}

void LayerApplier::applyEntry(struct archive* a, struct archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  kj::StringPtr rawName = raw == nullptr ? ""_kj : kj::StringPtr(raw);
  auto path = cleanEntryPath(rawName);
  entryCount++;
  if (path.size() == 0) return;  // the root itself: its metadata belongs to the snapshot
  kj::String dir, base;
  splitPath(path, dir, base);
  if (base.startsWith(WHITEOUT_PREFIX)) {
    applyWhiteout(rawName, dir, base);
    return;
  }
  int parent = parentDir(rawName, dir);
  // The parent as a real fd: *at() creation calls need one that is not O_PATH for some types.
  int dirFd = openBeneath(parent, ".", O_RDONLY | O_DIRECTORY);
  if (dirFd < 0) failed(rawName, "open parent", errno);
  kj::AutoCloseFd dirOwned(dirFd);
  mode_t type = archive_entry_filetype(e);
  const char* hardlink = archive_entry_hardlink(e);
  bool isDir = type == AE_IFDIR && hardlink == nullptr;
  removeExisting(rawName, dirFd, base, path, isDir);
  unpacked.upsert(kj::str(path), [](kj::String&, kj::String&&) {});

  if (hardlink != nullptr) {
    kj::String linkPath;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { linkPath = cleanEntryPath(hardlink); })) {
      refuse(rawName, kj::str("hardlink target \"", hardlink, "\" leaves the tree"));
    }
    kj::String linkDir, linkBase;
    splitPath(linkPath, linkDir, linkBase);
    auto from = tryResolve(rawName, target, linkDir, O_PATH | O_DIRECTORY);
    int fromFd = -1;
    KJ_IF_MAYBE(f, from) {
      fromFd = f->get();
    }
    if (fromFd < 0 || linkBase.size() == 0)
      refuse(rawName, kj::str("hardlink target \"", hardlink, "\" not found"));
    if (linkat(fromFd, linkBase.cStr(), dirFd, base.cStr(), 0) < 0) {
      if (errno == ENOENT) refuse(rawName, kj::str("hardlink target \"", hardlink, "\" not found"));
      failed(rawName, "link", errno);
    }
    return;
  }

  switch (type) {
    case AE_IFDIR: {
      if (mkdirat(dirFd, base.cStr(), 0700) < 0 && errno != EEXIST) failed(rawName, "mkdir", errno);
      int fd = openat(dirFd, base.cStr(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) failed(rawName, "open", errno);
      kj::AutoCloseFd dir(fd);
      applyMetadata(rawName, dir, e, true, path);
      return;
    }
    case AE_IFREG: {
      int fd =
          openat(dirFd, base.cStr(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0) failed(rawName, "create", errno);
      kj::AutoCloseFd file(fd);
      const void* block;
      size_t size;
      la_int64_t offset;
      int rc;
      while ((rc = archive_read_data_block(a, &block, &size, &offset)) == ARCHIVE_OK) {
        // Blocks come at their offsets; the holes between them stay sparse.
        const char* p = static_cast<const char*>(block);
        while (size > 0) {
          ssize_t n = pwrite(fd, p, size, offset);
          if (n < 0) {
            if (errno == EINTR) continue;
            failed(rawName, "write", errno);
          }
          p += n;
          size -= n;
          offset += n;
        }
      }
      if (rc != ARCHIVE_EOF) refuse(rawName, kj::str("reading data: ", archiveError(a)));
      if (ftruncate(fd, archive_entry_size(e)) < 0) failed(rawName, "truncate", errno);
      applyMetadata(rawName, file, e, false, path);
      return;
    }
    case AE_IFLNK: {
      const char* linkTarget = archive_entry_symlink(e);
      if (symlinkat(linkTarget == nullptr ? "" : linkTarget, dirFd, base.cStr()) < 0) {
        failed(rawName, "symlink", errno);
      }
      forgetCachedDirs();
      applyNodeMetadata(rawName, dirFd, base, e, true);
      return;
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
      if (mknodat(dirFd, base.cStr(), type | 0600, archive_entry_rdev(e)) < 0) {
        failed(rawName, "mknod", errno);
      }
      applyNodeMetadata(rawName, dirFd, base, e, false);
      return;
    default:
      refuse(rawName, kj::str("unsupported entry type 0", kj::hex(type)));
  }
}

LayerStream::Finished LayerApplier::apply(LayerStream& stream) {
  struct archive* a = archive_read_new();
  KJ_ASSERT(a != nullptr);
  KJ_DEFER(archive_read_free(a));
  archive_read_support_format_tar(a);
  archive_read_support_format_gnutar(a);
  struct {
    LayerStream* stream;
    kj::Array<kj::byte> buf;
  } source{&stream, kj::heapArray<kj::byte>(1 << 20)};
  if (archive_read_open(a, &source, nullptr, readCallback, nullptr) != ARCHIVE_OK) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str("layer: ", archiveError(a)));
  }
  struct archive_entry* e;
  int rc;
  while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
    applyEntry(a, e);
  }
  if (rc != ARCHIVE_EOF) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str("layer: corrupt tar after ", entryCount, " entries: ", archiveError(a)));
  }
  // Deepest first, so that setting a child's times does not disturb its parent's.
  std::sort(dirTimes.begin(), dirTimes.end(), [](const DirTimes& a, const DirTimes& b) {
    return std::count(a.path.begin(), a.path.end(), '/') >
           std::count(b.path.begin(), b.path.end(), '/');
  });
  for (auto& d : dirTimes) {
    int fd = openBeneath(target, d.path.cStr(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0) continue;  // removed again (or replaced) later in the layer
    kj::AutoCloseFd owned(fd);
    if (futimens(fd, d.times) < 0) failed(d.path, "set directory times", errno);
  }
  return stream.finish();
}

}  // namespace ctrd
