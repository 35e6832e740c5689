// The blob store on disk, beneath one directory fd:
//   blobs/sha256/<hex>          committed blobs, read-only, only ever renamed into place
//   ingest/<sha256(ref)>/       data, ref, meta (expected digest, total, start), hash (state)
// Synchronous; the server decides which thread calls what. An open ingest is in ingest.h.
#pragma once

#include <common/digest.h>
#include <kj/io.h>
#include <kj/map.h>
#include <kj/mutex.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

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

kj::String ingestDirName(kj::StringPtr ref);
// The ingest's directory under ingest/: the ref's SHA-256, so that no ref names a path.

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

}  // namespace ctrd
