// Making the mounts a snapshotter describes. Only containerd-tasks (and tests) mount.
#pragma once

#include <capnp/list.h>
#include <kj/string.h>
#include <schema/types.capnp.h>

namespace ctrd {

void mountAll(capnp::List<schema::Mount>::Reader mounts, kj::StringPtr target,
              unsigned long flags = 0);
// Mounts each in order at `target`. An overlay whose options do not fit in one page (the
// mount(2) limit: about 60 layers with long paths) is built with the new mount API instead, one
// `lowerdir+` per layer (Linux 6.5+), so the number of layers is not limited by path lengths.
// `flags` (MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_RDONLY) apply on top of the mounts' own options.

void unmount(kj::StringPtr target);

}  // namespace ctrd
