// Garbage collection's mark over a real meta.db and a hand-made list of snapshots: which roots
// keep what, which labels are edges, and the order snapshots may go in.
#include <common/clock.h>
#include <gc-mark.h>
#include <gtest/gtest.h>
#include <metadata/store.h>
#include <oci/image.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "integration/harness.h"

namespace ctrd {
namespace {

std::string digestOf(char c) {
  return "sha256:" + std::string(64, c);
}

class GcMarkTest : public ::testing::Test {
protected:
  test::TempDir dir;
  std::unique_ptr<MetadataStore> owned =
      std::make_unique<MetadataStore>(kj::str(dir.path().c_str(), "/meta.db"));
  MetadataStore& store = *owned;
  std::unique_ptr<kj::Vector<StoredSnapshot>> ownedSnapshots =
      std::make_unique<kj::Vector<StoredSnapshot>>();
  kj::Vector<StoredSnapshot>& snapshots = *ownedSnapshots;

  void blob(const char* ns, char c, std::vector<std::pair<std::string, std::string>> labels = {}) {
    Labels l;
    for (auto& [k, v] : labels) setLabel(l, kj::str(k.c_str()), kj::str(v.c_str()));
    ASSERT_TRUE(store.content.add(ns, digestOf(c).c_str(), 10, kj::mv(l)));
  }

  void snapshot(const char* key, const char* parent,
                std::vector<std::pair<std::string, std::string>> labels = {},
                const char* snapshotter = "overlayfs") {
    Labels l;
    for (auto& [k, v] : labels) setLabel(l, kj::str(k.c_str()), kj::str(v.c_str()));
    snapshots.add(StoredSnapshot{kj::str(snapshotter), kj::str(key), kj::str(parent), kj::mv(l)});
  }

  void image(const char* ns, const char* name, char target) {
    store.images.record(ns, name, "application/vnd.oci.image.index.v1+json",
                        digestOf(target).c_str(), 10);
  }

  void lease(const char* ns, const char* id, int64_t expiresIn,
             std::vector<std::pair<std::string, std::string>> resources) {
    LeaseRecord r{kj::str(id), Labels(), nowNanos()};
    if (expiresIn != 0) {
      setLabel(r.labels, kj::str(oci::labels::GC_EXPIRE), formatRfc3339(nowNanos() + expiresIn));
    }
    ASSERT_TRUE(store.leases.create(ns, r));
    for (auto& [type, rid] : resources) {
      store.leases.addResource(ns, id, LeaseResource{kj::str(type.c_str()), kj::str(rid.c_str())});
    }
  }

  struct Result {
    std::set<std::string> blobs;         // "ns/digest"
    std::vector<std::string> snapshots;  // "snapshotter/key", in the order given
  };

  Result mark() {
    auto u = markUnreferenced(store, snapshots, nowNanos());
    Result r;
    for (auto& b : u.blobs) r.blobs.insert(std::string(b.ns.cStr()) + "/" + b.digest.cStr());
    for (auto at : u.snapshots) {
      r.snapshots.push_back(std::string(snapshots[at].snapshotter.cStr()) + "/" +
                            snapshots[at].key.cStr());
    }
    return r;
  }

  static std::string in(const char* ns, char c) { return std::string(ns) + "/" + digestOf(c); }
};

TEST_F(GcMarkTest, AnImageKeepsItsTreeThroughThePullsLabelsAndItsUnpackedChain) {
  // index i -> manifest m -> config c (-> snapshot chain2), layers l0, l1
  blob("a", 'i', {{"containerd.io/gc.ref.content.m.0", digestOf('m')}});
  blob("a", 'm',
       {{"containerd.io/gc.ref.content.config", digestOf('c')},
        {"containerd.io/gc.ref.content.l.0", digestOf('0')},
        {"containerd.io/gc.ref.content.l.1", digestOf('1')}});
  blob("a", 'c', {{"containerd.io/gc.ref.snapshot.overlayfs", "chain2"}});
  blob("a", '0');
  blob("a", '1');
  blob("a", 'u');  // nothing refers to it
  image("a", "img", 'i');
  snapshot("a/chain1", "");
  snapshot("a/chain2", "a/chain1");
  snapshot("a/other", "a/chain1");  // unreferenced, on a kept parent
  auto r = mark();
  EXPECT_EQ(r.blobs, std::set<std::string>({in("a", 'u')}));
  EXPECT_EQ(r.snapshots, std::vector<std::string>({"overlayfs/a/other"}));
}

TEST_F(GcMarkTest, WithoutItsImageTheWholeTreeGoesChildrenBeforeParents) {
  blob("a", 'i', {{"containerd.io/gc.ref.content.m.0", digestOf('m')}});
  blob("a", 'm', {{"containerd.io/gc.ref.content.config", digestOf('c')}});
  blob("a", 'c', {{"containerd.io/gc.ref.snapshot.overlayfs", "chain3"}});
  snapshot("a/chain1", "");
  snapshot("a/chain3", "a/chain2");
  snapshot("a/chain2", "a/chain1");
  snapshot("a/side", "a/chain1");
  auto r = mark();
  EXPECT_EQ(r.blobs.size(), 3u);
  ASSERT_EQ(r.snapshots.size(), 4u);
  auto at = [&](const char* k) {
    return std::find(r.snapshots.begin(), r.snapshots.end(), std::string("overlayfs/") + k) -
           r.snapshots.begin();
  };
  EXPECT_LT(at("a/chain3"), at("a/chain2"));
  EXPECT_LT(at("a/chain2"), at("a/chain1"));
  EXPECT_LT(at("a/side"), at("a/chain1"));
}

TEST_F(GcMarkTest, ALabelKeepsOnlyWhatItsOwnNamespaceHolds) {
  // b's image names a digest that a also holds: a's record stays unreferenced.
  blob("a", 'x');
  blob("b", 'x');
  image("b", "img", 'x');
  auto r = mark();
  EXPECT_EQ(r.blobs, std::set<std::string>({in("a", 'x')}));
}

TEST_F(GcMarkTest, ContainersGcRootsAndLiveLeasesAreRoots) {
  blob("a", 'r', {{"containerd.io/gc.root", "2026-01-01T00:00:00Z"}});
  blob("a", 'b');
  blob("a", 'e');
  blob("a", 'n');
  lease("a", "live", 3600ll * 1000000000,
        {{"content", digestOf('b')}, {"snapshots/native", "leased"}});
  lease("a", "forever", 0, {{"ingests", "some-ref"}});
  lease("a", "expired", -1000000000, {{"content", digestOf('e')}});
  store.containers.insert("a", ContainerRecord{kj::str("c1"), kj::str(), kj::str("runc"),
                                               kj::str("runc"), kj::str("{}"), kj::str("overlayfs"),
                                               kj::str("c1-snap"), Labels(), 0, 0});
  snapshot("a/base", "");
  snapshot("a/c1-snap", "a/base");
  snapshot("a/rooted", "", {{"containerd.io/gc.root", "x"}});
  snapshot("a/leased", "", {}, "native");
  snapshot("a/leased", "", {}, "overlayfs");  // same key, other snapshotter: not leased
  auto r = mark();
  EXPECT_EQ(r.blobs, std::set<std::string>({in("a", 'e'), in("a", 'n')}));
  EXPECT_EQ(r.snapshots, std::vector<std::string>({"overlayfs/a/leased"}));
  auto expired = expiredLeases(store, nowNanos());
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].id, "expired");
}

TEST_F(GcMarkTest, ASnapshotsLabelsAreEdgesToo) {
  blob("a", 'k');
  snapshot("a/top", "",
           {{"containerd.io/gc.root", "x"},
            {"containerd.io/gc.ref.content.data", digestOf('k')},
            {"containerd.io/gc.ref.snapshot.native/extra", "n1"}});
  snapshot("a/n1", "", {}, "native");
  auto r = mark();
  EXPECT_TRUE(r.blobs.empty());
  EXPECT_TRUE(r.snapshots.empty());
}

TEST_F(GcMarkTest, Rfc3339ParsesAsGoDoesAndRefusesTheRest) {
  EXPECT_EQ(parseRfc3339("1970-01-01T00:00:01Z"), int64_t(1000000000));
  EXPECT_EQ(parseRfc3339("1970-01-01T01:00:01.5+01:00"), int64_t(1500000000));
  EXPECT_EQ(parseRfc3339("2026-12-03T10:00:00.000000001Z"),
            parseRfc3339("2026-12-03T10:00:00Z").orDefault(0) + 1);
  for (auto bad : {"", "2026-12-03", "2026-12-03T10:00:00", "2026-13-03T10:00:00Z",
                   "2026-12-03T10:00:00Zjunk", "2026-12-03 10:00:00Z", "24h"}) {
    EXPECT_EQ(parseRfc3339(bad), nullptr) << bad;
  }
  EXPECT_EQ(formatRfc3339(1500000000), "1970-01-01T00:00:01.5Z");
  EXPECT_EQ(formatRfc3339(0), "1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace ctrd
