// Garbage collection in the supervisor: mark (gc-mark.h) from a consistent read of meta.db and
// of containerd-snapshot's records, then remove what nothing references through the content
// and snapshot services, in small batches; then bytes in containerd-content that no namespace
// holds (what a sweep killed between a record and its bytes leaves).
//
// It never holds meta.db for long and never takes anything in use: the mark is one synchronous
// read; each batch of blob records goes in one write, re-marked first if anything committed
// since the mark; snapshots go leaves first, a round at a time, re-listed and re-marked when
// meta.db or a snapshot changed meanwhile. What a pull, unpack or container start is about to
// use is in its lease (or an image or container record) before it is looked at, and a caller
// that finds an existing snapshot waits for any removal of it in flight (settled()) before
// trusting that it exists; a blob's bytes go through BlobDeletions, which already orders a
// deletion against another namespace's commit of the same digest.
//
// Runs are debounced after deletions (schedule(), as containerd's scheduler does) and run on
// demand (collect()): one at a time; a collect() during a run gets the next, full run.
#pragma once

#include <kj/async.h>
#include <kj/map.h>
#include <kj/timer.h>
#include <kj/vector.h>

#include "blob-deletions.h"
#include "gc-mark.h"
#include "metadata/store.h"
#include "supervisor.h"

namespace ctrd {

struct GcReport {
  uint32_t blobs = 0;       // blob records removed from namespaces
  uint32_t blobsFreed = 0;  // blobs whose bytes went (no namespace held them any more)
  int64_t bytesFreed = 0;
  uint32_t snapshots = 0;
  uint32_t leases = 0;  // expired leases removed
  uint32_t marks = 0;   // how many times it marked (1, plus once per change it had to see)
  int64_t nanoseconds = 0;
  int64_t longestPause = 0;  // the longest the event loop was held by one step of it
};

class GarbageCollector final : private kj::TaskSet::ErrorHandler {
public:
  GarbageCollector(MetadataStore& metadata, ServiceProcess& content, ServiceProcess& snapshots,
                   BlobDeletions& deletions, kj::Timer& timer);
  KJ_DISALLOW_COPY(GarbageCollector);

  void schedule();
  // After a deletion: a run starts within DELAY unless one is due already. That garbage may be
  // waiting is recorded in meta.db until a run completes, so a daemon killed before (or in
  // the middle of a sweep) collects it when it starts again.
  void resume();
  // At start: a run if the last one did not complete, and the timer for the next expiry.
  void expiresAt(int64_t nanoseconds);
  // A lease expires then: a run follows it.
  kj::Promise<GcReport> collect();
  // A full run that starts after this call.

  void snapshotChanged() { snapshotChanges++; }
  // Called by the snapshot API on prepare, view, commit and label updates: a run in progress
  // re-lists before it removes another snapshot.
  kj::Promise<void> settled(kj::StringPtr snapshotter, kj::StringPtr storeKey);
  // Resolves once no removal of that snapshot is in flight.

  kj::Own<void> holdUnrecorded();
  // While held (an import runs: its blobs are committed before they are recorded), no bytes
  // are swept for being held by no namespace.

  static constexpr auto DELAY = 100 * kj::MILLISECONDS;
  static constexpr size_t BATCH = 64;
  static constexpr int64_t ORPHAN_AGE = 1000000000;
  // Bytes no namespace holds are removed once they were stored this long before a run began.

private:
  MetadataStore& metadata;
  ServiceProcess& contentService;
  ServiceProcess& snapshotService;
  BlobDeletions& deletions;
  kj::Timer& timer;
  uint64_t snapshotChanges = 0;
  size_t unrecordedHolds = 0;
  int64_t dirty = 0;    // deletions recorded since the last complete run
  bool armed = false;   // a scheduled run is due
  bool active = false;  // a run is under way
  kj::Vector<kj::Own<kj::PromiseFulfiller<GcReport>>> waitingNow;   // for the run under way
  kj::Vector<kj::Own<kj::PromiseFulfiller<GcReport>>> waitingNext;  // for the next run
  int64_t nextExpiry = 0;
  kj::Promise<void> expiryTimer = kj::READY_NOW;
  kj::HashMap<kj::String, kj::ForkedPromise<void>> removing;  // "<snapshotter>/<store key>"
  kj::TaskSet tasks;

  struct Run;
  void taskFailed(kj::Exception&& e) override;
  void start();
  void finished();
  kj::Promise<GcReport> run();
  void expireLeases(Run& run);
  void armNextExpiry();
  void setDirty(int64_t value);
  kj::Promise<void> list(Run& run);
  void mark(Run& run);
  kj::Promise<void> sweepBlobs(Run& run);
  kj::Promise<void> sweepSnapshots(Run& run);
  kj::Promise<void> sweepOrphans(Run& run);
};

}  // namespace ctrd
