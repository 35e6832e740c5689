// ctr plugins ls and ctr info: the service processes behind the daemon and their state.
#include <stdio.h>

#include <nlohmann/json.hpp>

#include "commands.h"

namespace ctrd::ctr {
namespace {

void printPlugins(DaemonClient& client, bool detailed) {
  auto response = client.containerd().pluginsRequest().send().wait(client.waitScope());
  if (detailed) {
    for (auto p : response.getPlugins()) {
      auto info = p.getInfo();
      bool running = p.getState() == schema::ProcessState::State::RUNNING;
      printf("Type:          %s\nID:            %s\nStatus:        %s\n", p.getType().cStr(),
             info.getName().cStr(), processStateName(p.getState()).cStr());
      if (running) printf("PID:           %d\nUID:           %u\n", info.getPid(), info.getUid());
      printf("Started by:    %s\nRestarts:      %u\n",
             p.getExternal() ? "an external unit" : "containerd", p.getRestarts());
      if (p.getLastError().size() > 0) printf("Last error:    %s\n", p.getLastError().cStr());
      printf("\n");
    }
    return;
  }
  printf("%-38s %-24s %-14s %s\n", "TYPE", "ID", "PLATFORMS", "STATUS");
  for (auto p : response.getPlugins()) {
    printf("%-38s %-24s %-14s %s\n", p.getType().cStr(), p.getInfo().getName().cStr(), "-",
           processStateName(p.getState()).cStr());
  }
}

}  // namespace

void registerPlugins(CLI::App& root, std::vector<Command>& commands) {
  auto* plugins = root.add_subcommand("plugins", "provides information about containerd plugins");
  plugins->alias("plugin");
  plugins->require_subcommand(1);
  auto* ls = plugins->add_subcommand("list", "lists containerd plugins");
  ls->alias("ls");
  auto* detailed = ls->add_flag("--detailed,-d", "print detailed information about each plugin");
  commands.push_back(
      {ls, [detailed](DaemonClient& client) { printPlugins(client, detailed->count() > 0); }});

  auto* info = root.add_subcommand("info", "print the server info");
  commands.push_back({info, [](DaemonClient& client) {
                        auto version =
                            client.containerd().versionRequest().send().wait(client.waitScope());
                        auto daemon = version.getDaemon();
                        nlohmann::json out;
                        out["server"] = {{"version", daemon.getVersion().cStr()},
                                         {"revision", daemon.getRevision().cStr()},
                                         {"pid", daemon.getPid()}};
                        out["processes"] = nlohmann::json::array();
                        for (auto p : version.getProcesses()) {
                          auto i = p.getInfo();
                          nlohmann::json entry = {{"type", p.getType().cStr()},
                                                  {"id", i.getName().cStr()},
                                                  {"status", processStateName(p.getState()).cStr()},
                                                  {"external", p.getExternal()},
                                                  {"restarts", p.getRestarts()}};
                          if (p.getState() == schema::ProcessState::State::RUNNING) {
                            entry["pid"] = i.getPid();
                            entry["uid"] = i.getUid();
                            entry["gid"] = i.getGid();
                          }
                          if (p.getLastError().size() > 0)
                            entry["lastError"] = p.getLastError().cStr();
                          out["processes"].push_back(entry);
                        }
                        printf("%s\n", out.dump(4).c_str());
                      }});
}

}  // namespace ctrd::ctr
