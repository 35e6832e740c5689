// ctr tasks exec and attach: a process whose stdio is ours while we wait for it, as containerd
// 1.6's ctr does it (a raw terminal with -t, signals and terminal size passed on).
#include <client/client.h>
#include <common/errors.h>
#include <stdio.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "console.h"
#include "run-options.h"

namespace ctrd::ctr {
namespace {

void setCallerStdio(schema::Stdio::Builder stdio, bool tty) {
  stdio.setStdin(callerStream(STDIN_FILENO));
  stdio.setStdout(callerStream(STDOUT_FILENO));
  if (!tty) stdio.setStderr(callerStream(STDERR_FILENO));  // a pty has only the one output
  stdio.setTerminal(tty);
}

uint32_t waitAttached(DaemonClient& client, schema::Tasks::Client tasks,
                      capnp::RemotePromise<schema::Tasks::WaitResults> exited,
                      const std::string& id, const std::string& execId, bool tty,
                      kj::FunctionParam<void()> begin) {
  // Signals and the terminal's size go to the process from before `begin` (its start, or our
  // attachment) until it exits.
  SignalForwarder forwarder(client, tasks, id, execId, tty);
  kj::Maybe<kj::Own<RawTerminal>> raw;
  if (tty) raw = kj::heap<RawTerminal>();
  begin();
  if (tty) resizeToTerminal(client, tasks, id, execId);
  return exited.wait(client.waitScope()).getExit().getStatus();
}

}  // namespace

void registerTaskStdio(CLI::App& tasks, std::vector<Command>& commands, const Globals& globals) {
  auto* exec =
      tasks.add_subcommand("exec", "execute additional processes in an existing container");
  struct ExecFlags {
    std::string execId, cwd, user;
    std::vector<std::string> env;
    bool detach = false;
    bool tty = false;
  };
  auto ef = std::make_shared<ExecFlags>();
  exec->add_option("--exec-id", ef->execId, "exec specific id for the process")->required();
  exec->add_flag("--detach,-d", ef->detach, "detach from the task after it has started execution");
  exec->add_flag("--tty,-t", ef->tty, "allocate a TTY for the container");
  exec->add_option("--cwd", ef->cwd, "working directory of the new process");
  exec->add_option("--env", ef->env, "additional environment variables (KEY=VALUE)")
      ->allow_extra_args(false);
  exec->add_option("--user,-u", ef->user, "user id, group optional (format: <uid>[:<gid>])");
  exec->prefix_command();
  exec->footer("Arguments: CONTAINER COMMAND [ARG...]");
  commands.push_back(
      {exec, [&globals, ef, exec](DaemonClient& client) {
         auto rest = exec->remaining();
         if (!rest.empty() && rest[0] == "--") rest.erase(rest.begin());
         if (rest.size() < 2) {
           throwError(ErrorKind::INVALID_ARGUMENT, "container id and a command must be provided");
         }
         auto id = rest[0];
         // The container's own process, with the command and options given.
         auto get =
             client.ns(globals.ns.c_str()).containersRequest().send().getContainers().getRequest();
         get.setId(id.c_str());
         auto got = get.send().wait(client.waitScope());
         auto specBytes = got.getContainer().getSpec();
         auto spec = nlohmann::json::parse(specBytes.begin(), specBytes.end(), nullptr, false);
         if (!spec.is_object() || !spec["process"].is_object()) {
           throwError(ErrorKind::FAILED_PRECONDITION,
                      kj::str("container \"", id.c_str(), "\" has no process in its spec"));
         }
         auto process = spec["process"];
         process["args"] = std::vector<std::string>(rest.begin() + 1, rest.end());
         process["terminal"] = ef->tty;
         uint16_t width, height;
         if (ef->tty && terminalSize(width, height)) {
           // Its pty is made when it starts: it is made this size, before anything runs in it.
           process["consoleSize"] = {{"height", height}, {"width", width}};
         }
         if (!ef->cwd.empty()) process["cwd"] = ef->cwd;
         for (auto& e : ef->env) process["env"].push_back(e);
         if (!ef->user.empty()) {
           auto colon = ef->user.find(':');
           process["user"]["uid"] = std::stoul(ef->user.substr(0, colon));
           process["user"]["gid"] =
               colon == std::string::npos ? 0 : std::stoul(ef->user.substr(colon + 1));
         }
         auto json = process.dump();
         auto tasks = openTasks(client, globals);
         auto req = tasks.execRequest();
         req.setContainerId(id.c_str());
         req.setExecId(ef->execId.c_str());
         req.initSpec().setJson(
             kj::arrayPtr(reinterpret_cast<const kj::byte*>(json.data()), json.size()));
         if (ef->detach) {
           req.initStdio().setTerminal(ef->tty);  // no stream: detached
         } else {
           setCallerStdio(req.initStdio(), ef->tty);
         }
         req.send().wait(client.waitScope());
         auto removeExec = [&]() {
           auto del = tasks.deleteRequest();
           del.setContainerId(id.c_str());
           del.setExecId(ef->execId.c_str());
           del.send().wait(client.waitScope());
         };
         auto startExec = [&]() {
           auto start = tasks.startRequest();
           start.setContainerId(id.c_str());
           start.setExecId(ef->execId.c_str());
           KJ_IF_MAYBE(e, kj::runCatchingExceptions(
                              [&]() { start.send().wait(client.waitScope()); })) {
             kj::runCatchingExceptions(removeExec);
             kj::throwFatalException(kj::mv(*e));
           }
         };
         if (ef->detach) {
           startExec();
           return;
         }
         auto wait = tasks.waitRequest();
         wait.setContainerId(id.c_str());
         wait.setExecId(ef->execId.c_str());
         auto status = waitAttached(client, tasks, wait.send(), id, ef->execId, ef->tty, startExec);
         removeExec();
         fflush(stdout);
         if (status != 0) exit(int(status));
       }});

  auto* attach = tasks.add_subcommand("attach", "attach to the IO of a running container");
  auto attachId = std::make_shared<std::string>();
  attach->add_option("id", *attachId, "the container")->required();
  commands.push_back({attach, [&globals, attachId](DaemonClient& client) {
                        auto& id = *attachId;
                        bool tty = containerTerminal(client, globals, id);
                        auto tasks = openTasks(client, globals);
                        auto wait = tasks.waitRequest();
                        wait.setContainerId(id.c_str());
                        auto status = waitAttached(client, tasks, wait.send(), id, "", tty, [&]() {
                          auto req = tasks.attachRequest();
                          req.setContainerId(id.c_str());
                          setCallerStdio(req.initStdio(), tty);
                          req.send().wait(client.waitScope());
                        });
                        fflush(stdout);
                        if (status != 0) exit(int(status));
                      }});
}

}  // namespace ctrd::ctr
