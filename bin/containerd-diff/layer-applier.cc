#include "layer-applier.h"

#include <archive.h>
#include <archive_entry.h>
#include <common/errors.h>
#include <common/log.h>
#include <common/path.h>
#include <common/tree.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>

#include "layer-entry.h"

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

LayerApplier::LayerApplier(int target, kj::ArrayPtr<const int> parents, WhiteoutStyle style,
                           Devices devices)
    : target(target), parents(parents), style(style), devices(devices) {}

void LayerApplier::chownFailed(kj::StringPtr entry, struct archive_entry* e, int err) {
  if (err != EINVAL) entryFailed(entry, "chown", err);
  // The kernel's word for an id with no mapping in this user namespace.
  throwError(ErrorKind::FAILED_PRECONDITION,
             kj::str("layer entry \"", entry, "\": chown to uid ", archive_entry_uid(e), ", gid ",
                     archive_entry_gid(e),
                     ": not mapped in the rootless daemon's user namespace (give the user a "
                     "range in /etc/subuid and /etc/subgid)"));
}

void LayerApplier::removeExisting(kj::StringPtr entry, int dirFd, kj::StringPtr base,
                                  kj::StringPtr path, bool newIsDir) {
  struct stat st;
  if (fstatat(dirFd, base.cStr(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return;
    entryFailed(entry, "stat", errno);
  }
  if (S_ISDIR(st.st_mode)) {
    if (newIsDir) return;  // a directory entry updates the one that is there
    // A lower layer's directory gives way to this layer's file, as in containerd; one this very
    // layer wrote does not (tar would not replace it either).
    if (unpacked.contains(path))
      refuseEntry(entry, "would replace a directory with a non-directory");
    removeTree(dirFd, base);
    forgetCachedDirs();
    return;
  }
  if (unlinkat(dirFd, base.cStr(), 0) < 0) entryFailed(entry, "replace", errno);
  forgetCachedDirs();  // it may have been a symlink some cached path went through
}

template <typename Make>
void LayerApplier::create(kj::StringPtr entry, int dirFd, kj::StringPtr base, kj::StringPtr path,
                          bool newIsDir, kj::StringPtr what, Make&& make) {
  if (make() >= 0) return;
  if (errno != EEXIST) entryFailed(entry, what, errno);
  removeExisting(entry, dirFd, base, path, newIsDir);
  if (make() < 0) entryFailed(entry, what, errno);
}

void LayerApplier::applyWhiteout(kj::StringPtr entry, kj::StringPtr dir, kj::StringPtr base) {
  if (base == OPAQUE_MARKER) {
    int fd = parentDir(entry, dir);
    if (style == WhiteoutStyle::OVERLAY) {
      if (fsetxattr(fd, OPAQUE_XATTR.cStr(), "y", 1, 0) < 0)
        entryFailed(entry, "opaque xattr", errno);
    } else {
      // Everything the directory holds that this layer did not write goes.
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
  if (name.size() == 0 || name == "." || name == "..") refuseEntry(entry, "whiteout of . or ..");
  if (name.findFirst('/') != nullptr) refuseEntry(entry, "whiteout name with a slash");
  int fd = parentDir(entry, dir);
  removeTree(fd, name);
  forgetCachedDirs();
  if (style == WhiteoutStyle::OVERLAY) {
    // A 0:0 character device hides the name in overlay; making one needs no capability.
    if (mknodat(fd, kj::heapString(name).cStr(), S_IFCHR | 0, makedev(0, 0)) < 0) {
      entryFailed(entry, "whiteout", errno);
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
  if (fchown(fd, archive_entry_uid(e), archive_entry_gid(e)) < 0) chownFailed(entry, e, errno);
  // After chown, which clears setuid and setgid.
  if (fchmod(fd, archive_entry_perm(e) & 07777) < 0) entryFailed(entry, "chmod", errno);
  archive_entry_xattr_reset(e);
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (isOverlayControlXattr(name)) continue;
    if (fsetxattr(fd, name, value, size, 0) < 0 && errno != ENOTSUP) {
      entryFailed(entry, kj::str("xattr ", name), errno);
    }
  }
  struct timespec times[2] = {entryTimes(e, 0), entryTimes(e, 1)};
  if (isDir) {
    dirTimes.add(DirTimes{kj::str(path), {times[0], times[1]}});
  } else if (futimens(fd, times) < 0) {
    entryFailed(entry, "set times", errno);
  }
}

void LayerApplier::applyNodeMetadata(kj::StringPtr entry, int dirFd, kj::StringPtr base,
                                     struct archive_entry* e, bool isSymlink) {
  // A symlink, device or FIFO is never opened (opening a device can act on hardware; opening a
  // FIFO blocks): every call names it relative to its parent and refuses to follow it. They
  // carry no xattrs here.
  if (fchownat(dirFd, base.cStr(), archive_entry_uid(e), archive_entry_gid(e),
               AT_SYMLINK_NOFOLLOW) < 0) {
    chownFailed(entry, e, errno);
  }
  if (!isSymlink && chmodNoFollow(dirFd, base.cStr(), archive_entry_perm(e) & 07777) < 0) {
    entryFailed(entry, "chmod", errno);
  }
  struct timespec times[2] = {entryTimes(e, 0), entryTimes(e, 1)};
  if (utimensat(dirFd, base.cStr(), times, AT_SYMLINK_NOFOLLOW) < 0) {
    entryFailed(entry, "set times", errno);
  }
}

void LayerApplier::applyEntry(struct archive* a, struct archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  kj::StringPtr rawName = raw == nullptr ? ""_kj : kj::StringPtr(raw);
  auto path = cleanEntryPath(rawName);
  entryCount++;
  retiredDirs.clear();
  if (path.size() == 0) return;  // the root itself: its metadata belongs to the snapshot
  kj::String dir, base;
  splitEntryPath(path, dir, base);
  if (base.startsWith(WHITEOUT_PREFIX)) {
    applyWhiteout(rawName, dir, base);
    return;
  }
  int dirFd = parentDir(rawName, dir);
  mode_t type = archive_entry_filetype(e);
  const char* hardlink = archive_entry_hardlink(e);
  bool isDir = type == AE_IFDIR && hardlink == nullptr;
  // Whether this layer wrote the path before decides what replacing it may do: looked up (in
  // create()) before the path counts as this entry's.
  KJ_DEFER(unpacked.upsert(kj::str(path), [](kj::String&, kj::String&&) {}));

  if (hardlink != nullptr) {
    kj::String linkPath;
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { linkPath = cleanEntryPath(hardlink); })) {
      refuseEntry(rawName, kj::str("hardlink target \"", hardlink, "\" leaves the tree"));
    }
    kj::String linkDir, linkBase;
    splitEntryPath(linkPath, linkDir, linkBase);
    auto from = tryResolve(rawName, target, linkDir, O_PATH | O_DIRECTORY);
    int fromFd = -1;
    KJ_IF_MAYBE(f, from) {
      fromFd = f->get();
    }
    if (fromFd < 0 || linkBase.size() == 0)
      refuseEntry(rawName, kj::str("hardlink target \"", hardlink, "\" not found"));
    create(rawName, dirFd, base, path, false, "link", [&]() {
      int rc = linkat(fromFd, linkBase.cStr(), dirFd, base.cStr(), 0);
      if (rc < 0 && errno == ENOENT)
        refuseEntry(rawName, kj::str("hardlink target \"", hardlink, "\" not found"));
      return rc;
    });
    return;
  }

  switch (type) {
    case AE_IFDIR: {
      // A directory already there (a lower layer's, or this layer's own) is updated in place.
      create(rawName, dirFd, base, path, true, "mkdir", [&]() {
        int rc = mkdirat(dirFd, base.cStr(), 0700);
        if (rc < 0 && errno == EEXIST) {
          struct stat st;
          if (fstatat(dirFd, base.cStr(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
            return 0;
          errno = EEXIST;
        }
        return rc;
      });
      int fd = openat(dirFd, base.cStr(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) entryFailed(rawName, "open", errno);
      kj::AutoCloseFd dir(fd);
      applyMetadata(rawName, dir, e, true, path);
      return;
    }
    case AE_IFREG: {
      int fd = -1;
      create(rawName, dirFd, base, path, false, "create", [&]() {
        return fd = openat(dirFd, base.cStr(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                           0600);
      });
      kj::AutoCloseFd file(fd);
      la_int64_t end = 0;
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
            entryFailed(rawName, "write", errno);
          }
          p += n;
          size -= n;
          offset += n;
        }
        end = kj::max(end, offset);
      }
      if (rc != ARCHIVE_EOF) refuseEntry(rawName, kj::str("reading data: ", archiveError(a)));
      // A hole at the end is no block written: the size comes from truncating.
      if (end != archive_entry_size(e) && ftruncate(fd, archive_entry_size(e)) < 0)
        entryFailed(rawName, "truncate", errno);
      applyMetadata(rawName, file, e, false, path);
      return;
    }
    case AE_IFLNK: {
      const char* linkTarget = archive_entry_symlink(e);
      create(rawName, dirFd, base, path, false, "symlink", [&]() {
        return symlinkat(linkTarget == nullptr ? "" : linkTarget, dirFd, base.cStr());
      });
      forgetCachedDirs();
      applyNodeMetadata(rawName, dirFd, base, e, true);
      return;
    }
    case AE_IFCHR:
    case AE_IFBLK:
      if (devices == Devices::SKIP) {
        // As containerd's rootless unpack: no device node can be made in a user namespace, and
        // what a lower layer had at that name is gone all the same.
        removeExisting(rawName, dirFd, base, path, false);
        forgetCachedDirs();
        skipped.add(kj::str(path));
        logWarn("layer entry \"", rawName, "\": device node ", major(archive_entry_rdev(e)), ":",
                minor(archive_entry_rdev(e)), " skipped (none can be made in a user namespace)");
        return;
      }
      KJ_FALLTHROUGH;
    case AE_IFIFO:
      create(rawName, dirFd, base, path, false, "mknod",
             [&]() { return mknodat(dirFd, base.cStr(), type | 0600, archive_entry_rdev(e)); });
      applyNodeMetadata(rawName, dirFd, base, e, false);
      return;
    default:
      refuseEntry(rawName, kj::str("unsupported entry type 0", kj::hex(type)));
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
    if (futimens(fd, d.times) < 0) entryFailed(d.path, "set directory times", errno);
  }
  return stream.finish();
}

}  // namespace ctrd
