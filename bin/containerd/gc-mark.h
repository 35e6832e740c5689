// Garbage collection's mark: what of meta.db and of containerd-snapshot's records nothing needs.
//
// Roots, in every namespace: images (their target), containers (their snapshot), the resources
// of every lease that has not expired, and blobs and snapshots labelled `containerd.io/gc.root`.
// From each marked object the edges are its labels, as containerd's: `containerd.io/gc.ref.
// content[.<anything>]` names a blob of the same namespace and `containerd.io/gc.ref.snapshot.
// <snapshotter>[/<anything>]` a snapshot; a snapshot also needs its parent. A pull labels an
// image's index, manifests and config that way (pull.cc), so the image's tree is followed
// through them. The mark runs synchronously over one read of meta.db: nothing commits between
// its queries.
#pragma once

#include <common/labels.h>
#include <kj/map.h>
#include <kj/string.h>
#include <kj/vector.h>

namespace ctrd {

class MetadataStore;

struct StoredSnapshot {
  // One record of containerd-snapshot's, as its store lists it: keys are "<namespace>/<key>".
  kj::String snapshotter;
  kj::String key;
  kj::String parent;  // empty for none
  Labels labels;
};

struct NamespacedId {
  kj::String ns;
  kj::String id;
};

struct Unreferenced {
  struct Blob {
    kj::String ns;
    kj::String digest;
    int64_t size;
  };
  kj::Vector<Blob> blobs;
  kj::Vector<size_t> snapshots;  // indexes into the list marked, children before their parents
};

Unreferenced markUnreferenced(MetadataStore& metadata, kj::ArrayPtr<const StoredSnapshot> snapshots,
                              int64_t now);
// Leases that expired before `now` protect nothing (they are removed before the mark).

kj::Vector<NamespacedId> expiredLeases(MetadataStore& metadata, int64_t now);
// Each lease whose `containerd.io/gc.expire` is before `now`; a label that
// is not a time (written before it was checked) counts as expired.

}  // namespace ctrd
