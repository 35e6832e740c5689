// Landlock: confines the calling thread's file access to a few trees, given as directory fds.
//
// containerd-diff holds CAP_DAC_OVERRIDE, CAP_FOWNER and CAP_CHOWN and parses hostile layers;
// its chroot holds no path, but the directory fds it is handed reach the host through "..". Each
// apply (and each diff) runs on a thread of its own that first confines itself here, so that a
// memory bug in libarchive or an inflater cannot open, create or remove anything outside the
// trees that apply was handed. The rules live and die with the thread.
#pragma once

#include <kj/array.h>

namespace ctrd {

struct LandlockTree {
  int dirFd;
  bool writable;  // false: read files and list directories only
};

int landlockAbi();
// The kernel's Landlock ABI version; 0 when the kernel has none (older than 5.13, or disabled).

bool confineThread(kj::ArrayPtr<const LandlockTree> trees);
// From now on this thread may open, create, link, rename and remove only beneath `trees` (as
// each allows). Fds opened before stay usable. False, changing nothing, when the kernel has no
// Landlock; throws on any other failure. Landlock does not govern chown, chmod, xattrs or times:
// those are made safe by never following a symlink (see the layer applier).

}  // namespace ctrd
