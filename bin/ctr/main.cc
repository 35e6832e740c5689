// ctr: the command-line client, with containerd 1.6's command names and flags.
#include <common/errors.h>
#include <common/version.h>
#include <stdio.h>

#include "commands.h"

int main(int argc, char** argv) {
  using namespace ctrd;
  using namespace ctrd::ctr;
  Globals globals;
  CLI::App app("ctr: a command line client for containerd", "ctr");
  app.set_version_flag("--version,-v", kj::str("ctr containerd-cpp ", CTRD_VERSION).cStr());
  app.add_option("--address,-a", globals.address, "address for containerd's API")
      ->envname("CONTAINERD_ADDRESS");
  app.add_option("--namespace,-n", globals.ns, "namespace to use with commands")
      ->envname("CONTAINERD_NAMESPACE");
  app.require_subcommand(1);

  std::vector<Command> commands;
  registerVersion(app, commands);
  registerPlugins(app, commands);
  registerContent(app, commands, globals);
  registerImages(app, commands, globals);
  registerSnapshots(app, commands, globals);
  registerContainers(app, commands, globals);
  registerTasks(app, commands, globals);
  registerRun(app, commands, globals);
  registerNamespaces(app, commands);
  registerLeases(app, commands, globals);
  registerEvents(app, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                for (auto& command : commands) {
                  if (command.app->parsed()) {
                    DaemonClient client(globals.address.c_str());
                    command.action(client);
                    return;
                  }
                }
              })) {
    fflush(stdout);
    fprintf(stderr, "ctr: %s\n", errorMessage(*e).cStr());
    return 1;
  }
  return 0;
}
