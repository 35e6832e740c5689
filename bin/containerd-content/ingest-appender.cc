// IngestAppender: the copy loop's write side, with hashing on a thread of its own.
#include <common/errors.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <string.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "ingest.h"

namespace ctrd {
namespace {

constexpr int64_t SAVE_HASH_EVERY = 64 << 20;  // a killed copy re-hashes at most this much
constexpr int64_t WRITEBACK_EVERY = 8 << 20;   // start writeback early: commit's fsync is short

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
  // No hash state saved here: a commit usually follows at once, and fsyncs the data itself.
  // Without one, the ingest saves it when it closes; after a power cut before either, a resume
  // re-hashes what is on disk.
  impl->finished = true;
}

}  // namespace ctrd
