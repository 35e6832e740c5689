// One ingest open for writing (Ingest), and the pipelined appender that fills it (IngestAppender).
#pragma once

#include <atomic>

#include "blob-store.h"

namespace ctrd {

[[noreturn]] void throwIngestIoError(kj::StringPtr what, kj::StringPtr ref, int err);
// `unavailable` for a full disk or quota (worth a retry once space is freed), `unknown` else.

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
  // Everything given is written and hashed (the state saved only when the ingest closes).

  struct Impl;

private:
  kj::Own<Impl> impl;
};

}  // namespace ctrd
