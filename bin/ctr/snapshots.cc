// ctr snapshots [--snapshotter NAME]: ls, prepare, view, commit, rm, info, mounts, tree, usage,
// label, as containerd's.
#include <common/errors.h>
#include <common/snapshot-info.h>
#include <stdio.h>
#include <time.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "format.h"

namespace ctrd::ctr {
namespace {

void printMounts(const std::string& target, capnp::List<schema::Mount>::Reader mounts) {
  for (auto m : mounts) {
    std::string options;
    for (auto o : m.getOptions()) {
      if (!options.empty()) options += ",";
      options += o.cStr();
    }
    printf("mount -t %s %s %s -o %s\n", m.getType().cStr(), m.getSource().cStr(), target.c_str(),
           options.c_str());
  }
}

}  // namespace

void registerSnapshots(CLI::App& root, std::vector<Command>& commands, const Globals& globals) {
  auto* snapshots = root.add_subcommand("snapshots", "manage snapshots");
  snapshots->alias("snapshot");
  snapshots->require_subcommand(1);
  auto snapshotter = std::make_shared<std::string>(DEFAULT_SNAPSHOTTER.cStr());
  snapshots->add_option("--snapshotter", *snapshotter, "snapshotter name (overlayfs, native)")
      ->envname("CONTAINERD_SNAPSHOTTER");
  auto open = [&globals, snapshotter](DaemonClient& client) {
    auto req = client.ns(globals.ns.c_str()).snapshotsRequest();
    req.setSnapshotter(snapshotter->c_str());
    return req.send().getSnapshots();
  };

  auto* ls = snapshots->add_subcommand("list", "list snapshots");
  ls->alias("ls");
  commands.push_back(
      {ls, [open](DaemonClient& client) {
         auto infosResponse = open(client).listRequest().send().wait(client.waitScope());
         auto infos = infosResponse.getInfos();
         Table table({"KEY", "PARENT", "KIND"});
         for (auto i : infos)
           table.add({i.getName().cStr(), i.getParent().cStr(), kindName(i.getKind()).cStr()});
         table.print();
       }});

  for (bool isView : {false, true}) {
    auto* cmd =
        snapshots->add_subcommand(isView ? "view" : "prepare",
                                  isView ? "create a read-only snapshot from a committed snapshot"
                                         : "prepare a snapshot from a committed snapshot");
    auto key = std::make_shared<std::string>();
    auto parent = std::make_shared<std::string>();
    auto target = std::make_shared<std::string>();
    auto showMounts = std::make_shared<bool>(false);
    auto labels = std::make_shared<std::vector<std::string>>();
    cmd->add_option("key", *key, "the new snapshot's key")->required();
    cmd->add_option("parent", *parent, "a committed snapshot");
    cmd->add_option("--target,-t", *target, "print the mount command for this target");
    cmd->add_flag("--mounts", *showMounts, "print the mount command (target: /tmp/target)");
    cmd->add_option("--label", *labels, "labels to attach, key=value");
    commands.push_back(
        {cmd, [open, isView, key, parent, target, showMounts, labels](DaemonClient& client) {
           auto s = open(client);
           capnp::List<schema::Mount>::Reader mounts;
           if (isView) {
             auto req = s.viewRequest();
             req.setKey(key->c_str());
             req.setParent(parent->c_str());
             auto all = withGcRoot(*labels);
             fillLabelArgs(all, req.initLabels(all.size()));
             auto response = req.send().wait(client.waitScope());
             if (!target->empty() || *showMounts) {
               printMounts(target->empty() ? "/tmp/target" : *target, response.getMounts());
             }
           } else {
             auto req = s.prepareRequest();
             req.setKey(key->c_str());
             req.setParent(parent->c_str());
             auto all = withGcRoot(*labels);
             fillLabelArgs(all, req.initLabels(all.size()));
             auto response = req.send().wait(client.waitScope());
             if (!target->empty() || *showMounts) {
               printMounts(target->empty() ? "/tmp/target" : *target, response.getMounts());
             }
           }
         }});
  }

  auto* commit =
      snapshots->add_subcommand("commit", "commit an active snapshot into the provided name");
  auto commitName = std::make_shared<std::string>();
  auto commitKey = std::make_shared<std::string>();
  commit->add_option("key", *commitName, "the committed snapshot's name")->required();
  commit->add_option("active", *commitKey, "the active snapshot")->required();
  commands.push_back({commit, [open, commitName, commitKey](DaemonClient& client) {
                        auto req = open(client).commitRequest();
                        req.setName(commitName->c_str());
                        req.setKey(commitKey->c_str());
                        auto labels = withGcRoot({});
                        fillLabelArgs(labels, req.initLabels(labels.size()));
                        req.send().wait(client.waitScope());
                      }});

  auto* rm = snapshots->add_subcommand("delete", "remove snapshots");
  rm->alias("rm");
  rm->alias("del");
  rm->alias("remove");
  auto rmKeys = std::make_shared<std::vector<std::string>>();
  rm->add_option("keys", *rmKeys, "snapshots to remove")->required();
  commands.push_back({rm, [open, rmKeys](DaemonClient& client) {
                        auto s = open(client);
                        for (auto& k : *rmKeys) {
                          auto req = s.removeRequest();
                          req.setKey(k.c_str());
                          req.send().wait(client.waitScope());
                        }
                      }});

  auto* info = snapshots->add_subcommand("info", "get info about a snapshot");
  auto infoKey = std::make_shared<std::string>();
  info->add_option("key", *infoKey, "the snapshot")->required();
  commands.push_back({info, [open, infoKey](DaemonClient& client) {
                        auto req = open(client).statRequest();
                        req.setKey(infoKey->c_str());
                        auto iResponse = req.send().wait(client.waitScope());
                        auto i = iResponse.getInfo();
                        nlohmann::ordered_json out;
                        out["Kind"] = kindName(i.getKind()).cStr();
                        out["Name"] = i.getName().cStr();
                        if (i.getParent().size() > 0) out["Parent"] = i.getParent().cStr();
                        if (i.getLabels().size() > 0) {
                          for (auto l : i.getLabels())
                            out["Labels"][l.getKey().cStr()] = l.getValue().cStr();
                        }
                        out["Created"] = rfc3339(i.getCreatedAt());
                        out["Updated"] = rfc3339(i.getUpdatedAt());
                        printf("%s\n", out.dump(4).c_str());
                      }});

  auto* mounts = snapshots->add_subcommand("mounts", "mount gets mount commands for the snapshots");
  mounts->alias("m");
  mounts->alias("mount");
  auto mountTarget = std::make_shared<std::string>();
  auto mountKey = std::make_shared<std::string>();
  mounts->add_option("target", *mountTarget, "where to mount")->required();
  mounts->add_option("key", *mountKey, "the snapshot")->required();
  commands.push_back({mounts, [open, mountTarget, mountKey](DaemonClient& client) {
                        auto req = open(client).mountsRequest();
                        req.setKey(mountKey->c_str());
                        auto response = req.send().wait(client.waitScope());
                        printMounts(*mountTarget, response.getMounts());
                      }});

  auto* tree = snapshots->add_subcommand("tree", "display tree view of snapshot branches");
  commands.push_back(
      {tree, [open](DaemonClient& client) {
         auto infosResponse = open(client).listRequest().send().wait(client.waitScope());
         auto infos = infosResponse.getInfos();
         std::multimap<std::string, std::string> children;
         for (auto i : infos) children.emplace(i.getParent().cStr(), i.getName().cStr());
         std::function<void(const std::string&, int)> print = [&](const std::string& name,
                                                                  int depth) {
           printf("%*s%s%s\n", depth * 2, "", depth > 0 ? "\\_ " : "", name.c_str());
           auto range = children.equal_range(name);
           for (auto it = range.first; it != range.second; ++it) print(it->second, depth + 1);
         };
         auto roots = children.equal_range("");
         for (auto it = roots.first; it != roots.second; ++it) print(it->second, 0);
       }});

  auto* usage = snapshots->add_subcommand("usage", "usage snapshots");
  auto usageKeys = std::make_shared<std::vector<std::string>>();
  auto bytes = std::make_shared<bool>(false);
  usage->add_option("keys", *usageKeys, "snapshots (default: all)");
  usage->add_flag("-b", *bytes, "display size in bytes");
  commands.push_back({usage, [open, usageKeys, bytes](DaemonClient& client) {
                        auto s = open(client);
                        std::vector<std::string> keys = *usageKeys;
                        if (keys.empty()) {
                          auto listed = s.listRequest().send().wait(client.waitScope());
                          for (auto i : listed.getInfos()) {
                            keys.push_back(i.getName().cStr());
                          }
                        }
                        Table table({"KEY", "SIZE", "INODES"});
                        for (auto& k : keys) {
                          auto req = s.usageRequest();
                          req.setKey(k.c_str());
                          auto uResponse = req.send().wait(client.waitScope());
                          auto u = uResponse.getUsage();
                          table.add({k,
                                     *bytes ? std::to_string(u.getSize()) : humanSize(u.getSize()),
                                     std::to_string(u.getInodes())});
                        }
                        table.print();
                      }});

  auto* diff = snapshots->add_subcommand(
      "diff",
      "compute the layer between an active snapshot and its parent, into the content store");
  auto diffKey = std::make_shared<std::string>();
  auto diffBase = std::make_shared<std::string>();
  auto mediaType = std::make_shared<std::string>("application/vnd.oci.image.layer.v1.tar+gzip");
  auto ref = std::make_shared<std::string>();
  auto diffLabels = std::make_shared<std::vector<std::string>>();
  diff->add_option("key", *diffKey, "the active snapshot")->required();
  diff->add_option("base", *diffBase,
                   "the snapshot to compare against (only its parent is supported)");
  diff->add_option("--media-type", *mediaType, "media type of the layer (tar or tar+gzip)");
  diff->add_option("--ref", *ref, "content upload reference");
  diff->add_option("--label", *diffLabels, "labels for the layer blob, key=value");
  commands.push_back(
      {diff, [&globals, snapshotter, diffKey, diffBase, mediaType, ref,
              diffLabels](DaemonClient& client) {
         if (!diffBase->empty()) {
           throwError(ErrorKind::NOT_IMPLEMENTED,
                      "a diff against a snapshot other than the parent");
         }
         auto req = client.ns(globals.ns.c_str()).diffRequest().send().getDiff().diffRequest();
         req.setSnapshotter(snapshotter->c_str());
         req.setKey(diffKey->c_str());
         req.setMediaType(mediaType->c_str());
         req.setRef(ref->c_str());
         fillLabelArgs(*diffLabels, req.initLabels(diffLabels->size()));
         auto response = req.send().wait(client.waitScope());
         printf("%s\n", response.getDescriptor().getDigest().cStr());
       }});

  auto* label = snapshots->add_subcommand("label", "add labels to a snapshot");
  auto labelKey = std::make_shared<std::string>();
  auto labelArgs = std::make_shared<std::vector<std::string>>();
  label->add_option("key", *labelKey, "the snapshot")->required();
  label->add_option("labels", *labelArgs, "key=value; key= removes the label");
  commands.push_back({label, [open, labelKey, labelArgs](DaemonClient& client) {
                        auto req = open(client).updateRequest();
                        req.setKey(labelKey->c_str());
                        fillLabelArgs(*labelArgs, req.initLabels(labelArgs->size()));
                        fillLabelPaths(*labelArgs, req.initFieldpaths(labelArgs->size()));
                        auto infoResponse = req.send().wait(client.waitScope());
                        auto info = infoResponse.getInfo();
                        for (auto l : info.getLabels())
                          printf("%s=%s\n", l.getKey().cStr(), l.getValue().cStr());
                      }});
}

}  // namespace ctrd::ctr
