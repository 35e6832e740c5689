// Deleting a blob's bytes without racing a commit of the same blob.
//
// The last namespace to delete a blob removes its bytes from containerd-content; meanwhile
// another namespace's commit of the same digest may have been answered `existed` by
// containerd-content, just before the bytes went. Recorded then, that namespace would hold a
// record whose blob is gone. Every record of a committed blob is therefore written through
// record(): when a deletion was issued since the commit was sent, the bytes are checked first.
#pragma once

#include <kj/async.h>
#include <kj/function.h>
#include <kj/map.h>
#include <kj/string.h>
#include <schema/content.capnp.h>

namespace ctrd {

class BlobDeletions {
public:
  using ContentClient = kj::Function<schema::ContentStore::Client()>;
  explicit BlobDeletions(ContentClient content) : content(kj::mv(content)), tasks(errorHandler) {}
  // `content` gives containerd-content's client as of now (it may have restarted).

  uint64_t issued() const { return count; }
  // Take it before sending a commit; hand it to record() with the answer.

  kj::Promise<void> remove(kj::StringPtr digest);
  // Removes the bytes (missing is fine).

  kj::Promise<void> record(kj::String digest, uint64_t since, kj::Function<void()> write);
  // Calls `write` (the meta.db record) once the blob is certainly stored: at once when no
  // deletion was issued since `since`, else after that digest's deletion settled and a stat
  // found the bytes. `unavailable` when they were deleted meanwhile: the caller must write them
  // again.

private:
  ContentClient content;
  uint64_t count = 0;
  struct InFlight {
    uint64_t id;
    kj::ForkedPromise<void> done;
  };
  kj::HashMap<kj::String, InFlight> inFlight;
  struct IgnoreErrors final : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&&) override {}
  } errorHandler;
  kj::TaskSet tasks;
};

}  // namespace ctrd
