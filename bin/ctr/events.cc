// ctr events: every namespace's events as they happen, one line each (time, namespace, topic,
// the event as JSON), as containerd 1.6's prints them. Filters as containerd's.
#include <client/containerd.h>
#include <common/clock.h>
#include <stdio.h>

#include <memory>

#include "commands.h"

namespace ctrd::ctr {

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
                          printf("%s %s %s %s\n", formatGoTime(e.timestamp).cStr(), e.ns.cStr(),
                                 e.topic.cStr(), e.json.cStr());
                          fflush(stdout);
                        }
                      }});
}

}  // namespace ctrd::ctr
