// ctr tasks: start, ls, kill, wait, rm, pause, resume, ps, metrics, as containerd 1.6's (exec
// and attach: tasks-attach.cc).
#include <client/containerd.h>
#include <common/clock.h>
#include <common/errors.h>
#include <common/rpc.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "format.h"
#include "run-options.h"

namespace ctrd::ctr {
namespace {

const char* statusName(schema::TaskStatus s) {
  switch (s) {
    case schema::TaskStatus::CREATED:
      return "CREATED";
    case schema::TaskStatus::RUNNING:
      return "RUNNING";
    case schema::TaskStatus::STOPPED:
      return "STOPPED";
    case schema::TaskStatus::PAUSED:
      return "PAUSED";
    case schema::TaskStatus::PAUSING:
      return "PAUSING";
    default:
      return "UNKNOWN";
  }
}

uint32_t parseSignal(const std::string& name) {
  // ctr's --signal: "SIGTERM", "TERM" or a number.
  if (!name.empty() && isdigit(static_cast<unsigned char>(name[0]))) return std::stoul(name);
  std::string bare = name.rfind("SIG", 0) == 0 ? name.substr(3) : name;
  for (int s = 1; s < NSIG; s++) {
    const char* abbrev = sigabbrev_np(s);
    if (abbrev != nullptr && bare == abbrev) return s;
  }
  throwError(ErrorKind::INVALID_ARGUMENT, kj::str("unknown signal \"", name.c_str(), "\""));
}

}  // namespace

void registerTasks(CLI::App& root, std::vector<Command>& commands, const Globals& globals) {
  auto* tasks = root.add_subcommand("tasks", "manage tasks");
  tasks->alias("task");
  tasks->alias("t");
  tasks->require_subcommand(1);

  auto* start = tasks->add_subcommand("start", "start a container that has been created");
  auto startId = std::make_shared<std::string>();
  auto startDetach = std::make_shared<bool>(false);
  start->add_option("id", *startId, "the container")->required();
  start->add_flag("--detach,-d", *startDetach, "detach from the task after it has started");
  commands.push_back({start, [&globals, startId, startDetach](DaemonClient& client) {
                        bool tty = containerTerminal(client, globals, *startId);
                        KJ_IF_MAYBE(status,
                                    runTask(client, globals, *startId, !*startDetach, "", tty)) {
                          fflush(stdout);
                          if (*status != 0) exit(int(*status));
                        }
                      }});

  auto* ls = tasks->add_subcommand("list", "list tasks");
  ls->alias("ls");
  auto quiet = std::make_shared<bool>(false);
  ls->add_flag("--quiet,-q", *quiet, "print only the task id");
  commands.push_back(
      {ls, [&globals, quiet](DaemonClient& client) {
         auto response = openTasks(client, globals).listRequest().send().wait(client.waitScope());
         if (*quiet) {
           for (auto t : response.getTasks()) {
             printf("%s\n", t.getContainerId().cStr());
           }
           return;
         }
         Table table({"TASK", "PID", "STATUS"});
         for (auto t : response.getTasks()) {
           table.add(
               {t.getContainerId().cStr(), std::to_string(t.getPid()), statusName(t.getStatus())});
         }
         table.print();
       }});

  auto* kill = tasks->add_subcommand("kill", "signal a container (default: SIGTERM)");
  auto killId = std::make_shared<std::string>();
  auto signal = std::make_shared<std::string>("SIGTERM");
  auto all = std::make_shared<bool>(false);
  auto execId = std::make_shared<std::string>();
  kill->add_option("id", *killId, "the container")->required();
  kill->add_option("--signal,-s", *signal, "signal to send to the container");
  kill->add_flag("--all,-a", *all, "send signal to all processes inside the container");
  kill->add_option("--exec-id", *execId, "process ID to kill");
  commands.push_back({kill, [&globals, killId, signal, all, execId](DaemonClient& client) {
                        auto req = openTasks(client, globals).killRequest();
                        req.setContainerId(killId->c_str());
                        req.setExecId(execId->c_str());
                        req.setSignal(parseSignal(*signal));
                        req.setAll(*all);
                        req.send().wait(client.waitScope());
                      }});

  auto* wait = tasks->add_subcommand("wait", "wait for a task to exit and print its status");
  auto waitId = std::make_shared<std::string>();
  wait->add_option("id", *waitId, "the container")->required();
  commands.push_back({wait, [&globals, waitId](DaemonClient& client) {
                        auto req = openTasks(client, globals).waitRequest();
                        req.setContainerId(waitId->c_str());
                        auto response = req.send().wait(client.waitScope());
                        printf("%u\n", response.getExit().getStatus());
                      }});

  auto* rm = tasks->add_subcommand("delete", "delete one or more tasks");
  rm->alias("del");
  rm->alias("remove");
  rm->alias("rm");
  auto rmIds = std::make_shared<std::vector<std::string>>();
  auto force = std::make_shared<bool>(false);
  rm->add_option("ids", *rmIds, "the tasks")->required();
  rm->add_flag("--force,-f", *force, "force delete task process");
  commands.push_back(
      {rm, [&globals, rmIds, force](DaemonClient& client) {
         auto tasks = openTasks(client, globals);
         for (auto& id : *rmIds) {
           if (*force) {
             auto kill = tasks.killRequest();
             kill.setContainerId(id.c_str());
             kill.setSignal(SIGKILL);
             kill.setAll(true);
             kj::runCatchingExceptions([&]() { kill.send().wait(client.waitScope()); });
             auto wait = tasks.waitRequest();
             wait.setContainerId(id.c_str());
             kj::runCatchingExceptions([&]() { wait.send().wait(client.waitScope()); });
           }
           auto req = tasks.deleteRequest();
           req.setContainerId(id.c_str());
           auto response = req.send().wait(client.waitScope());
           // Unlike containerd 1.6's ctr, a non-zero exit status is reported.
           auto status = response.getExit().getStatus();
           if (status != 0) {
             fprintf(stderr, "ctr: task %s exited with status %u\n", id.c_str(), status);
           }
         }
       }});

  for (auto verb : {"pause", "resume"}) {
    auto* cmd = tasks->add_subcommand(verb, std::string(verb) + " an existing container");
    auto id = std::make_shared<std::string>();
    cmd->add_option("id", *id, "the container")->required();
    bool isPause = std::string(verb) == "pause";
    commands.push_back({cmd, [&globals, id, isPause](DaemonClient& client) {
                          auto tasks = openTasks(client, globals);
                          if (isPause) {
                            auto req = tasks.pauseRequest();
                            req.setContainerId(id->c_str());
                            req.send().wait(client.waitScope());
                          } else {
                            auto req = tasks.resumeRequest();
                            req.setContainerId(id->c_str());
                            req.send().wait(client.waitScope());
                          }
                        }});
  }

  registerTaskStdio(*tasks, commands, globals);

  auto* metrics = tasks->add_subcommand("metrics", "get a single data point of metrics for a task");
  metrics->alias("stats");
  auto metricsId = std::make_shared<std::string>();
  auto metricsFormat = std::make_shared<std::string>("table");
  metrics->add_option("id", *metricsId, "the container")->required();
  metrics->add_option("--format", *metricsFormat, "\"table\" or \"json\"");
  commands.push_back({metrics, [&globals, metricsId, metricsFormat](DaemonClient& client) {
                        auto req = openTasks(client, globals).metricsRequest();
                        req.setContainerId(metricsId->c_str());
                        auto response = req.send().wait(client.waitScope());
                        auto bytes = response.getJson();
                        auto stats = nlohmann::json::parse(
                            std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size()),
                            nullptr, false);
                        if (!stats.is_object()) {
                          throwError(ErrorKind::UNKNOWN, "the runtime's statistics are not JSON");
                        }
                        auto data = stats.value("data", nlohmann::json::object());
                        if (*metricsFormat == "json") {
                          printf("%s\n", data.dump(4).c_str());
                          return;
                        }
                        printf("ID    TIMESTAMP\n%s    %s\n\n", metricsId->c_str(),
                               rfc3339(nowNanos()).c_str());
                        // The cgroup v1 names ctr prints, from runc's counters.
                        auto at = [&](std::initializer_list<const char*> path) -> std::string {
                          const nlohmann::json* node = &data;
                          for (auto* key : path) {
                            if (!node->is_object() || !node->contains(key)) return "-";
                            node = &(*node)[key];
                          }
                          return node->is_string() ? node->get<std::string>() : node->dump();
                        };
                        Table table({"METRIC", "VALUE"});
                        table.add({"memory.usage_in_bytes", at({"memory", "usage", "usage"})});
                        table.add({"memory.limit_in_bytes", at({"memory", "usage", "limit"})});
                        table.add({"memory.stat.cache", at({"memory", "cache"})});
                        table.add({"cpuacct.usage", at({"cpu", "usage", "total"})});
                        table.add({"cpuacct.usage_percpu", at({"cpu", "usage", "percpu"})});
                        table.add({"pids.current", at({"pids", "current"})});
                        table.add({"pids.limit", at({"pids", "limit"})});
                        table.print();
                      }});

  auto* ps = tasks->add_subcommand("ps", "list processes for container");
  auto psId = std::make_shared<std::string>();
  ps->add_option("id", *psId, "the container")->required();
  commands.push_back({ps, [&globals, psId](DaemonClient& client) {
                        auto req = openTasks(client, globals).pidsRequest();
                        req.setContainerId(psId->c_str());
                        auto response = req.send().wait(client.waitScope());
                        Table table({"PID", "INFO"});
                        for (auto pid : response.getPids()) table.add({std::to_string(pid), "-"});
                        table.print();
                      }});
}

}  // namespace ctrd::ctr
