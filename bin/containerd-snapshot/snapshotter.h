// One snapshotter (overlayfs or native) over its directory: metadata.db plus <id>/{fs,work}.
// containerd's model: active, view and committed snapshots in one key space; only committed
// snapshots are parents; mounts are described, never made.
//
// Crash safety, by the order of steps: a snapshot's directory is built under new-<id> and renamed
// to <id> before its record commits; a removed snapshot's record goes before its directory. So a
// record always has its directory, and a directory without a record is an orphan that cleanup()
// (run at every start) deletes.
#pragma once

#include <common/labels.h>
#include <common/snapshot-info.h>
#include <common/sqlite.h>
#include <common/tree.h>
#include <kj/io.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <schema/snapshots.capnp.h>
#include <stdint.h>

#include <atomic>

namespace ctrd {

enum class SnapshotDriver { OVERLAY, NATIVE };

struct SnapshotRecord {
  int64_t id;
  kj::String key;
  kj::String parent;  // empty for none
  schema::Kind kind;
  Labels labels;
  int64_t createdAt;
  int64_t updatedAt;
  int64_t size;
  int64_t inodes;
};

struct MountSpec {
  kj::String type;
  kj::String source;
  kj::Vector<kj::String> options;
};

class Snapshotter {
public:
  Snapshotter(SnapshotDriver driver, kj::AutoCloseFd dir, kj::String path);
  // `dir` is the snapshotter's directory, `path` its absolute path (mounts name host paths).

  kj::Vector<MountSpec> prepare(kj::StringPtr key, kj::StringPtr parent, Labels labels,
                                schema::Kind kind, kj::Maybe<kj::StringPtr> staged = nullptr);
  // `staged`: a directory from stageCopy() holding the parent's copy (native), taken over.

  int directory() const { return dir; }

  kj::Maybe<kj::AutoCloseFd> copySource(kj::StringPtr parent);
  // native only: the committed `parent`'s tree, which a new snapshot starts as a copy of.
  kj::String stageCopy(int parentFs);
  // Copies `parentFs` into a new directory (an orphan until prepare() takes it over, removed at
  // the next start otherwise) and returns its name. Touches no metadata: it runs on a worker
  // thread, so that a large copy does not stall the service.
  kj::Vector<MountSpec> mounts(kj::StringPtr key);
  kj::AutoCloseFd activeDirectory(kj::StringPtr key);
  // The fs directory of the active snapshot `key` (failed precondition for any other kind), for
  // what must happen before commit off the event loop: syncfs and measuring.
  void commit(kj::StringPtr name, kj::StringPtr key, Labels labels, DiskUsage usage);
  // `usage` measured (after syncfs) from activeDirectory(key).
  void rebase(kj::StringPtr key, kj::StringPtr parent);
  // layered only: the active snapshot `key` now lies on the committed `parent`.
  void remove(kj::StringPtr key);
  SnapshotRecord stat(kj::StringPtr key);
  void putLabels(const SnapshotRecord& record);
  DiskUsage usage(kj::StringPtr key);
  kj::Vector<SnapshotRecord> list();
  size_t cleanup();
  // Removes directories no record owns; returns how many.

  struct Writable {
    kj::AutoCloseFd dir;
    kj::Vector<kj::AutoCloseFd> parents;  // newest first
  };
  Writable writableDir(kj::StringPtr key);

  kj::StringPtr name() const;
  bool layered() const { return driver == SnapshotDriver::OVERLAY; }
  // An active snapshot's directory holds only its changes (see schema Snapshots.Traits).

private:
  std::atomic<uint64_t> stagedCount{0};
  SnapshotDriver driver;
  kj::AutoCloseFd dir;
  kj::String path;
  Database db;
  bool indexOff;

  kj::Maybe<SnapshotRecord> tryGet(kj::StringPtr key);
  kj::Vector<int64_t> parentIds(const SnapshotRecord& record);
  // Ids of the parent chain, newest first.
  kj::String fsPath(int64_t id);
  kj::Vector<MountSpec> mountsFor(const SnapshotRecord& record);
};

}  // namespace ctrd
