#include "ingest.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/identifiers.h>
#include <common/path.h>
#include <common/tree.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace ctrd {
namespace {

constexpr size_t COPY_BUFFER = 1 << 20;

}  // namespace

void throwIngestIoError(kj::StringPtr what, kj::StringPtr ref, int err) {
  throwError(err == ENOSPC || err == EDQUOT ? ErrorKind::UNAVAILABLE : ErrorKind::UNKNOWN,
             kj::str(what, " ref ", ref, ": ", strerror(err)));
}

Ingest::Ingest(BlobStore& store, kj::String ref, kj::AutoCloseFd dir, kj::AutoCloseFd data,
               kj::String expectedDigest, int64_t total, int64_t startedAt)
    : store(store),
      ref(kj::mv(ref)),
      dir(kj::mv(dir)),
      data(kj::mv(data)),
      expected(kj::mv(expectedDigest)),
      total(total),
      startedAt(startedAt) {}

Ingest::~Ingest() noexcept(false) {
  if (!finished) {
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { saveHash(); })) {
      KJ_LOG(WARNING, "could not save the hash state", ref, *e);
    }
  }
  store.unlock(ref);
}

void Ingest::resumeHash() {
  struct stat st;
  KJ_SYSCALL(fstat(data, &st));
  int64_t size = st.st_size;
  int64_t from = 0;
  KJ_IF_MAYBE(saved, tryReadSmallFile(dir, "hash")) {
    auto bytes = saved->asBytes();
    int64_t at;
    if (bytes.size() > sizeof(at)) {
      memcpy(&at, bytes.begin(), sizeof(at));
      KJ_IF_MAYBE(h, Sha256::tryRestoreState(bytes.slice(sizeof(at), bytes.size()))) {
        if (at >= 0 && at <= size) {
          hash = kj::mv(*h);
          from = at;
        }
      }
    }
  }
  auto buf = kj::heapArray<kj::byte>(COPY_BUFFER);
  for (int64_t at = from; at < size;) {
    ssize_t n;
    KJ_SYSCALL(n = pread(data, buf.begin(), std::min<int64_t>(buf.size(), size - at), at));
    if (n == 0) break;
    hash.update(buf.slice(0, n));
    at += n;
  }
  offset_ = size;
  savedAt = from == size ? size : -1;
}

void Ingest::saveHash() {
  int64_t at = offset();
  if (at == savedAt || finished) return;
  auto state = hash.saveState();
  auto bytes = kj::heapArray<kj::byte>(sizeof(at) + state.size());
  memcpy(bytes.begin(), &at, sizeof(at));
  memcpy(bytes.begin() + sizeof(at), state.begin(), state.size());
  // The state vouches for `at` bytes: they must be on disk before it is. After a power cut a
  // state without its data would resume a download past bytes that are zeros.
  if (fdatasync(data) < 0) throwIngestIoError("fdatasync", ref, errno);
  // Replaced whole or not at all: a torn state file would not restore, costing a full re-hash.
  writeSmallFile(dir, "hash.tmp", bytes);
  KJ_SYSCALL(renameat(dir, "hash.tmp", dir, "hash"), ref);
  savedAt = at;
}

void Ingest::ensureOpen() {
  if (finished)
    throwError(ErrorKind::FAILED_PRECONDITION, kj::str("ingest ref ", ref, " is closed"));
}

void Ingest::writeAll(kj::ArrayPtr<const kj::byte> bytes) {
  int64_t at = offset();
  writeAt(bytes, at);
  hash.update(bytes);
  offset_.store(at + bytes.size(), std::memory_order_relaxed);
}

void Ingest::writeAt(kj::ArrayPtr<const kj::byte> bytes, int64_t at) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = pwrite(data, bytes.begin() + done, bytes.size() - done, at + done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      // Keep the file exactly as long as what was hashed, so that a later resume is consistent.
      if (ftruncate(data, at) < 0) KJ_LOG(ERROR, "ftruncate after failed write", ref, errno);
      throwIngestIoError("write", ref, err);
    }
    done += n;
  }
}

void Ingest::append(kj::ArrayPtr<const kj::byte> bytes) {
  ensureOpen();
  writeAll(bytes);
  saveHash();
}

int64_t Ingest::appendFrom(int source, const std::atomic<bool>& cancelled) {
  ensureOpen();
  int64_t have = offset();
  if (have > 0) {
    // The source starts at the beginning of the content: move past what we have.
    off_t cur = lseek(source, 0, SEEK_CUR);
    if (cur >= 0 && lseek(source, cur + have, SEEK_SET) >= 0) {
      have = 0;
    }
  }
  int64_t written = 0;
  IngestAppender appender(*this);
  while (!cancelled.load(std::memory_order_relaxed)) {
    // Wait in slices so that a cancelled copy from an idle pipe or terminal still ends.
    struct pollfd ready = {source, POLLIN, 0};
    if (poll(&ready, 1, 200) == 0) continue;
    auto buf = appender.buffer();
    ssize_t n = read(source, buf.begin(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throwIngestIoError("read source for", ref, errno);
    }
    if (n == 0) break;
    size_t skip = 0;
    if (have > 0) {
      // Not seekable (a pipe): skip what a previous writer already stored.
      skip = std::min<int64_t>(have, n);
      have -= skip;
      if (skip == size_t(n)) continue;
      memmove(buf.begin(), buf.begin() + skip, n - skip);
    }
    appender.advance(n - skip);
    written += n - skip;
  }
  appender.finish();
  if (cancelled.load())
    throwError(ErrorKind::UNAVAILABLE, kj::str("ingest ref ", ref, " cancelled"));
  return written;
}

void Ingest::reset() {
  ensureOpen();
  KJ_SYSCALL(ftruncate(data, 0), ref);
  hash = Sha256();
  offset_ = 0;
  savedAt = -1;
  if (unlinkat(dir, "hash", 0) < 0 && errno != ENOENT) KJ_FAIL_SYSCALL("unlinkat", errno, ref);
}

IngestStatus Ingest::status() {
  struct stat st;
  KJ_SYSCALL(fstat(data, &st));
  return IngestStatus{kj::str(ref),      offset(),  total,
                      kj::str(expected), startedAt, toNanos(st.st_mtim)};
}

Ingest::Committed Ingest::commit(int64_t size, kj::StringPtr digest) {
  ensureOpen();
  if (digest.size() > 0) validateDigest(digest);
  int64_t have = offset();
  int64_t wantSize = size > 0 ? size : total;
  if (wantSize > 0 && have != wantSize) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("unexpected commit size ", have, ", expected ", wantSize));
  }
  auto actual = hash.digest();
  for (kj::StringPtr want : {digest, expected.asPtr()}) {
    if (want.size() > 0 && actual != want) {
      throwError(ErrorKind::FAILED_PRECONDITION,
                 kj::str("unexpected commit digest ", actual, ", expected ", want));
    }
  }
  // Durable before it is visible: fsync, then an atomic rename that never replaces.
  KJ_SYSCALL(fchmod(data, 0444));
  if (fsync(data) < 0) throwIngestIoError("fsync", ref, errno);
  if (renameat2(dir, "data", store.blobs, digestHex(actual).cStr(), RENAME_NOREPLACE) < 0) {
    if (errno != EEXIST) throwIngestIoError("commit", ref, errno);
    finished = true;
    removeTree(store.ingests, ingestDirName(ref));
    return {kj::mv(actual), have, true};
  }
  KJ_SYSCALL(fsync(store.blobs));
  finished = true;
  removeTree(store.ingests, ingestDirName(ref));
  return {kj::mv(actual), have, false};
}

void Ingest::abort() {
  ensureOpen();
  finished = true;
  removeTree(store.ingests, ingestDirName(ref));
}

}  // namespace ctrd
