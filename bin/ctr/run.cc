// ctr run: a container and its task in one command, attached to the caller's stdio (or
// detached), exiting with the container's status, as containerd 1.6's.
#include <client/containerd.h>
#include <common/errors.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <memory>

#include "commands.h"
#include "run-options.h"

namespace ctrd::ctr {
namespace {

void deleteTask(DaemonClient& client, const Globals& globals, const std::string& id) {
  auto req = openTasks(client, globals).deleteRequest();
  req.setContainerId(id.c_str());
  req.send().wait(client.waitScope());
}

}  // namespace

void registerRun(CLI::App& root, std::vector<Command>& commands, const Globals& globals) {
  auto* run = root.add_subcommand("run", "run a container");
  auto flags = std::make_shared<RunFlags>();
  auto rm = std::make_shared<bool>(false);
  auto detach = std::make_shared<bool>(false);
  run->add_flag("--rm", *rm, "remove the container after running");
  run->add_flag("--detach,-d", *detach, "detach from the task after it has started execution");
  addRunFlags(*run, *flags);
  commands.push_back(
      {run, [&globals, flags, rm, detach, run](DaemonClient& client) {
         readPositionals(*run, *flags);
         if (*rm && *detach) {
           throwError(ErrorKind::INVALID_ARGUMENT,
                      "flags --detach and --rm cannot be specified together");
         }
         if (flags->tty && !flags->logUri.empty()) {
           // Said before anything is made.
           throwError(ErrorKind::NOT_IMPLEMENTED, "--log-uri with a terminal (-t)");
         }
         createContainer(client, globals, *flags);
         auto containers = client.ns(globals.ns.c_str()).containersRequest().send().getContainers();
         auto removeContainer = [&]() {
           auto req = containers.deleteRequest();
           req.setId(flags->id.c_str());
           req.send().wait(client.waitScope());
         };
         uint32_t status = 0;
         KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                       KJ_IF_MAYBE(s, runTask(client, globals, flags->id, !*detach, flags->logUri,
                                              flags->tty)) {
                         status = *s;
                       }
                     })) {
           if (*rm) {
             // Nothing is left of a run that failed: its task if it was made, its container.
             kj::runCatchingExceptions([&]() { deleteTask(client, globals, flags->id); });
             kj::runCatchingExceptions(removeContainer);
           }
           kj::throwFatalException(kj::mv(*e));
         }
         if (*detach) return;
         if (*rm) {
           deleteTask(client, globals, flags->id);
           removeContainer();
         }
         fflush(stdout);
         if (status != 0) exit(int(status));
       }});
}

}  // namespace ctrd::ctr
