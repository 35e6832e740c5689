// Output in ctr's shapes: human sizes and ages as containerd prints them, aligned tables.
#pragma once

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
