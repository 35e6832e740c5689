// ctr events: every namespace's events as they happen, one line each (time, namespace, topic,
// the event as JSON), as containerd 1.6's prints them. Filters as containerd's.
#include <client/containerd.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <memory>

#include "commands.h"

namespace ctrd::ctr {
namespace {

std::string goTime(int64_t nanoseconds) {
  // Go's time.Time.String() in UTC: "2026-12-03 03:50:00.123456789 +0000 UTC", the fraction
  // without trailing zeros.
  time_t seconds = nanoseconds / 1000000000;
  int64_t nanos = nanoseconds % 1000000000;
  struct tm tm;
  gmtime_r(&seconds, &tm);
  char out[80];
  size_t n = strftime(out, sizeof(out), "%Y-%m-%d %H:%M:%S", &tm);
  if (nanos > 0) {
    char fraction[16];
    snprintf(fraction, sizeof(fraction), ".%09lld", static_cast<long long>(nanos));
    size_t len = strlen(fraction);
    while (fraction[len - 1] == '0') fraction[--len] = '\0';
    n += snprintf(out + n, sizeof(out) - n, "%s", fraction);
  }
  snprintf(out + n, sizeof(out) - n, " +0000 UTC");
  return out;
}

}  // namespace

void registerEvents(CLI::App& root, std::vector<Command>& commands) {
  auto* events = root.add_subcommand("events", "display containerd events");
  events->alias("event");
  auto filters = std::make_shared<std::vector<std::string>>();
  events->add_option("filters", *filters, "containerd's filters: topic~=\"/tasks/\"");
  commands.push_back({events, [filters](DaemonClient& client) {
                        kj::Vector<kj::StringPtr> f;
                        for (auto& s : *filters) f.add(s.c_str());
                        auto source = client.containerd().eventsRequest().send().getEvents();
                        EventStream stream(client, kj::mv(source), f);
                        for (;;) {
                          auto e = stream.next();
                          printf("%s %s %s %s\n", goTime(e.timestamp).c_str(), e.ns.cStr(),
                                 e.topic.cStr(), e.json.cStr());
                          fflush(stdout);
                        }
                      }});
}

}  // namespace ctrd::ctr
