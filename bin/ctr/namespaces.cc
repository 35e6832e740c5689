// ctr namespaces: create, ls, rm, label, as containerd 1.6's.
#include <common/errors.h>
#include <stdio.h>

#include <memory>

#include "commands.h"
#include "format.h"

namespace ctrd::ctr {
namespace {

schema::Namespaces::Client openAdmin(DaemonClient& client) {
  return client.containerd().namespacesRequest().send().getAdmin();
}

}  // namespace

void registerNamespaces(CLI::App& root, std::vector<Command>& commands) {
  auto* namespaces = root.add_subcommand("namespaces", "manage namespaces");
  namespaces->alias("namespace");
  namespaces->alias("ns");
  namespaces->require_subcommand(1);

  auto* create = namespaces->add_subcommand("create", "create a new namespace");
  create->alias("c");
  auto createName = std::make_shared<std::string>();
  auto createLabels = std::make_shared<std::vector<std::string>>();
  create->add_option("name", *createName, "the namespace")->required();
  create->add_option("labels", *createLabels, "key=value");
  commands.push_back({create, [createName, createLabels](DaemonClient& client) {
                        auto req = openAdmin(client).createRequest();
                        auto info = req.initNamespace();
                        info.setName(createName->c_str());
                        fillLabelArgs(*createLabels, info.initLabels(createLabels->size()));
                        req.send().wait(client.waitScope());
                      }});

  auto* ls = namespaces->add_subcommand("list", "list namespaces");
  ls->alias("ls");
  auto quiet = std::make_shared<bool>(false);
  ls->add_flag("--quiet,-q", *quiet, "print only the namespace name");
  commands.push_back({ls, [quiet](DaemonClient& client) {
                        auto response =
                            openAdmin(client).listRequest().send().wait(client.waitScope());
                        if (*quiet) {
                          for (auto n : response.getNamespaces())
                            printf("%s\n", n.getName().cStr());
                          return;
                        }
                        Table table({"NAME", "LABELS"});
                        for (auto n : response.getNamespaces()) {
                          std::string labels;
                          for (auto l : n.getLabels()) {
                            if (!labels.empty()) labels += ",";
                            labels += std::string(l.getKey().cStr()) + "=" + l.getValue().cStr();
                          }
                          table.add({n.getName().cStr(), labels});
                        }
                        table.print();
                      }});

  auto* rm = namespaces->add_subcommand("remove", "remove one or more namespaces");
  rm->alias("rm");
  auto rmNames = std::make_shared<std::vector<std::string>>();
  rm->add_option("names", *rmNames, "the namespaces")->required();
  commands.push_back({rm, [rmNames](DaemonClient& client) {
                        // Each one that goes is printed; the first refusal is the error, after
                        // the others were tried, as containerd's ctr does.
                        kj::Maybe<kj::Exception> failed;
                        for (auto& name : *rmNames) {
                          auto req = openAdmin(client).deleteRequest();
                          req.setName(name.c_str());
                          KJ_IF_MAYBE(e, kj::runCatchingExceptions(
                                             [&]() { req.send().wait(client.waitScope()); })) {
                            if (failed == nullptr) failed = kj::mv(*e);
                            continue;
                          }
                          printf("%s\n", name.c_str());
                        }
                        KJ_IF_MAYBE(e, failed) {
                          kj::throwFatalException(kj::mv(*e));
                        }
                      }});

  auto* label = namespaces->add_subcommand("label", "set and clear labels for a namespace");
  auto labelName = std::make_shared<std::string>();
  auto labelArgs = std::make_shared<std::vector<std::string>>();
  label->add_option("name", *labelName, "the namespace")->required();
  label->add_option("labels", *labelArgs, "key=value; key= removes the label");
  commands.push_back({label, [labelName, labelArgs](DaemonClient& client) {
                        auto req = openAdmin(client).updateRequest();
                        auto info = req.initNamespace();
                        info.setName(labelName->c_str());
                        fillLabelArgs(*labelArgs, info.initLabels(labelArgs->size()));
                        fillLabelPaths(*labelArgs, req.initFieldpaths(labelArgs->size()));
                        req.send().wait(client.waitScope());
                      }});
}

}  // namespace ctrd::ctr
