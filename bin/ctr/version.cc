// ctr version: the client's version, the daemon's, and every service process's.
#include <common/version.h>
#include <stdio.h>

#include "commands.h"

namespace ctrd::ctr {

kj::String processStateName(schema::ProcessState::State state) {
  switch (state) {
    case schema::ProcessState::State::RUNNING:
      return kj::str("ok");
    case schema::ProcessState::State::STARTING:
      return kj::str("starting");
    case schema::ProcessState::State::RESTARTING:
      return kj::str("restarting");
    case schema::ProcessState::State::UNAVAILABLE:
      return kj::str("unavailable");
  }
  return kj::str("unknown");
}

void registerVersion(CLI::App& root, std::vector<Command>& commands) {
  auto* app = root.add_subcommand("version", "print the client and server versions");
  commands.push_back(
      {app, [](DaemonClient& client) {
         printf("Client:\n  Version:  %s\n  Revision: %s\n\n", CTRD_VERSION, CTRD_REVISION);
         fflush(stdout);
         auto response = client.containerd().versionRequest().send().wait(client.waitScope());
         auto daemon = response.getDaemon();
         printf("Server:\n  Version:  %s\n  Revision: %s\n  PID:      %d\n\n",
                daemon.getVersion().cStr(), daemon.getRevision().cStr(), daemon.getPid());
         printf("Processes:\n  %-22s %-10s %-8s %-8s %s\n", "NAME", "VERSION", "PID", "UID",
                "STATUS");
         printf("  %-22s %-10s %-8d %-8u %s\n", daemon.getName().cStr(), daemon.getVersion().cStr(),
                daemon.getPid(), daemon.getUid(), "ok");
         for (auto p : response.getProcesses()) {
           auto info = p.getInfo();
           bool running = p.getState() == schema::ProcessState::State::RUNNING;
           printf("  %-22s %-10s %-8s %-8s %s\n", info.getName().cStr(),
                  running ? info.getVersion().cStr() : "-",
                  running ? kj::str(info.getPid()).cStr() : "-",
                  running ? kj::str(info.getUid()).cStr() : "-",
                  processStateName(p.getState()).cStr());
         }
       }});
}

}  // namespace ctrd::ctr
