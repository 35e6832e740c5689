#include "format.h"

#include <common/clock.h>
#include <stdio.h>
#include <time.h>

namespace ctrd::ctr {

std::string humanSize(int64_t bytes) {
  static const char* const UNITS[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  double size = static_cast<double>(bytes);
  size_t unit = 0;
  while (size >= 1000.0 && unit + 1 < sizeof(UNITS) / sizeof(UNITS[0])) {
    size /= 1000.0;
    unit++;
  }
  char buf[32];
  snprintf(buf, sizeof(buf), "%.4g%s", size, UNITS[unit]);
  return buf;
}

std::string binarySize(int64_t bytes) {
  static const char* const UNITS[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double size = static_cast<double>(bytes);
  size_t unit = 0;
  while (size >= 1024.0 && unit + 1 < sizeof(UNITS) / sizeof(UNITS[0])) {
    size /= 1024.0;
    unit++;
  }
  char buf[32];
  snprintf(buf, sizeof(buf), "%.1f %s", size, UNITS[unit]);
  return buf;
}

std::string humanDuration(int64_t ns) {
  int64_t seconds = ns / 1000000000;
  auto plural = [](int64_t n, const char* unit) { return std::to_string(n) + " " + unit; };
  if (seconds < 1) return "Less than a second";
  if (seconds == 1) return "1 second";
  if (seconds < 60) return plural(seconds, "seconds");
  int64_t minutes = seconds / 60;
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return plural(minutes, "minutes");
  int64_t hours = (seconds + 1800) / 3600;
  if (hours == 1) return "About an hour";
  if (hours < 48) return plural(hours, "hours");
  if (hours < 24 * 7 * 2) return plural(hours / 24, "days");
  if (hours < 24 * 30 * 2) return plural(hours / 24 / 7, "weeks");
  if (hours < 24 * 365 * 2) return plural(hours / 24 / 30, "months");
  return plural(hours / 24 / 365, "years");
}

std::string ageOf(int64_t when) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  return humanDuration(now > when ? now - when : 0);
}

Table::Table(std::vector<std::string> header) {
  rows.push_back(std::move(header));
}

void Table::add(std::vector<std::string> row) {
  rows.push_back(std::move(row));
}

void Table::print() const {
  std::vector<size_t> widths;
  for (auto& row : rows) {
    for (size_t i = 0; i < row.size(); i++) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); i++) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 4, ' ');
    }
    printf("%s\n", line.c_str());
  }
}

std::string rfc3339(int64_t ns) {
  return formatRfc3339(ns).cStr();
}

void fillLabelArgs(const std::vector<std::string>& args,
                   capnp::List<schema::Label>::Builder labels) {
  for (size_t i = 0; i < args.size(); i++) {
    auto eq = args[i].find('=');
    labels[i].setKey(args[i].substr(0, eq).c_str());
    labels[i].setValue(eq == std::string::npos ? "" : args[i].substr(eq + 1).c_str());
  }
}

std::string labelsText(capnp::List<schema::Label>::Reader labels, const char* none) {
  std::string out;
  for (auto l : labels) {
    if (!out.empty()) out += ",";
    out += std::string(l.getKey().cStr()) + "=" + l.getValue().cStr();
  }
  return out.empty() ? none : out;
}

std::vector<std::string> withGcRoot(std::vector<std::string> labels) {
  labels.push_back(std::string("containerd.io/gc.root=") +
                   formatRfc3339(nowNanos() / 1000000000 * 1000000000).cStr());
  return labels;
}

void fillLabelPaths(const std::vector<std::string>& args,
                    capnp::List<capnp::Text>::Builder fieldpaths) {
  for (size_t i = 0; i < args.size(); i++) {
    fieldpaths.set(i, ("labels." + args[i].substr(0, args[i].find('='))).c_str());
  }
}

}  // namespace ctrd::ctr
