#include "gc.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/log.h>
#include <common/snapshot-info.h>
#include <kj/debug.h>
#include <oci/image.h>
#include <schema/content.capnp.h>
#include <schema/snapshots.capnp.h>

namespace ctrd {
namespace {

kj::String snapshotNode(kj::StringPtr snapshotter, kj::StringPtr storeKey) {
  return kj::str(snapshotter, "/", storeKey);
}

}  // namespace

struct GarbageCollector::Run {
  GcReport report;
  int64_t started = nowNanos();
  kj::Vector<StoredSnapshot> snapshots;
  uint64_t listedAt = 0;  // snapshotChanges when listed
  uint64_t markedAt = 0;  // meta.db's generation when marked
  Unreferenced unreferenced;
  size_t nextBlob = 0;
  kj::HashMap<kj::String, uint32_t> children;  // of each listed snapshot, as they are removed
  kj::HashSet<kj::String> tried;               // snapshots removed or refused this run

  void held(int64_t since) {
    report.longestPause = kj::max(report.longestPause, nowNanos() - since);
  }
};

GarbageCollector::GarbageCollector(MetadataStore& metadata, ServiceProcess& content,
                                   ServiceProcess& snapshots, BlobDeletions& deletions,
                                   kj::Timer& timer)
    : metadata(metadata),
      contentService(content),
      snapshotService(snapshots),
      deletions(deletions),
      timer(timer),
      tasks(*this) {
  auto& db = metadata.database();
  db.exec("CREATE TABLE IF NOT EXISTS gc_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL)");
  Statement s(db, "SELECT value FROM gc_state WHERE name = 'dirty'");
  if (s.step()) dirty = s.integer(0);
}

void GarbageCollector::setDirty(int64_t value) {
  dirty = value;
  metadata.write([&]() {
    Statement s(metadata.database(),
                "INSERT INTO gc_state (name, value) VALUES ('dirty', ?1)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value");
    s.bind(1, value);
    s.step();
  });
}

void GarbageCollector::resume() {
  if (dirty > 0) schedule();
  armNextExpiry();
}

void GarbageCollector::taskFailed(kj::Exception&& e) {
  logWarn("garbage collection: ", errorMessage(e));
}

void GarbageCollector::schedule() {
  setDirty(dirty + 1);
  if (armed) return;
  armed = true;
  tasks.add(timer.afterDelay(DELAY).then([this]() {
    armed = false;
    return collect().ignoreResult();
  }));
}

void GarbageCollector::expiresAt(int64_t nanoseconds) {
  // One timer, for the earliest expiry known; each run arms it for the next.
  if (nextExpiry != 0 && nextExpiry <= nanoseconds) return;
  nextExpiry = nanoseconds;
  int64_t wait = kj::max(int64_t(0), nanoseconds - nowNanos()) + 1000000;
  expiryTimer = timer.afterDelay(wait * kj::NANOSECONDS)
                    .then([this]() {
                      nextExpiry = 0;
                      return collect().ignoreResult();
                    })
                    .eagerlyEvaluate([this](kj::Exception&& e) { taskFailed(kj::mv(e)); });
}

kj::Promise<GcReport> GarbageCollector::collect() {
  auto paf = kj::newPromiseAndFulfiller<GcReport>();
  waitingNext.add(kj::mv(paf.fulfiller));
  if (!active) start();
  return kj::mv(paf.promise);
}

void GarbageCollector::start() {
  active = true;
  waitingNow = kj::mv(waitingNext);
  waitingNext = {};
  tasks.add(run().then(
      [this](GcReport report) {
        for (auto& f : waitingNow) f->fulfill(GcReport(report));
        finished();
      },
      [this](kj::Exception&& e) {
        logWarn("garbage collection failed: ", errorMessage(e));
        for (auto& f : waitingNow) f->reject(kj::cp(e));
        finished();
      }));
}

void GarbageCollector::finished() {
  active = false;
  waitingNow = {};
  if (waitingNext.size() > 0) start();
}

kj::Promise<GcReport> GarbageCollector::run() {
  auto owned = kj::heap<Run>();
  auto& run = *owned;
  // Recorded before anything goes: a daemon killed during the sweep sweeps again at start.
  setDirty(dirty + 1);
  int64_t dirtyAtStart = dirty;
  expireLeases(run);
  return list(run)
      .then([this, &run]() {
        mark(run);
        return sweepBlobs(run);
      })
      .then([this, &run]() { return sweepSnapshots(run); })
      .then([this, &run]() { return sweepOrphans(run); })
      .then([this, &run, dirtyAtStart]() {
        // Whatever was deleted before this run started is collected.
        if (dirty == dirtyAtStart && dirty != 0) setDirty(0);
        auto& r = run.report;
        r.nanoseconds = nowNanos() - run.started;
        logInfo("garbage collection: removed ", r.blobs, " blob records (", r.blobsFreed,
                " blobs, ", r.bytesFreed, " bytes freed), ", r.snapshots, " snapshots, ", r.leases,
                " expired leases in ", r.nanoseconds / 1000000, " ms (", r.marks,
                " marks, longest step ", r.longestPause / 1000, " us)");
        armNextExpiry();
        return r;
      })
      .attach(kj::mv(owned));
}

void GarbageCollector::expireLeases(Run& run) {
  int64_t since = nowNanos();
  metadata.write([&]() {
    for (auto& lease : expiredLeases(metadata, nowNanos())) {
      if (metadata.leases.remove(lease.ns, lease.id)) run.report.leases++;
    }
  });
  run.held(since);
}

void GarbageCollector::armNextExpiry() {
  Statement s(metadata.database(), "SELECT labels FROM leases");
  int64_t earliest = 0;
  while (s.step()) {
    // A label that is not a time is expired already (LeaseTable::expired): no timer for it.
    KJ_IF_MAYBE(text, decodeLabels(s.text(0)).find(oci::labels::GC_EXPIRE)) {
      KJ_IF_MAYBE(at, parseRfc3339(*text)) {
        if (earliest == 0 || *at < earliest) earliest = *at;
      }
    }
  }
  if (earliest != 0) expiresAt(earliest);
}

kj::Promise<void> GarbageCollector::list(Run& run) {
  // Every snapshot of every namespace, from each snapshotter, as of now.
  uint64_t changes = snapshotChanges;
  auto store = snapshotService.client<schema::SnapshotStore>();
  kj::Vector<kj::Promise<void>> lists;
  auto fresh = kj::heap<kj::Vector<StoredSnapshot>>();
  for (auto name : SNAPSHOTTERS) {
    auto req = store.snapshotterRequest();
    req.setName(name);
    auto snapshots = req.send().getSnapshots();
    lists.add(snapshots.listRequest().send().then([&out = *fresh, name](auto response) {
      for (auto info : response.getInfos()) {
        out.add(StoredSnapshot{kj::str(name), kj::str(info.getName()), kj::str(info.getParent()),
                               readLabels(info.getLabels())});
      }
    }));
  }
  return kj::joinPromises(lists.releaseAsArray())
      .then([&run, changes, fresh = kj::mv(fresh)]() mutable {
        run.snapshots = kj::mv(*fresh);
        run.listedAt = changes;
        run.children.clear();
        for (auto& s : run.snapshots) {
          if (s.parent.size() == 0) continue;
          run.children.upsert(snapshotNode(s.snapshotter, s.parent), 1,
                              [](uint32_t& n, uint32_t&&) { n++; });
        }
      });
}

void GarbageCollector::mark(Run& run) {
  int64_t since = nowNanos();
  run.unreferenced = markUnreferenced(metadata, run.snapshots, nowNanos());
  run.nextBlob = 0;
  run.markedAt = metadata.generation();
  run.report.marks++;
  run.held(since);
}

kj::Promise<void> GarbageCollector::sweepBlobs(Run& run) {
  // One batch of records per turn of the event loop, against a mark no commit has outdated.
  if (metadata.generation() != run.markedAt) mark(run);
  auto& blobs = run.unreferenced.blobs;
  if (run.nextBlob >= blobs.size()) return kj::READY_NOW;
  int64_t since = nowNanos();
  kj::Vector<kj::Promise<void>> freed;
  metadata.write([&]() {
    for (size_t n = 0; n < BATCH && run.nextBlob < blobs.size(); n++) {
      auto& b = blobs[run.nextBlob++];
      if (!metadata.content.remove(b.ns, b.digest)) continue;
      run.report.blobs++;
      if (metadata.content.holders(b.digest) > 0) continue;
      // No namespace holds it: the bytes go too.
      int64_t size = b.size;
      freed.add(deletions.remove(b.digest).then([&run, size]() {
        run.report.blobsFreed++;
        run.report.bytesFreed += size;
      }));
    }
  });
  // Removing unreferenced records references nothing new: the mark still holds.
  run.markedAt = metadata.generation();
  run.held(since);
  return kj::joinPromises(freed.releaseAsArray())
      .then([]() { return kj::evalLater([]() {}); })
      .then([this, &run]() { return sweepBlobs(run); });
}

kj::Own<void> GarbageCollector::holdUnrecorded() {
  unrecordedHolds++;
  return kj::heap(kj::defer([this]() { unrecordedHolds--; }));
}

kj::Promise<void> GarbageCollector::sweepOrphans(Run& run) {
  // Bytes no namespace holds: what a sweep killed between a record and its bytes left. Only
  // blobs stored well before this run began: one just committed may be about to be recorded
  // (BlobDeletions would catch that too, at the cost of the writer's retry).
  int64_t before = run.started - ORPHAN_AGE;
  if (unrecordedHolds > 0) return kj::READY_NOW;
  return contentService.client<schema::ContentStore>().listRequest().send().then(
      [this, &run, before](auto response) {
        kj::Vector<kj::Promise<void>> freed;
        for (auto info : response.getInfos()) {
          if (info.getCreatedAt() > before) continue;
          if (metadata.content.holders(info.getDigest()) > 0) continue;
          int64_t size = info.getSize();
          freed.add(deletions.remove(info.getDigest()).then([&run, size]() {
            run.report.blobsFreed++;
            run.report.bytesFreed += size;
          }));
        }
        return kj::joinPromises(freed.releaseAsArray());
      });
}

kj::Promise<void> GarbageCollector::sweepSnapshots(Run& run) {
  // A round of leaves at a time; re-listed and re-marked when anything changed meanwhile.
  kj::Promise<void> fresh = kj::READY_NOW;
  if (snapshotChanges != run.listedAt) {
    fresh = list(run).then([this, &run]() { mark(run); });
  } else if (metadata.generation() != run.markedAt) {
    mark(run);
  }
  return fresh.then([this, &run]() -> kj::Promise<void> {
    if (metadata.generation() != run.markedAt) return sweepSnapshots(run);
    int64_t since = nowNanos();
    auto store = snapshotService.client<schema::SnapshotStore>();
    kj::Vector<kj::Promise<void>> round;
    for (auto at : run.unreferenced.snapshots) {
      if (round.size() >= BATCH) break;
      auto& s = run.snapshots[at];
      auto node = snapshotNode(s.snapshotter, s.key);
      if (run.tried.contains(node)) continue;
      KJ_IF_MAYBE(n, run.children.find(node)) {
        if (*n > 0) continue;
      }
      run.tried.insert(kj::str(node));
      auto req = store.snapshotterRequest();
      req.setName(s.snapshotter);
      auto rm = req.send().getSnapshots().removeRequest();
      rm.setKey(s.key);
      auto parent = s.parent.size() > 0 ? snapshotNode(s.snapshotter, s.parent) : kj::str();
      auto removed =
          rm.send()
              .then([](auto) { return true; },
                    [key = kj::str(s.key)](kj::Exception&& e) {
                      if (errorKind(e) == ErrorKind::NOT_FOUND) return true;
                      logDebug("garbage collection: snapshot ", key, " stays: ", errorMessage(e));
                      return false;
                    })
              .fork();
      removing.upsert(kj::str(node), removed.addBranch().ignoreResult().fork(),
                      [](auto& old, auto&& fresh) { old = kj::mv(fresh); });
      round.add(removed.addBranch().then([&run, parent = kj::mv(parent)](bool gone) {
        if (!gone) return;
        run.report.snapshots++;
        KJ_IF_MAYBE(n, run.children.find(parent)) {
          if (*n > 0) --*n;
        }
      }));
    }
    run.held(since);
    if (round.size() == 0) return kj::READY_NOW;
    return kj::joinPromises(round.releaseAsArray())
        .then([]() { return kj::evalLater([]() {}); })
        .then([this, &run]() {
          // Settled: forget them (not from inside their own completion).
          for (auto& node : run.tried) removing.erase(node);
          return sweepSnapshots(run);
        });
  });
}

kj::Promise<void> GarbageCollector::settled(kj::StringPtr snapshotter, kj::StringPtr storeKey) {
  KJ_IF_MAYBE(f, removing.find(snapshotNode(snapshotter, storeKey))) {
    return f->addBranch();
  }
  return kj::READY_NOW;
}

}  // namespace ctrd
