#include "blob-deletions.h"

#include <common/errors.h>

namespace ctrd {

kj::Promise<void> BlobDeletions::remove(kj::StringPtr digest) {
  uint64_t id = ++count;
  auto req = content().deleteRequest();
  req.setDigest(digest);
  auto done = req.send()
                  .ignoreResult()
                  .catch_([](kj::Exception&& e) {
                    if (errorKind(e) != ErrorKind::NOT_FOUND) kj::throwFatalException(kj::mv(e));
                  })
                  .fork();
  auto result = done.addBranch();
  // Forgotten once settled; later, not from inside the fork's completion, which dropping the
  // fork there would free.
  tasks.add(done.addBranch()
                .catch_([](kj::Exception&&) {})
                .then([]() { return kj::evalLater([]() {}); })
                .then([this, key = kj::str(digest), id]() {
                  KJ_IF_MAYBE(f, inFlight.find(key)) {
                    if (f->id == id) inFlight.erase(key);
                  }
                }));
  inFlight.upsert(kj::str(digest), InFlight{id, kj::mv(done)},
                  [](InFlight& old, InFlight&& fresh) { old = kj::mv(fresh); });
  return result;
}

kj::Promise<void> BlobDeletions::record(kj::String digest, uint64_t since,
                                        kj::Function<void()> write) {
  if (count == since) {
    // Synchronously with the check: no deletion can come in between.
    write();
    return kj::READY_NOW;
  }
  uint64_t now = count;
  kj::Promise<void> settled = kj::READY_NOW;
  KJ_IF_MAYBE(f, inFlight.find(digest)) {
    settled = f->done.addBranch().catch_([](kj::Exception&&) {});
  }
  return settled
      .then([this, d = kj::str(digest)]() {
        auto stat = content().statRequest();
        stat.setDigest(d);
        return stat.send().then([](auto) { return true; },
                                [](kj::Exception&& e) {
                                  if (errorKind(e) != ErrorKind::NOT_FOUND) {
                                    kj::throwFatalException(kj::mv(e));
                                  }
                                  return false;
                                });
      })
      .then([this, digest = kj::mv(digest), now,
             write = kj::mv(write)](bool stored) mutable -> kj::Promise<void> {
        if (!stored) {
          throwError(ErrorKind::UNAVAILABLE,
                     kj::str("content ", digest,
                             " was deleted by its last other holder while it was committed; "
                             "write it again"));
        }
        return record(kj::mv(digest), now, kj::mv(write));
      });
}

}  // namespace ctrd
