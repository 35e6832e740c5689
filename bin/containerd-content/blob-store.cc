#include "blob-store.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/identifiers.h>
#include <common/path.h>
#include <common/tree.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace ctrd {
namespace {

constexpr size_t COPY_BUFFER = 1 << 20;
constexpr int64_t SAVE_HASH_EVERY = 64 << 20;  // a killed copy re-hashes at most this much
constexpr int64_t WRITEBACK_EVERY = 8 << 20;   // start writeback early: commit's fsync is short

kj::Maybe<kj::String> tryReadSmallFile(int dir, kj::StringPtr name) {
  int fd = openat(dir, name.cStr(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return nullptr;
  kj::AutoCloseFd owned(fd);
  char buf[4096];
  ssize_t n;
  KJ_SYSCALL(n = read(fd, buf, sizeof(buf)));
  return kj::heapString(buf, n);
}

void writeSmallFile(int dir, kj::StringPtr name, kj::ArrayPtr<const kj::byte> content) {
  int fd;
  KJ_SYSCALL(
      fd = openat(dir, name.cStr(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600),
      name);
  kj::AutoCloseFd owned(fd);
  KJ_SYSCALL(write(fd, content.begin(), content.size()), name);
}

kj::String ingestDirName(kj::StringPtr ref) {
  return sha256Hex(ref.asBytes());
}

[[noreturn]] void throwIoError(kj::StringPtr what, kj::StringPtr ref, int err) {
  throwError(err == ENOSPC || err == EDQUOT ? ErrorKind::UNAVAILABLE : ErrorKind::UNKNOWN,
             kj::str(what, " ref ", ref, ": ", strerror(err)));
}

class HashPipeline {
  // Hashes chunks on a thread of its own, in order, while the copier reads and writes the next
  // ones: on two cores the copy then costs about as much as hashing alone.
public:
  HashPipeline(Sha256& hash, std::atomic<int64_t>& hashedOffset, size_t slotCount, size_t slotSize)
      : hash(hash),
        hashedOffset(hashedOffset),
        slots(KJ_MAP(i, kj::zeroTo(kj::min(slotCount, MAX_SLOTS))) {
          (void)i;
          return kj::heapArray<kj::byte>(slotSize);
        }),
        lengths(kj::heapArray<size_t>(slots.size())),
        worker([this]() { run(); }) {}
  ~HashPipeline() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    changed.notify_all();
    worker.join();
  }

  kj::ArrayPtr<kj::byte> acquire() {
    // A free buffer to fill; waits while all are queued for hashing.
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [this]() { return queued < slots.size(); });
    return slots[(next + queued) % slots.size()];
  }

  void submit(size_t length) {
    // Queues the buffer acquire() returned, `length` bytes of it. Once hashed, the ingest's
    // offset moves past it.
    {
      std::lock_guard<std::mutex> lock(mutex);
      lengths[(next + queued) % slots.size()] = length;
      queued++;
    }
    changed.notify_all();
  }

  void drain() {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [this]() { return queued == 0; });
  }

private:
  static constexpr size_t MAX_SLOTS = 64;
  Sha256& hash;
  std::atomic<int64_t>& hashedOffset;
  kj::Array<kj::Array<kj::byte>> slots;
  kj::Array<size_t> lengths;
  size_t next = 0;    // the oldest queued slot
  size_t queued = 0;  // slots waiting to be hashed
  bool stopping = false;
  std::mutex mutex;
  std::condition_variable changed;
  std::thread worker;

  void run() {
    for (;;) {
      size_t slot, length;
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [this]() { return queued > 0 || stopping; });
        if (queued == 0) return;
        slot = next;
        length = lengths[slot];
      }
      hash.update(slots[slot].slice(0, length));
      hashedOffset.fetch_add(length, std::memory_order_relaxed);
      {
        std::lock_guard<std::mutex> lock(mutex);
        next = (next + 1) % slots.size();
        queued--;
      }
      changed.notify_all();
    }
  }
};

}  // namespace

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

// ---------------------------------------------------------------------------------------------

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
  if (fdatasync(data) < 0) throwIoError("fdatasync", ref, errno);
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
      throwIoError("write", ref, err);
    }
    done += n;
  }
}

void Ingest::append(kj::ArrayPtr<const kj::byte> bytes) {
  ensureOpen();
  writeAll(bytes);
  saveHash();
}

// ---------------------------------------------------------------------------------------------
// IngestAppender

struct IngestAppender::Impl {
  Ingest& ingest;
  HashPipeline pipeline;
  kj::ArrayPtr<kj::byte> slot;  // acquired from the pipeline, not yet submitted
  size_t filled = 0;
  int64_t writeAtOffset;
  int64_t writebackFrom;
  int64_t sinceSave = 0;
  bool finished = false;

  Impl(Ingest& ingest, IngestAppender::Buffers buffers)
      : ingest(ingest),
        pipeline(ingest.hash, ingest.offset_, buffers.count, buffers.size),
        writeAtOffset(ingest.offset()),
        writebackFrom(writeAtOffset) {}

  void flushSlot() {
    auto chunk = slot.slice(0, filled);
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { ingest.writeAt(chunk, writeAtOffset); })) {
      // Cut the file back to exactly what the hash covers, so that a resume is consistent.
      pipeline.drain();
      if (ftruncate(ingest.data, ingest.offset()) < 0) {
        KJ_LOG(ERROR, "ftruncate after failed write", ingest.ref);
      }
      kj::throwFatalException(kj::mv(*e));
    }
    pipeline.submit(filled);
    writeAtOffset += filled;
    sinceSave += filled;
    slot = nullptr;
    filled = 0;
    if (writeAtOffset - writebackFrom >= WRITEBACK_EVERY) {
      sync_file_range(ingest.data, writebackFrom, writeAtOffset - writebackFrom,
                      SYNC_FILE_RANGE_WRITE);
      writebackFrom = writeAtOffset;
    }
    if (sinceSave >= SAVE_HASH_EVERY) {
      pipeline.drain();
      ingest.saveHash();
      sinceSave = 0;
    }
  }
};

IngestAppender::IngestAppender(Ingest& ingest, Buffers buffers) {
  ingest.ensureOpen();
  impl = kj::heap<Impl>(ingest, buffers);
}

IngestAppender::~IngestAppender() noexcept(false) {
  if (impl->finished) return;
  // Unfinished (an error or a cancel): what reached the file is hashed once the pipeline
  // drains; the partly filled slot never reached it.
  impl->pipeline.drain();
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { impl->ingest.saveHash(); })) {
    KJ_LOG(WARNING, "could not save the hash state", impl->ingest.ref, *e);
  }
}

kj::ArrayPtr<kj::byte> IngestAppender::buffer() {
  if (impl->slot == nullptr) {
    impl->slot = impl->pipeline.acquire();
    impl->filled = 0;
  }
  return impl->slot.slice(impl->filled, impl->slot.size());
}

void IngestAppender::advance(size_t n) {
  KJ_REQUIRE(impl->slot != nullptr && impl->filled + n <= impl->slot.size());
  impl->filled += n;
  if (impl->filled == impl->slot.size()) impl->flushSlot();
}

void IngestAppender::write(kj::ArrayPtr<const kj::byte> bytes) {
  while (bytes.size() > 0) {
    auto buf = buffer();
    size_t n = kj::min(buf.size(), bytes.size());
    memcpy(buf.begin(), bytes.begin(), n);
    advance(n);
    bytes = bytes.slice(n, bytes.size());
  }
}

int64_t IngestAppender::accepted() const {
  return impl->writeAtOffset + impl->filled;
}

void IngestAppender::finish() {
  if (impl->filled > 0) impl->flushSlot();
  impl->pipeline.drain();
  impl->ingest.saveHash();
  impl->finished = true;
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
      throwIoError("read source for", ref, errno);
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
  if (fsync(data) < 0) throwIoError("fsync", ref, errno);
  if (renameat2(dir, "data", store.blobs, digestHex(actual).cStr(), RENAME_NOREPLACE) < 0) {
    if (errno != EEXIST) throwIoError("commit", ref, errno);
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
