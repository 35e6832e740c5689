#include "inflight.h"

namespace ctrd {

kj::Promise<void> Inflight::once(kj::String key, kj::Function<kj::Promise<void>()> work) {
  KJ_IF_MAYBE(run, runs.find(key)) {
    return run->done.addBranch();
  }
  uint64_t id = nextId++;
  auto forked = kj::evalNow(kj::mv(work))
                    .then([this, k = kj::str(key), id]() mutable { settle(kj::mv(k), id); },
                          [this, k = kj::str(key), id](kj::Exception&& e) mutable {
                            settle(kj::mv(k), id);
                            kj::throwFatalException(kj::mv(e));
                          })
                    .fork();
  auto branch = forked.addBranch();
  runs.insert(kj::mv(key), Run{id, kj::mv(forked)});
  return branch;
}

void Inflight::settle(kj::String key, uint64_t id) {
  // Later, not from inside the fork's own completion: dropping the fork there would free it
  // while it runs. Only this run's entry goes: the key may be running afresh by then.
  tasks.add(kj::evalLater([this, key = kj::mv(key), id]() {
    KJ_IF_MAYBE(r, runs.find(key)) {
      if (r->id == id) runs.erase(key);
    }
  }));
}

}  // namespace ctrd
