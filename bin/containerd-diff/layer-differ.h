// Computes a layer from a snapshot, as an OCI layer tarball in a memory file (memfd), so that the
// content service can read it by fd: bulk data never rides in RPC messages.
//
// Deterministic: entries in byte order of their paths, numeric owners only, no access or change
// times, gzip with no name and no time in its header. The same trees give the same digest.
#pragma once

#include <kj/io.h>
#include <kj/string.h>
#include <stdint.h>

#include "layer-stream.h"

namespace ctrd {

struct ComputedLayer {
  kj::AutoCloseFd file;  // the (compressed) layer, positioned at its start
  kj::String diffId;     // digest of the uncompressed tar
  int64_t uncompressedSize;
  size_t entries;
};

ComputedLayer diffOverlayUpper(int upper, Compression compression);
// An overlay upper directory on its own: 0:0 character devices become `.wh.NAME`, a directory
// with user.overlay.opaque="y" also gets `.wh..wh..opq`; the store's user.overlay.* xattrs are
// not part of the layer.

ComputedLayer diffTrees(int lower, int upper, Compression compression);
// A plain tree against the tree below it (native snapshots): what is new or changed in `upper`,
// and a whiteout for what it lacks. Regular files count as changed when their type, mode, owner,
// size, mtime (to the nanosecond) or xattrs differ.

}  // namespace ctrd
