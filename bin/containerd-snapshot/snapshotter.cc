#include "snapshotter.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/log.h>
#include <common/path.h>
#include <common/rpc.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ctrd {
namespace {

constexpr kj::StringPtr COLUMNS =
    "s.id, s.key, COALESCE(p.key, ''), s.kind, s.labels, s.created, s.updated, s.size,"
    " s.inodes"_kj;
constexpr kj::StringPtr FROM = " FROM snapshots s LEFT JOIN snapshots p ON s.parent = p.id"_kj;

SnapshotRecord readRecord(Statement& s) {
  return {s.integer(0),
          s.text(1),
          s.text(2),
          static_cast<schema::Kind>(s.integer(3)),
          decodeLabels(s.text(4)),
          s.integer(5),
          s.integer(6),
          s.integer(7),
          s.integer(8)};
}

void validateKey(kj::StringPtr key) {
  if (key.size() == 0 || strlen(key.cStr()) != key.size() || key.size() > 4096) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str("invalid snapshot key \"", key, "\""));
  }
}

bool overlayIndexSwitchExists() {
  // containerd turns the overlay index off whenever the kernel has the switch: with it on, a
  // lower layer cannot be shared by two mounts.
  return access("/sys/module/overlay/parameters/index", F_OK) == 0;
}

}  // namespace

Snapshotter::Snapshotter(SnapshotDriver driver, kj::AutoCloseFd dirParam, kj::String pathParam)
    : driver(driver),
      dir(kj::mv(dirParam)),
      path(kj::mv(pathParam)),
      db(kj::str(path, "/metadata.db")),
      indexOff(overlayIndexSwitchExists()) {
  db.exec(
      "CREATE TABLE IF NOT EXISTS snapshots ("
      " id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,"
      " parent INTEGER REFERENCES snapshots(id), kind INTEGER NOT NULL,"
      " labels TEXT NOT NULL DEFAULT '{}', created INTEGER NOT NULL,"
      " updated INTEGER NOT NULL, size INTEGER NOT NULL DEFAULT 0,"
      " inodes INTEGER NOT NULL DEFAULT 0)");
  size_t removed = cleanup();
  if (removed > 0) logInfo(name(), ": removed ", removed, " directories left by a crash");
}

kj::StringPtr Snapshotter::name() const {
  return driver == SnapshotDriver::OVERLAY ? "overlayfs"_kj : "native"_kj;
}

kj::String Snapshotter::fsPath(int64_t id) {
  return kj::str(path, "/", id, "/fs");
}

kj::Maybe<SnapshotRecord> Snapshotter::tryGet(kj::StringPtr key) {
  validateKey(key);
  Statement s(db, kj::str("SELECT ", COLUMNS, FROM, " WHERE s.key = ?1"));
  s.bind(1, key);
  if (s.step()) return readRecord(s);
  return nullptr;
}

SnapshotRecord Snapshotter::stat(kj::StringPtr key) {
  KJ_IF_MAYBE(r, tryGet(key)) {
    return kj::mv(*r);
  }
  throwError(ErrorKind::NOT_FOUND, kj::str("snapshot \"", key, "\""));
}

kj::Vector<int64_t> Snapshotter::parentIds(const SnapshotRecord& record) {
  kj::Vector<int64_t> out;
  Statement s(db,
              "WITH RECURSIVE chain(id, parent, depth) AS ("
              " SELECT id, parent, 0 FROM snapshots WHERE id = ?1"
              " UNION ALL SELECT s.id, s.parent, chain.depth + 1 FROM snapshots s"
              " JOIN chain ON s.id = chain.parent)"
              " SELECT id FROM chain WHERE depth > 0 ORDER BY depth");
  s.bind(1, record.id);
  while (s.step()) out.add(s.integer(0));
  return out;
}

kj::Vector<MountSpec> Snapshotter::mountsFor(const SnapshotRecord& record) {
  kj::Vector<MountSpec> out;
  auto parents = parentIds(record);
  bool active = record.kind == schema::Kind::ACTIVE;
  auto bind = [&](kj::String source, bool rw) {
    MountSpec m{kj::str("bind"), kj::mv(source), {}};
    m.options.add(kj::str(rw ? "rw" : "ro"));
    m.options.add(kj::str("rbind"));
    out.add(kj::mv(m));
  };
  if (driver == SnapshotDriver::NATIVE || parents.size() == 0) {
    bind(fsPath(record.id), active);
    return out;
  }
  if (!active && parents.size() == 1) {
    bind(fsPath(parents[0]), false);
    return out;
  }
  MountSpec m{kj::str("overlay"), kj::str("overlay"), {}};
  if (indexOff) m.options.add(kj::str("index=off"));
  // The store's whiteouts and opaque directories are user.overlay.* xattrs (written by the
  // unprivileged diff process), which overlay honours only with userxattr.
  m.options.add(kj::str("userxattr"));
  if (active) {
    m.options.add(kj::str("workdir=", path, "/", record.id, "/work"));
    m.options.add(kj::str("upperdir=", fsPath(record.id)));
  }
  auto lowers = KJ_MAP(id, parents) {
    return fsPath(id);
  };
  m.options.add(kj::str("lowerdir=", kj::strArray(lowers, ":")));
  out.add(kj::mv(m));
  return out;
}

kj::Maybe<kj::AutoCloseFd> Snapshotter::copySource(kj::StringPtr parent) {
  if (driver != SnapshotDriver::NATIVE || parent.size() == 0) return nullptr;
  KJ_IF_MAYBE(p, tryGet(parent)) {
    if (p->kind == schema::Kind::COMMITTED) return openDirectory(dir, kj::str(p->id, "/fs"));
  }
  return nullptr;  // prepare() says what is wrong with it
}

kj::String Snapshotter::stageCopy(int parentFs) {
  auto name = kj::str("new-copy-", stagedCount++, "-", getpid());
  KJ_SYSCALL(mkdirat(dir, name.cStr(), 0700), name);
  KJ_ON_SCOPE_FAILURE(removeTree(dir, name));
  auto staged = openDirectory(dir, name);
  KJ_SYSCALL(mkdirat(staged, "fs", 0755));
  copyTree(parentFs, openDirectory(staged, "fs"));
  return name;
}

kj::Vector<MountSpec> Snapshotter::prepare(kj::StringPtr key, kj::StringPtr parent, Labels labels,
                                           schema::Kind kind, kj::Maybe<kj::StringPtr> staged) {
  validateKey(key);
  validateLabels(labels);
  Transaction txn(db);
  if (tryGet(key) != nullptr)
    throwError(ErrorKind::ALREADY_EXISTS, kj::str("snapshot \"", key, "\""));
  kj::Maybe<SnapshotRecord> parentRecord;
  if (parent.size() > 0) {
    KJ_IF_MAYBE(p, tryGet(parent)) {
      if (p->kind != schema::Kind::COMMITTED) {
        throwError(ErrorKind::FAILED_PRECONDITION,
                   kj::str("parent \"", parent, "\" is not a committed snapshot"));
      }
      parentRecord = kj::mv(*p);
    } else {
      throwError(ErrorKind::NOT_FOUND, kj::str("parent snapshot \"", parent, "\" does not exist"));
    }
  }
  int64_t now = nowNanos();
  Statement insert(db,
                   "INSERT INTO snapshots (key, parent, kind, labels, created, updated)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?5)");
  insert.bind(1, key);
  KJ_IF_MAYBE(p, parentRecord) {
    insert.bind(2, p->id);
  } else {
    insert.bindNull(2);
  }
  insert.bind(3, static_cast<int64_t>(kind)).bind(4, encodeLabels(labels)).bind(5, now);
  insert.step();
  int64_t id = db.lastInsertId();

  // Build the directory under a temporary name, then rename it into place.
  kj::String temp;
  KJ_IF_MAYBE(s, staged) {
    temp = kj::str(*s);  // the parent's copy, made on a worker
  } else {
    temp = kj::str("new-", id, "-", getpid());
    KJ_SYSCALL(mkdirat(dir, temp.cStr(), 0700), temp);
  }
  KJ_ON_SCOPE_FAILURE(removeTree(dir, temp));
  auto snapshotDir = openDirectory(dir, temp);
  if (staged == nullptr) {
    KJ_SYSCALL(mkdirat(snapshotDir, "fs", 0755));
  }
  auto fs = openDirectory(snapshotDir, "fs");
  KJ_IF_MAYBE(p, parentRecord) {
    auto parentFs = openDirectory(dir, kj::str(p->id, "/fs"));
    if (driver == SnapshotDriver::NATIVE) {
      if (staged == nullptr) copyTree(parentFs, fs);
    } else {
      // The upper directory's owner and mode win in overlay: start from the parent's.
      struct stat st;
      KJ_SYSCALL(fstat(parentFs, &st));
      KJ_SYSCALL(fchown(fs, st.st_uid, st.st_gid));
      KJ_SYSCALL(fchmod(fs, st.st_mode & 07777));
    }
  }
  if (driver == SnapshotDriver::OVERLAY && kind == schema::Kind::ACTIVE) {
    KJ_SYSCALL(mkdirat(snapshotDir, "work", 0711));
  }
  auto final = kj::str(id);
  KJ_SYSCALL(renameat(dir, temp.cStr(), dir, final.cStr()));
  KJ_ON_SCOPE_FAILURE(removeTree(dir, final));
  txn.commit();
  return mountsFor(stat(key));
}

kj::Vector<MountSpec> Snapshotter::mounts(kj::StringPtr key) {
  auto record = stat(key);
  if (record.kind == schema::Kind::COMMITTED) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("snapshot \"", key,
                       "\" is committed; only active and view snapshots "
                       "have mounts"));
  }
  return mountsFor(record);
}

namespace {
void requireActive(const SnapshotRecord& record, kj::StringPtr key) {
  if (record.kind != schema::Kind::ACTIVE) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("snapshot \"", key, "\" is ", kindName(record.kind),
                       ", only an active snapshot can be committed"));
  }
}
}  // namespace

kj::AutoCloseFd Snapshotter::activeDirectory(kj::StringPtr key) {
  auto record = stat(key);
  requireActive(record, key);
  return openDirectory(dir, kj::str(record.id, "/fs"));
}

void Snapshotter::commit(kj::StringPtr name, kj::StringPtr key, Labels labels, DiskUsage usage) {
  validateKey(name);
  validateLabels(labels);
  Transaction txn(db);
  auto record = stat(key);
  requireActive(record, key);
  if (tryGet(name) != nullptr)
    throwError(ErrorKind::ALREADY_EXISTS, kj::str("snapshot \"", name, "\""));
  if (labels.size() == 0) labels = kj::mv(record.labels);
  Statement update(db,
                   "UPDATE snapshots SET key = ?1, kind = ?2, labels = ?3, updated = ?4, size = ?5,"
                   " inodes = ?6 WHERE id = ?7");
  update.bind(1, name).bind(2, static_cast<int64_t>(schema::Kind::COMMITTED));
  update.bind(3, encodeLabels(labels)).bind(4, nowNanos()).bind(5, usage.size);
  update.bind(6, usage.inodes).bind(7, record.id);
  update.step();
  txn.commit();
}

void Snapshotter::rebase(kj::StringPtr key, kj::StringPtr parent) {
  if (driver != SnapshotDriver::OVERLAY) {
    throwError(
        ErrorKind::NOT_IMPLEMENTED,
        kj::str("rebase in the ", name(), " snapshotter (its snapshots copy their parents)"));
  }
  Transaction txn(db);
  auto record = stat(key);
  if (record.kind != schema::Kind::ACTIVE) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("snapshot \"", key, "\" is ", kindName(record.kind),
                       ", only an active snapshot can be rebased"));
  }
  Statement update(db, "UPDATE snapshots SET parent = ?1, updated = ?2 WHERE id = ?3");
  if (parent.size() > 0) {
    auto p = stat(parent);
    if (p.kind != schema::Kind::COMMITTED) {
      throwError(ErrorKind::FAILED_PRECONDITION,
                 kj::str("parent \"", parent, "\" is not a committed snapshot"));
    }
    // As prepare does: the upper directory's owner and mode win in overlay.
    auto parentFs = openDirectory(dir, kj::str(p.id, "/fs"));
    auto fs = openDirectory(dir, kj::str(record.id, "/fs"));
    struct stat st;
    KJ_SYSCALL(fstat(parentFs, &st));
    KJ_SYSCALL(fchown(fs, st.st_uid, st.st_gid));
    KJ_SYSCALL(fchmod(fs, st.st_mode & 07777));
    update.bind(1, p.id);
  } else {
    update.bindNull(1);
  }
  update.bind(2, nowNanos()).bind(3, record.id);
  update.step();
  txn.commit();
}

void Snapshotter::remove(kj::StringPtr key) {
  Transaction txn(db);
  auto record = stat(key);
  Statement children(db, "SELECT COUNT(*) FROM snapshots WHERE parent = ?1");
  children.bind(1, record.id);
  children.step();
  if (children.integer(0) > 0) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("cannot remove snapshot \"", key, "\": it has children"));
  }
  Statement del(db, "DELETE FROM snapshots WHERE id = ?1");
  del.bind(1, record.id);
  del.step();
  txn.commit();
  // The record is gone; a crash from here on leaves an orphan that cleanup() removes.
  auto gone = kj::str("rm-", record.id);
  KJ_SYSCALL(renameat(dir, kj::str(record.id).cStr(), dir, gone.cStr()));
  removeTree(dir, gone);
}

void Snapshotter::putLabels(const SnapshotRecord& record) {
  validateLabels(record.labels);
  Statement s(db, "UPDATE snapshots SET labels = ?1, updated = ?2 WHERE id = ?3");
  s.bind(1, encodeLabels(record.labels)).bind(2, nowNanos()).bind(3, record.id);
  s.step();
}

DiskUsage Snapshotter::usage(kj::StringPtr key) {
  auto record = stat(key);
  if (record.kind == schema::Kind::COMMITTED) return {record.size, record.inodes};
  auto fs = openDirectory(dir, kj::str(record.id, "/fs"));
  return diskUsage(fs);
}

kj::Vector<SnapshotRecord> Snapshotter::list() {
  Statement s(db, kj::str("SELECT ", COLUMNS, FROM, " ORDER BY s.id"));
  kj::Vector<SnapshotRecord> out;
  while (s.step()) out.add(readRecord(s));
  return out;
}

size_t Snapshotter::cleanup() {
  kj::Vector<kj::String> orphans;
  {
    for (auto& name : listDirectory(dir)) {
      if (name.startsWith("metadata.db")) continue;
      char* end;
      long long id = strtoll(name.cStr(), &end, 10);
      bool known = false;
      if (*end == '\0' && end != name.cStr()) {
        Statement s(db, "SELECT 1 FROM snapshots WHERE id = ?1");
        s.bind(1, int64_t(id));
        known = s.step();
      }
      if (!known) orphans.add(kj::str(name));
    }
  }
  for (auto& name : orphans) removeTree(dir, name);
  return orphans.size();
}

Snapshotter::Writable Snapshotter::writableDir(kj::StringPtr key) {
  auto record = stat(key);
  if (record.kind != schema::Kind::ACTIVE) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("snapshot \"", key, "\" is ", kindName(record.kind), ", not active"));
  }
  auto parents = parentIds(record);
  constexpr size_t MAX_PARENTS = MAX_FDS_PER_MESSAGE - 10;  // room for the other fds of a call
  if (parents.size() > MAX_PARENTS) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("snapshot \"", key, "\" has ", parents.size(), " parents; at most ",
                       MAX_PARENTS, " can be handed over as directories"));
  }
  Writable out{openDirectory(dir, kj::str(record.id, "/fs")), {}};
  for (auto id : parents) out.parents.add(openDirectory(dir, kj::str(id, "/fs")));
  return out;
}

}  // namespace ctrd
