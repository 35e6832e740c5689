// The table of rows a pull or a push reports to its caller (`ctr` draws one line per row): one
// row per object with its status and how far it is, sent every 100 ms while the job runs and
// once more at its end. A caller that stops listening stops only the reports.
#pragma once

#include <kj/async.h>
#include <kj/timer.h>
#include <kj/vector.h>
#include <schema/images.capnp.h>

namespace ctrd {

struct ProgressRow {
  kj::String ref;  // "layer-sha256:...", or the image name
  schema::ProgressItem::Status status;
  int64_t offset;
  int64_t total;
};

class ProgressTable {
public:
  explicit ProgressTable(kj::Timer& timer) : timer(timer) {}

  void listen(schema::Progress::Client listener) { this->listener = kj::mv(listener); }
  size_t row(kj::StringPtr ref, schema::ProgressItem::Status status, int64_t total);
  // The row named `ref`, added when there is none.
  ProgressRow& operator[](size_t at) { return rows[at]; }

  void start();
  // The reports begin.
  kj::Promise<void> finish();
  // The reports end with the table as it is now: a job ends when its work does, not at the
  // next tick.

private:
  kj::Timer& timer;
  kj::Maybe<schema::Progress::Client> listener;
  kj::Vector<ProgressRow> rows;
  kj::Maybe<kj::Promise<void>> ticking;

  kj::Promise<void> tick();
  kj::Promise<void> send();
};

}  // namespace ctrd
