// Directory trees beneath directory fds: remove, copy (for the native snapshotter), measure.
// Every call is relative to an fd and never follows a symlink out of the tree.
#pragma once

#include <kj/io.h>
#include <kj/string.h>
#include <stdint.h>

#include "path.h"

namespace ctrd {

void removeTree(int parentFd, kj::StringPtr name);
// rm -rf of `name` beneath `parentFd`. Works on trees owned by any uid with any modes, using
// CAP_DAC_OVERRIDE and CAP_FOWNER rather than root. Missing is not an error.

void copyTree(int fromDir, int toDir);
// Copies the contents of `fromDir` into the empty `toDir`: types, modes (setuid too), owners,
// times, xattrs, hardlinks, symlinks, devices, fifos. toDir itself takes fromDir's owner and mode.

struct DiskUsage {
  int64_t size = 0;    // bytes in allocated blocks
  int64_t inodes = 0;  // distinct inodes
};

DiskUsage diskUsage(int dir);

}  // namespace ctrd
