#include "gc-mark.h"

#include <common/sqlite.h>
#include <oci/image.h>
#include <string.h>

#include "metadata/store.h"

namespace ctrd {
namespace {

constexpr kj::StringPtr GC_CONTENT_ONE = "containerd.io/gc.ref.content"_kj;

kj::String blobNode(kj::StringPtr ns, kj::StringPtr digest) {
  return kj::str(ns, "/", digest);
}

kj::String snapshotNode(kj::StringPtr snapshotter, kj::StringPtr storeKey) {
  return kj::str(snapshotter, "/", storeKey);
}

class Marker {
public:
  explicit Marker(kj::ArrayPtr<const StoredSnapshot> snapshots) : snapshots(snapshots) {
    for (size_t i = 0; i < snapshots.size(); i++) {
      snapshotAt.insert(snapshotNode(snapshots[i].snapshotter, snapshots[i].key), i);
    }
  }

  void blob(kj::StringPtr ns, kj::StringPtr digest) {
    auto node = blobNode(ns, digest);
    if (markedBlobs.contains(node)) return;
    markedBlobs.insert(kj::mv(node));
    pendingBlobs.add(NamespacedId{kj::str(ns), kj::str(digest)});
  }

  void snapshot(kj::StringPtr snapshotter, kj::StringPtr storeKey) {
    KJ_IF_MAYBE(at, snapshotAt.find(snapshotNode(snapshotter, storeKey))) {
      if (markedSnapshots.contains(*at)) return;
      markedSnapshots.insert(*at);
      pendingSnapshots.add(*at);
    }
  }

  void labels(kj::StringPtr ns, const Labels& labels) {
    // The edges a label draws, from an object of namespace `ns`.
    for (auto& e : labels) {
      if (e.key == GC_CONTENT_ONE || e.key.startsWith(oci::labels::GC_CONTENT)) {
        blob(ns, e.value);
      } else if (e.key.startsWith(oci::labels::GC_SNAPSHOT)) {
        auto rest = e.key.slice(oci::labels::GC_SNAPSHOT.size());
        KJ_IF_MAYBE(slash, rest.findFirst('/')) {
          snapshot(kj::str(rest.slice(0, *slash)), kj::str(ns, "/", e.value));
        } else {
          snapshot(rest, kj::str(ns, "/", e.value));
        }
      }
    }
  }

  void propagate(kj::HashMap<kj::String, Labels>& blobLabels) {
    while (pendingBlobs.size() > 0 || pendingSnapshots.size() > 0) {
      while (pendingBlobs.size() > 0) {
        auto next = kj::mv(pendingBlobs.back());
        pendingBlobs.removeLast();
        KJ_IF_MAYBE(l, blobLabels.find(blobNode(next.ns, next.id))) {
          labels(next.ns, *l);
        }
      }
      while (pendingSnapshots.size() > 0) {
        auto& s = snapshots[pendingSnapshots.back()];
        pendingSnapshots.removeLast();
        if (s.parent.size() > 0) snapshot(s.snapshotter, s.parent);
        KJ_IF_MAYBE(slash, s.key.findFirst('/')) {
          labels(kj::str(s.key.slice(0, *slash)), s.labels);
        }
      }
    }
  }

  bool blobMarked(kj::StringPtr ns, kj::StringPtr digest) {
    return markedBlobs.contains(blobNode(ns, digest));
  }
  bool snapshotMarked(size_t at) { return markedSnapshots.contains(at); }

private:
  kj::ArrayPtr<const StoredSnapshot> snapshots;
  kj::HashMap<kj::String, size_t> snapshotAt;
  kj::HashSet<kj::String> markedBlobs;
  kj::HashSet<size_t> markedSnapshots;
  kj::Vector<NamespacedId> pendingBlobs;
  kj::Vector<size_t> pendingSnapshots;
};

}  // namespace

kj::Vector<NamespacedId> expiredLeases(MetadataStore& metadata, int64_t now) {
  kj::Vector<NamespacedId> out;
  Statement s(metadata.database(), "SELECT namespace, id, labels FROM leases");
  while (s.step()) {
    if (LeaseTable::expired(decodeLabels(s.text(2)), now))
      out.add(NamespacedId{s.text(0), s.text(1)});
  }
  return out;
}

Unreferenced markUnreferenced(MetadataStore& metadata, kj::ArrayPtr<const StoredSnapshot> snapshots,
                              int64_t now) {
  auto& db = metadata.database();
  Marker marker(snapshots);

  kj::HashMap<kj::String, Labels> blobLabels;
  {
    Statement s(db, "SELECT namespace, digest, labels FROM content");
    while (s.step()) {
      auto ns = s.text(0);
      auto digest = s.text(1);
      auto labels = decodeLabels(s.text(2));
      if (labels.find(oci::labels::GC_ROOT) != nullptr) marker.blob(ns, digest);
      blobLabels.insert(blobNode(ns, digest), kj::mv(labels));
    }
  }
  {
    Statement s(db, "SELECT namespace, digest, labels FROM images");
    while (s.step()) {
      auto ns = s.text(0);
      marker.blob(ns, s.text(1));
      marker.labels(ns, decodeLabels(s.text(2)));
    }
  }
  {
    Statement s(db, "SELECT namespace, snapshotter, snapshot_key, labels FROM containers");
    while (s.step()) {
      auto ns = s.text(0);
      auto key = s.text(2);
      if (key.size() > 0) marker.snapshot(s.text(1), kj::str(ns, "/", key));
      marker.labels(ns, decodeLabels(s.text(3)));
    }
  }
  {
    Statement s(db,
                "SELECT r.namespace, r.type, r.id, l.labels FROM lease_resources r"
                " JOIN leases l ON l.namespace = r.namespace AND l.id = r.lease");
    while (s.step()) {
      if (LeaseTable::expired(decodeLabels(s.text(3)), now)) continue;
      auto ns = s.text(0);
      auto type = s.text(1);
      if (type == "content") {
        marker.blob(ns, s.text(2));
      } else if (type.startsWith("snapshots/")) {
        marker.snapshot(type.slice(strlen("snapshots/")), kj::str(ns, "/", s.text(2)));
      }
    }
  }
  for (size_t i = 0; i < snapshots.size(); i++) {
    if (snapshots[i].labels.find(oci::labels::GC_ROOT) != nullptr) {
      marker.snapshot(snapshots[i].snapshotter, snapshots[i].key);
    }
  }
  marker.propagate(blobLabels);

  Unreferenced out;
  {
    Statement s(db, "SELECT namespace, digest, size FROM content ORDER BY namespace, digest");
    while (s.step()) {
      auto ns = s.text(0);
      auto digest = s.text(1);
      if (!marker.blobMarked(ns, digest)) {
        out.blobs.add(Unreferenced::Blob{kj::mv(ns), kj::mv(digest), s.integer(2)});
      }
    }
  }
  // Children first: a snapshot goes only after every snapshot on it. An unmarked snapshot's
  // children are all unmarked (a marked child marks its parent).
  kj::HashMap<kj::String, size_t> children;
  for (auto& s : snapshots) {
    if (s.parent.size() == 0) continue;
    auto& n = children.findOrCreate(snapshotNode(s.snapshotter, s.parent), [&]() {
      return kj::HashMap<kj::String, size_t>::Entry{snapshotNode(s.snapshotter, s.parent), 0};
    });
    n++;
  }
  kj::Vector<size_t> ready;
  for (size_t i = 0; i < snapshots.size(); i++) {
    if (marker.snapshotMarked(i)) continue;
    if (children.find(snapshotNode(snapshots[i].snapshotter, snapshots[i].key)) == nullptr) {
      ready.add(i);
    }
  }
  kj::HashMap<kj::String, size_t> at;
  for (size_t i = 0; i < snapshots.size(); i++) {
    at.insert(snapshotNode(snapshots[i].snapshotter, snapshots[i].key), i);
  }
  while (ready.size() > 0) {
    size_t i = ready.back();
    ready.removeLast();
    out.snapshots.add(i);
    auto& s = snapshots[i];
    if (s.parent.size() == 0) continue;
    auto parentNode = snapshotNode(s.snapshotter, s.parent);
    KJ_IF_MAYBE(n, children.find(parentNode)) {
      if (--*n > 0) continue;
      KJ_IF_MAYBE(p, at.find(parentNode)) {
        if (!marker.snapshotMarked(*p)) ready.add(*p);
      }
    }
  }
  return out;
}

}  // namespace ctrd
