// Applies one layer tarball beneath a directory fd, never by path and never outside it.
//
// libarchive only parses; every file is made here with *at() calls relative to the target fd,
// each parent resolved by the kernel with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS). An
// entry that names "..", an absolute path, a hardlink to outside, a whiteout of "." or "..", or
// whose parent is reached through a symlink that leaves the tree, fails the apply naming the
// entry; nothing is written outside the target. Owners, modes, xattrs and times are set through
// an fd opened O_NOFOLLOW (files, directories) or by calls that never follow (symlinks, devices,
// FIFOs, which are never opened); overlay's own xattrs (user.overlay.*, trusted.*) are dropped.
// One applier per target at a time: the caller serializes applies into the same directory.
#pragma once

#include <kj/array.h>
#include <kj/io.h>
#include <kj/map.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>
#include <time.h>

#include "layer-stream.h"

struct archive;
struct archive_entry;

namespace ctrd {

enum class WhiteoutStyle {
  OVERLAY,  // an overlay upperdir: 0:0 character devices and user.overlay.opaque
  DELETE,   // a plain tree (native snapshotter): whiteouts delete
};

enum class Devices {
  CREATE,  // device nodes are made (needs CAP_MKNOD)
  SKIP,    // left out, as containerd's rootless unpack does: none can be made in a user namespace
};

class LayerApplier {
public:
  LayerApplier(int target, kj::ArrayPtr<const int> parents, WhiteoutStyle style,
               Devices devices = Devices::CREATE);
  // `parents`: read-only directories of the snapshots below, newest first, whose metadata the
  // directories a layer creates implicitly take (as overlay would show them).

  LayerStream::Finished apply(LayerStream& stream);
  // Applies every entry; returns the uncompressed digest and size.

  size_t entries() const { return entryCount; }
  kj::ArrayPtr<const kj::String> skippedDevices() const { return skipped; }

  kj::Vector<kj::String> implicitDirectories() const;
  // The directories this layer created only as parents, whose owner and mode came from
  // `parents`. Applied with parents missing (in parallel with the layers below), they get the
  // right metadata later from inheritMetadata().

  static void inheritMetadata(int target, kj::ArrayPtr<const int> parents,
                              kj::ArrayPtr<const kj::String> paths);
  // What the apply would have given `paths` (beneath `target`) had `parents` been there.

private:
  int target;
  kj::ArrayPtr<const int> parents;
  WhiteoutStyle style;
  Devices devices;
  size_t entryCount = 0;
  kj::Vector<kj::String> skipped;                     // device nodes left out
  kj::HashMap<kj::String, kj::AutoCloseFd> dirCache;  // resolved parent directories
  kj::Vector<kj::AutoCloseFd> retiredDirs;            // forgotten while an entry may still use them
  kj::HashSet<kj::String> unpacked;                   // paths this layer wrote (for opaque dirs)
  struct DirTimes {
    kj::String path;
    struct timespec times[2];
  };
  kj::Vector<DirTimes> dirTimes;  // set last: writing inside a directory changes its mtime

  int parentDir(kj::StringPtr entry, kj::StringPtr dir);
  // An fd of `dir` beneath the target (O_RDONLY | O_DIRECTORY), creating missing directories on
  // the way; valid until the next entry.
  kj::Maybe<kj::AutoCloseFd> tryResolve(kj::StringPtr entry, int root, kj::StringPtr path,
                                        int flags);
  // `path` beneath `root`, or null when it does not exist. Refuses, naming `entry`, a path that
  // leaves the tree through a symlink.
  void makeImplicitDir(kj::StringPtr entry, int parentFd, kj::StringPtr path, kj::StringPtr name);
  static void inheritFromLowers(kj::ArrayPtr<const int> lowers, int dirFd, kj::StringPtr path);
  kj::Vector<kj::String> implicitDirs;
  void forgetCachedDirs();
  void applyEntry(struct archive* a, struct archive_entry* e);
  void applyWhiteout(kj::StringPtr entry, kj::StringPtr dir, kj::StringPtr base);
  void removeExisting(kj::StringPtr entry, int dirFd, kj::StringPtr base, kj::StringPtr path,
                      bool newIsDir);
  template <typename Make>
  void create(kj::StringPtr entry, int dirFd, kj::StringPtr base, kj::StringPtr path, bool newIsDir,
              kj::StringPtr what, Make&& make);
  // make() (returning < 0 with errno on failure); where something is in the way (EEXIST), it
  // goes as removeExisting() decides and make() runs again. Most entries meet nothing: one
  // syscall instead of a stat first.
  [[noreturn]] void chownFailed(kj::StringPtr entry, struct archive_entry* e, int err);
  void applyMetadata(kj::StringPtr entry, int fd, struct archive_entry* e, bool isDir,
                     kj::StringPtr path);
  void applyNodeMetadata(kj::StringPtr entry, int dirFd, kj::StringPtr base,
                         struct archive_entry* e, bool isSymlink);
};

kj::String cleanEntryPath(kj::StringPtr name);
// "./a//b/" -> "a/b". Throws naming the entry for "..", an absolute name, or an empty one.

}  // namespace ctrd
