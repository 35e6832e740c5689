// The blob store on disk, beneath one directory fd:
//   blobs/sha256/<hex>          committed blobs, read-only, only ever renamed into place
//   ingest/<sha256(ref)>/       data, ref, meta (expected digest, total, start), hash (state)
// Synchronous; the server decides which thread calls what.
#pragma once

#include <common/digest.h>
#include <kj/io.h>
#include <kj/map.h>
#include <kj/mutex.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

#include <atomic>

namespace ctrd {

struct BlobStat {
  kj::String digest;
  int64_t size;
  int64_t createdAt;  // ns since the epoch
};

struct IngestStatus {
  kj::String ref;
  int64_t offset;
  int64_t total;
  kj::String expected;
  int64_t startedAt;
  int64_t updatedAt;
};

class Ingest;

class BlobStore {
public:
  explicit BlobStore(kj::AutoCloseFd root);
  // Creates blobs/sha256 and ingest beneath `root` when missing.

  kj::Maybe<BlobStat> tryStat(kj::StringPtr digest);
  kj::Vector<BlobStat> list();
  void remove(kj::StringPtr digest);
  kj::AutoCloseFd openBlob(kj::StringPtr digest);
  // Read-only. Throws `content digest <d>: not found`.

  kj::Own<Ingest> openIngest(kj::StringPtr ref, kj::StringPtr expectedDigest, int64_t expectedSize);
  // A new ingest, or the one already on disk for `ref`, resumed. Throws
  // `ref <ref> locked: unavailable` while another writer holds it.
  kj::Maybe<IngestStatus> tryIngestStatus(kj::StringPtr ref);
  kj::Vector<IngestStatus> listIngests(kj::StringPtr refPrefix);
  void abortIngest(kj::StringPtr ref);

private:
  friend class Ingest;
  kj::AutoCloseFd root;
  kj::AutoCloseFd blobs;
  kj::AutoCloseFd ingests;
  kj::MutexGuarded<kj::HashSet<kj::String>> lockedRefs;
  // Guarded because a copy running on a worker thread may finish (and unlock) concurrently.

  void unlock(kj::StringPtr ref);
  kj::Maybe<IngestStatus> tryReadStatus(int dirFd, kj::StringPtr ref);
};

class Ingest {
  // One ingest, open for writing. Keeps the data file, the running hash and its saved state in
  // step: a failed write is cut back to the last hashed byte.
public:
  Ingest(BlobStore& store, kj::String ref, kj::AutoCloseFd dir, kj::AutoCloseFd data,
         kj::String expectedDigest, int64_t total, int64_t startedAt);
  ~Ingest() noexcept(false);
  KJ_DISALLOW_COPY(Ingest);

  int64_t offset() const { return offset_.load(std::memory_order_relaxed); }
  IngestStatus status();

  void append(kj::ArrayPtr<const kj::byte> data);
  int64_t appendFrom(int source, const std::atomic<bool>& cancelled);
  // Copies `source` to its end; first positions it past the bytes this ingest already has.
  // Safe to run on another thread while the owner only calls offset() and status().

  struct Committed {
    kj::String digest;
    int64_t size;
    bool existed;  // the digest was stored already: that blob is untouched, the ingest dropped
  };
  Committed commit(int64_t size, kj::StringPtr digest);
  // Throws `failed precondition` on a mismatch; the ingest stays for a retry or an abort.
  void abort();
  void reset();
  // Drops the bytes written so far: the next byte appended is the content's first.

  void resumeHash();
  // Brings the hash up to the data on disk, from the saved state when it is usable.

private:
  friend class IngestAppender;
  BlobStore& store;
  kj::String ref;
  kj::AutoCloseFd dir;
  kj::AutoCloseFd data;
  kj::String expected;
  int64_t total;
  int64_t startedAt;
  Sha256 hash;
  std::atomic<int64_t> offset_{0};
  int64_t savedAt = -1;
  bool finished = false;

  void writeAll(kj::ArrayPtr<const kj::byte> bytes);
  // Writes at the offset and hashes; on failure the file is cut back to the offset.
  void writeAt(kj::ArrayPtr<const kj::byte> bytes, int64_t at);
  // Writes only; on failure cuts the file back to offset() and throws.
  void saveHash();
  void ensureOpen();
};

class IngestAppender {
  // Appends to an ingest from a producer (a read loop, an HTTP download) with the hash computed
  // on a thread of its own, writeback started early and the hash state saved every 64 MiB.
  // Until finish() the ingest's offset trails what was accepted.
public:
  struct Buffers {
    size_t count = 8;  // filled while earlier ones are hashed
    size_t size = 1 << 20;
  };
  explicit IngestAppender(Ingest& ingest) : IngestAppender(ingest, Buffers()) {}
  IngestAppender(Ingest& ingest, Buffers buffers);
  ~IngestAppender() noexcept(false);
  KJ_DISALLOW_COPY(IngestAppender);

  kj::ArrayPtr<kj::byte> buffer();
  void advance(size_t n);
  // Fill (part of) buffer(), then say how much: no copy for a producer that reads into it.
  void write(kj::ArrayPtr<const kj::byte> bytes);
  int64_t accepted() const;
  // The ingest's size once everything given so far is written.
  void finish();

  struct Impl;

private:
  kj::Own<Impl> impl;
};

}  // namespace ctrd
