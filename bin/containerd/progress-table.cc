#include "progress-table.h"

namespace ctrd {

constexpr auto PROGRESS_EVERY = 100 * kj::MILLISECONDS;

size_t ProgressTable::row(kj::StringPtr ref, schema::ProgressItem::Status status, int64_t total) {
  for (size_t i = 0; i < rows.size(); i++) {
    if (rows[i].ref == ref) return i;
  }
  rows.add(ProgressRow{kj::str(ref), status, 0, total});
  return rows.size() - 1;
}

void ProgressTable::start() {
  ticking = tick().eagerlyEvaluate(nullptr);
}

kj::Promise<void> ProgressTable::finish() {
  ticking = nullptr;
  return send();
}

kj::Promise<void> ProgressTable::tick() {
  return timer.afterDelay(PROGRESS_EVERY).then([this]() { return send(); }).then([this]() {
    return tick();
  });
}

kj::Promise<void> ProgressTable::send() {
  KJ_IF_MAYBE(l, listener) {
    auto req = l->updateRequest();
    auto list = req.initItems(rows.size());
    for (size_t i = 0; i < rows.size(); i++) {
      list[i].setRef(rows[i].ref);
      list[i].setStatus(rows[i].status);
      list[i].setOffset(rows[i].offset);
      list[i].setTotal(rows[i].total);
    }
    return req.send().ignoreResult().catch_([this](kj::Exception&&) { listener = nullptr; });
  }
  return kj::READY_NOW;
}

}  // namespace ctrd
