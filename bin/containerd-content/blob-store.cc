#include "blob-store.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/identifiers.h>
#include <common/path.h>
#include <common/tree.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest.h"

namespace ctrd {

kj::String ingestDirName(kj::StringPtr ref) {
  return sha256Hex(ref.asBytes());
}

BlobStore::BlobStore(kj::AutoCloseFd rootParam) : root(kj::mv(rootParam)) {
  auto blobsTop = makeDirectory(root, "blobs", 0700);
  blobs = makeDirectory(blobsTop, "sha256", 0700);
  ingests = makeDirectory(root, "ingest", 0700);
}

kj::Maybe<BlobStat> BlobStore::tryStat(kj::StringPtr digest) {
  validateDigest(digest);
  struct stat st;
  if (fstatat(blobs, digestHex(digest).cStr(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return nullptr;
    KJ_FAIL_SYSCALL("fstatat", errno, digest);
  }
  return BlobStat{kj::str(digest), st.st_size, toNanos(st.st_mtim)};
}

kj::Vector<BlobStat> BlobStore::list() {
  kj::Vector<BlobStat> out;
  for (auto& name : listDirectory(blobs)) {
    auto digest = kj::str(SHA256_PREFIX, name);
    if (!isValidDigest(digest)) continue;
    KJ_IF_MAYBE(st, tryStat(digest)) {
      out.add(kj::mv(*st));
    }
  }
  return out;
}

void BlobStore::remove(kj::StringPtr digest) {
  validateDigest(digest);
  if (unlinkat(blobs, digestHex(digest).cStr(), 0) < 0) {
    if (errno == ENOENT) throwError(ErrorKind::NOT_FOUND, kj::str("content digest ", digest));
    KJ_FAIL_SYSCALL("unlinkat", errno, digest);
  }
}

kj::AutoCloseFd BlobStore::openBlob(kj::StringPtr digest) {
  validateDigest(digest);
  int fd = openat(blobs, digestHex(digest).cStr(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) throwError(ErrorKind::NOT_FOUND, kj::str("content digest ", digest));
    KJ_FAIL_SYSCALL("openat", errno, digest);
  }
  return kj::AutoCloseFd(fd);
}

void BlobStore::unlock(kj::StringPtr ref) {
  lockedRefs.lockExclusive()->eraseMatch(ref);
}

kj::Maybe<IngestStatus> BlobStore::tryReadStatus(int dirFd, kj::StringPtr ref) {
  KJ_IF_MAYBE(meta, tryReadSmallFile(dirFd, "meta")) {
    // meta: "<expected digest or ->\n<total>\n<startedAt>\n"
    auto lines = meta->asPtr();
    char expected[128] = "";
    long long total = 0, started = 0;
    if (sscanf(lines.cStr(), "%127s\n%lld\n%lld", expected, &total, &started) != 3) return nullptr;
    struct stat st;
    if (fstatat(dirFd, "data", &st, AT_SYMLINK_NOFOLLOW) < 0) return nullptr;
    return IngestStatus{kj::str(ref), st.st_size,
                        total,        kj::str(strcmp(expected, "-") == 0 ? "" : expected),
                        started,      toNanos(st.st_mtim)};
  }
  return nullptr;
}

kj::Own<Ingest> BlobStore::openIngest(kj::StringPtr ref, kj::StringPtr expectedDigest,
                                      int64_t expectedSize) {
  validateRef(ref);
  if (expectedDigest.size() > 0) validateDigest(expectedDigest);
  if (expectedSize < 0) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str("expected size ", expectedSize));
  }
  {
    auto locked = lockedRefs.lockExclusive();
    if (locked->contains(ref)) throwError(ErrorKind::UNAVAILABLE, kj::str("ref ", ref, " locked"));
    locked->insert(kj::str(ref));
  }
  KJ_ON_SCOPE_FAILURE(unlock(ref));

  auto name = ingestDirName(ref);
  auto dir = makeDirectory(ingests, name, 0700);
  int64_t total = expectedSize;
  kj::String expected = kj::str(expectedDigest);
  int64_t started = nowNanos();
  KJ_IF_MAYBE(existing, tryReadStatus(dir, ref)) {
    // Resuming: what was asked first stands unless the new writer says otherwise.
    if (total == 0) total = existing->total;
    if (expected.size() == 0) expected = kj::mv(existing->expected);
    started = existing->startedAt;
  }
  auto meta =
      kj::str(expected.size() > 0 ? expected.asPtr() : "-"_kj, "\n", total, "\n", started, "\n");
  writeSmallFile(dir, "ref", ref.asBytes());
  writeSmallFile(dir, "meta", meta.asBytes());
  int fd;
  KJ_SYSCALL(fd = openat(dir, "data", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600), ref);
  auto ingest = kj::heap<Ingest>(*this, kj::str(ref), kj::mv(dir), kj::AutoCloseFd(fd),
                                 kj::mv(expected), total, started);
  ingest->resumeHash();
  return ingest;
}

kj::Maybe<IngestStatus> BlobStore::tryIngestStatus(kj::StringPtr ref) {
  validateRef(ref);
  int fd = openat(ingests, ingestDirName(ref).cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  kj::AutoCloseFd dir(fd);
  return tryReadStatus(dir, ref);
}

kj::Vector<IngestStatus> BlobStore::listIngests(kj::StringPtr prefix) {
  kj::Vector<IngestStatus> out;
  for (auto& name : listDirectory(ingests)) {
    if (name.startsWith(".")) continue;
    int dfd = openat(ingests, name.cStr(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0) continue;
    kj::AutoCloseFd dir(dfd);
    KJ_IF_MAYBE(ref, tryReadSmallFile(dir, "ref")) {
      if (!ref->startsWith(prefix)) continue;
      KJ_IF_MAYBE(status, tryReadStatus(dir, *ref)) {
        out.add(kj::mv(*status));
      }
    }
  }
  return out;
}

void BlobStore::abortIngest(kj::StringPtr ref) {
  validateRef(ref);
  if (lockedRefs.lockShared()->contains(ref)) {
    throwError(ErrorKind::UNAVAILABLE, kj::str("ref ", ref, " locked"));
  }
  auto name = ingestDirName(ref);
  struct stat st;
  if (fstatat(ingests, name.cStr(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    throwError(ErrorKind::NOT_FOUND, kj::str("ingest ref \"", ref, "\""));
  }
  removeTree(ingests, name);
}

}  // namespace ctrd
