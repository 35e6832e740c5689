// The ctr command tree: one register function per command group, each in its own file.
#pragma once

#include <client/client.h>
#include <common/rootless.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace ctrd::ctr {

struct Globals {
  std::string address = defaultClientAddress().cStr();
  std::string ns = "default";
};

using Action = std::function<void(DaemonClient&)>;
// What a command does once it is connected. Commands that need no daemon do not register one.

struct Command {
  CLI::App* app;
  Action action;
};

void registerVersion(CLI::App& root, std::vector<Command>& commands);
void registerPlugins(CLI::App& root, std::vector<Command>& commands);
void registerContent(CLI::App& root, std::vector<Command>& commands, const Globals& globals);
void registerImages(CLI::App& root, std::vector<Command>& commands, const Globals& globals);
void registerImagePull(CLI::App& images, std::vector<Command>& commands, const Globals& globals);
void registerImagePush(CLI::App& images, std::vector<Command>& commands, const Globals& globals);
void registerImageArchive(CLI::App& images, std::vector<Command>& commands, const Globals& globals);
// ctr images export and import.
void registerContentTransfer(CLI::App& content, std::vector<Command>& commands,
                             const Globals& globals);
// ctr content fetch and push-object.
void registerContainers(CLI::App& root, std::vector<Command>& commands, const Globals& globals);
void registerTasks(CLI::App& root, std::vector<Command>& commands, const Globals& globals);
void registerTaskStdio(CLI::App& tasks, std::vector<Command>& commands, const Globals& globals);
void registerRun(CLI::App& root, std::vector<Command>& commands, const Globals& globals);
void registerNamespaces(CLI::App& root, std::vector<Command>& commands);
void registerEvents(CLI::App& root, std::vector<Command>& commands);
void registerLeases(CLI::App& root, std::vector<Command>& commands, const Globals& globals);
void registerSnapshots(CLI::App& root, std::vector<Command>& commands, const Globals& globals);

kj::String processStateName(schema::ProcessState::State state);

}  // namespace ctrd::ctr
