// ctr containers: create, ls, info, rm, label, as containerd 1.6's.
#include <common/errors.h>
#include <stdio.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "format.h"
#include "run-options.h"

namespace ctrd::ctr {
namespace {

nlohmann::ordered_json containerJson(schema::Container::Reader c) {
  // ctr's `containers info`: containerd's Container struct, its spec as the object it is.
  nlohmann::ordered_json labels = nlohmann::ordered_json::object();
  for (auto l : c.getLabels()) labels[l.getKey().cStr()] = l.getValue().cStr();
  auto spec = c.getSpec();
  nlohmann::ordered_json specJson = nlohmann::ordered_json::parse(
      std::string(reinterpret_cast<const char*>(spec.begin()), spec.size()), nullptr, false);
  return {{"ID", c.getId().cStr()},
          {"Labels", labels},
          {"Image", c.getImage().cStr()},
          {"Runtime",
           {{"Name", c.getRuntime().getName().cStr()},
            {"Options", {{"BinaryName", c.getRuntime().getBinary().cStr()}}}}},
          {"SnapshotKey", c.getSnapshotKey().cStr()},
          {"Snapshotter", c.getSnapshotter().cStr()},
          {"CreatedAt", rfc3339(c.getCreatedAt())},
          {"UpdatedAt", rfc3339(c.getUpdatedAt())},
          {"Extensions", nullptr},
          {"Spec", specJson}};
}

}  // namespace

void registerContainers(CLI::App& root, std::vector<Command>& commands, const Globals& globals) {
  auto* containers = root.add_subcommand("containers", "manage containers");
  containers->alias("container");
  containers->alias("c");
  containers->require_subcommand(1);
  auto open = [&globals](DaemonClient& client) {
    return client.ns(globals.ns.c_str()).containersRequest().send().getContainers();
  };

  auto* create = containers->add_subcommand("create", "create container");
  auto flags = std::make_shared<RunFlags>();
  addRunFlags(*create, *flags);
  commands.push_back({create, [&globals, flags, create](DaemonClient& client) {
                        readPositionals(*create, *flags);
                        createContainer(client, globals, *flags);
                      }});

  auto* ls = containers->add_subcommand("list", "list containers");
  ls->alias("ls");
  auto quiet = std::make_shared<bool>(false);
  auto filters = std::make_shared<std::vector<std::string>>();
  ls->add_flag("--quiet,-q", *quiet, "print only the container id");
  ls->add_option("filters", *filters, "filters (id, image, runtime.name, snapshotter, labels.KEY)");
  commands.push_back({ls, [open, quiet, filters](DaemonClient& client) {
                        auto req = open(client).listRequest();
                        auto f = req.initFilters(filters->size());
                        for (size_t i = 0; i < filters->size(); i++)
                          f.set(i, (*filters)[i].c_str());
                        auto response = req.send().wait(client.waitScope());
                        if (*quiet) {
                          for (auto c : response.getContainers()) printf("%s\n", c.getId().cStr());
                          return;
                        }
                        Table table({"CONTAINER", "IMAGE", "RUNTIME"});
                        for (auto c : response.getContainers()) {
                          table.add({c.getId().cStr(),
                                     c.getImage().size() > 0 ? c.getImage().cStr() : "-",
                                     c.getRuntime().getName().cStr()});
                        }
                        table.print();
                      }});

  auto* info = containers->add_subcommand("info", "get info about a container");
  auto infoId = std::make_shared<std::string>();
  auto specOnly = std::make_shared<bool>(false);
  info->add_option("id", *infoId, "the container")->required();
  info->add_flag("--spec", *specOnly, "only display the spec");
  commands.push_back({info, [open, infoId, specOnly](DaemonClient& client) {
                        auto req = open(client).getRequest();
                        req.setId(infoId->c_str());
                        auto response = req.send().wait(client.waitScope());
                        auto j = containerJson(response.getContainer());
                        printf("%s\n", (*specOnly ? j["Spec"] : j).dump(4).c_str());
                      }});

  auto* rm = containers->add_subcommand("delete", "delete one or more existing containers");
  rm->alias("del");
  rm->alias("remove");
  rm->alias("rm");
  auto rmIds = std::make_shared<std::vector<std::string>>();
  auto keep = std::make_shared<bool>(false);
  rm->add_option("ids", *rmIds, "the containers")->required();
  rm->add_flag("--keep-snapshot", *keep, "do not clean up snapshot with container");
  commands.push_back({rm, [open, rmIds, keep](DaemonClient& client) {
                        // Each in turn; the first failure is reported after the rest are tried.
                        kj::Maybe<kj::Exception> first;
                        for (auto& id : *rmIds) {
                          auto req = open(client).deleteRequest();
                          req.setId(id.c_str());
                          req.setKeepSnapshot(*keep);
                          KJ_IF_MAYBE(e, kj::runCatchingExceptions(
                                             [&]() { req.send().wait(client.waitScope()); })) {
                            if (first == nullptr) {
                              first = kj::mv(*e);  // printed last, as the command's error
                            } else {
                              fprintf(stderr, "ctr: failed to delete container %s: %s\n",
                                      id.c_str(), errorMessage(*e).cStr());
                            }
                          }
                        }
                        KJ_IF_MAYBE(e, first) {
                          kj::throwFatalException(kj::mv(*e));
                        }
                      }});

  auto* label = containers->add_subcommand("label", "set and clear labels for a container");
  auto labelId = std::make_shared<std::string>();
  auto labelArgs = std::make_shared<std::vector<std::string>>();
  label->add_option("id", *labelId, "the container")->required();
  label->add_option("labels", *labelArgs, "key=value; key= removes the label");
  commands.push_back({label, [open, labelId, labelArgs](DaemonClient& client) {
                        auto req = open(client).updateRequest();
                        auto c = req.initContainer();
                        c.setId(labelId->c_str());
                        fillLabelArgs(*labelArgs, c.initLabels(labelArgs->size()));
                        fillLabelPaths(*labelArgs, req.initFieldpaths(labelArgs->size()));
                        auto response = req.send().wait(client.waitScope());
                        for (auto l : response.getContainer().getLabels()) {
                          printf("%s=%s\n", l.getKey().cStr(), l.getValue().cStr());
                        }
                      }});
}

}  // namespace ctrd::ctr
