// Output in ctr's shapes: human sizes and ages as containerd prints them, aligned tables.
#pragma once

#include <schema/types.capnp.h>
#include <stdint.h>

#include <string>
#include <vector>

namespace ctrd::ctr {

std::string humanSize(int64_t bytes);
// Decimal units, four significant digits: 1088448 -> "1.088MB", as docker/go-units does.

std::string binarySize(int64_t bytes);
// Binary units, one decimal: 1088448 -> "1.0 MiB", as ctr's image and progress output.

std::string humanDuration(int64_t nanoseconds);
// "Less than a second", "3 seconds", "About a minute", "5 minutes", "2 days", ...

std::string ageOf(int64_t whenNanos);
// humanDuration of the time since `whenNanos`.

std::string rfc3339(int64_t nanoseconds);
// "2026-12-02T20:43:46.123456789Z", as Go's time.Time marshals to JSON (common/clock.h).

void fillLabelArgs(const std::vector<std::string>& args,
                   capnp::List<schema::Label>::Builder labels);
// `--label key=value`, `ctr ... label ID key=value key=` (an empty value removes the label).
std::string labelsText(capnp::List<schema::Label>::Reader labels, const char* none = "-");
// "k=v,k2=v2", as ctr's LABELS columns; `none` when there are none.

std::vector<std::string> withGcRoot(std::vector<std::string> labels);
// `labels` and `containerd.io/gc.root=<now>`: what containerd's ctr puts on the snapshots it
// makes (snapshots prepare, view, commit), so that garbage collection leaves them alone.
void fillLabelPaths(const std::vector<std::string>& args,
                    capnp::List<capnp::Text>::Builder fieldpaths);
// Each label's "labels.KEY" field path, for an update of those labels alone.

class Table {
  // Columns padded to their widest cell, like Go's tabwriter in ctr.
public:
  explicit Table(std::vector<std::string> header);
  void add(std::vector<std::string> row);
  void print() const;

private:
  std::vector<std::vector<std::string>> rows;
};

}  // namespace ctrd::ctr
