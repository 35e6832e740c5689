// ctr images: ls, rm, tag, check, mount, unmount (pull and push are in images-pull.cc).
#include <common/errors.h>
#include <common/mount.h>
#include <common/snapshot-info.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

#include <memory>

#include "commands.h"
#include "format.h"

namespace ctrd::ctr {
namespace {

std::string platformsText(capnp::List<schema::Platform>::Reader platforms) {
  std::string out;
  for (auto p : platforms) {
    if (!out.empty()) out += ",";
    out += std::string(p.getOs().cStr()) + "/" + p.getArchitecture().cStr();
    if (p.getVariant().size() > 0) out += std::string("/") + p.getVariant().cStr();
  }
  return out.empty() ? "-" : out;
}

}  // namespace

namespace {

bool enterDaemonNamespaces(DaemonClient& client) {
  // A rootless daemon's snapshots are mounted in its user and mount namespaces (overlay with
  // userxattr, which a user namespace may mount on Linux 5.11 and later): the mount is seen
  // there, by `nsenter -U -m -t HOLDER`, and not on the host.
  if (geteuid() == 0) return false;
  int32_t holder = 0;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                holder = client.containerd()
                             .userNamespaceRequest()
                             .send()
                             .wait(client.waitScope())
                             .getHolder();
              })) {
    if (errorKind(*e) != ErrorKind::NOT_FOUND) kj::throwFatalException(kj::mv(*e));
    throwError(ErrorKind::FAILED_PRECONDITION,
               "mounting needs root: the daemon runs as root, and only root may mount on the host");
  }
  joinNamespacesOf(holder);
  return true;
}

}  // namespace

void registerImages(CLI::App& root, std::vector<Command>& commands, const Globals& globals) {
  auto* images = root.add_subcommand("images", "manage images");
  images->alias("image");
  images->alias("i");
  images->require_subcommand(1);
  auto open = [&globals](DaemonClient& client) {
    return client.ns(globals.ns.c_str()).imagesRequest().send().getImages();
  };

  registerImagePull(*images, commands, globals);
  registerImagePush(*images, commands, globals);
  registerImageArchive(*images, commands, globals);

  // ---- ls
  auto* ls = images->add_subcommand("list", "list images known to containerd");
  ls->alias("ls");
  auto lsQuiet = std::make_shared<bool>(false);
  auto lsFilters = std::make_shared<std::vector<std::string>>();
  ls->add_flag("--quiet,-q", *lsQuiet, "print only the image refs");
  ls->add_option("filters", *lsFilters, "filters (name==..., labels.KEY==...)");
  commands.push_back({ls, [open, lsQuiet, lsFilters](DaemonClient& client) {
                        auto imagesCap = open(client);
                        auto req = imagesCap.listRequest();
                        auto f = req.initFilters(lsFilters->size());
                        for (size_t i = 0; i < lsFilters->size(); i++)
                          f.set(i, (*lsFilters)[i].c_str());
                        auto response = req.send().wait(client.waitScope());
                        if (*lsQuiet) {
                          for (auto i : response.getImages()) printf("%s\n", i.getName().cStr());
                          return;
                        }
                        Table table({"REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"});
                        for (auto i : response.getImages()) {
                          auto usage = imagesCap.usageRequest();
                          usage.setName(i.getName());
                          std::string size = "-", platforms = "-";
                          KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                                        auto u = usage.send().wait(client.waitScope()).getUsage();
                                        size = binarySize(u.getSize());
                                        platforms = platformsText(u.getPlatforms());
                                      })) {
                            fprintf(stderr, "ctr: %s: %s\n", i.getName().cStr(),
                                    errorMessage(*e).cStr());
                          }
                          table.add({i.getName().cStr(), i.getTarget().getMediaType().cStr(),
                                     i.getTarget().getDigest().cStr(), size, platforms,
                                     labelsText(i.getLabels())});
                        }
                        table.print();
                      }});

  // ---- rm
  auto* rm = images->add_subcommand("delete", "remove one or more images by reference");
  rm->alias("rm");
  rm->alias("del");
  rm->alias("remove");
  auto rmRefs = std::make_shared<std::vector<std::string>>();
  auto rmSync = std::make_shared<bool>(false);
  rm->add_option("refs", *rmRefs, "image references")->required();
  rm->add_flag("--sync", *rmSync,
               "synchronously remove image and all associated resources (garbage collection "
               "has run when it returns)");
  commands.push_back(
      {rm, [open, rmRefs, rmSync](DaemonClient& client) {
         auto imagesCap = open(client);
         bool failed = false;
         for (size_t i = 0; i < rmRefs->size(); i++) {
           auto& r = (*rmRefs)[i];
           auto req = imagesCap.deleteRequest();
           req.setName(r.c_str());
           // As containerd's ctr: the last deletion waits for the collection.
           req.setSync(*rmSync && i + 1 == rmRefs->size());
           KJ_IF_MAYBE(e,
                       kj::runCatchingExceptions([&]() { req.send().wait(client.waitScope()); })) {
             fprintf(stderr, "ctr: unable to delete %s: %s\n", r.c_str(), errorMessage(*e).cStr());
             failed = true;
             continue;
           }
           printf("%s\n", r.c_str());
         }
         if (failed) throwError(ErrorKind::UNKNOWN, "unable to delete some images");
       }});

  // ---- tag
  auto* tag = images->add_subcommand("tag", "tag an image");
  auto tagSource = std::make_shared<std::string>();
  auto tagTargets = std::make_shared<std::vector<std::string>>();
  auto tagForce = std::make_shared<bool>(false);
  tag->add_option("source", *tagSource, "the existing image")->required();
  tag->add_option("target", *tagTargets, "new references")->required();
  tag->add_flag("--force", *tagForce, "force target_ref to be created, regardless if it exists");
  commands.push_back({tag, [open, tagSource, tagTargets, tagForce](DaemonClient& client) {
                        auto imagesCap = open(client);
                        auto get = imagesCap.getRequest();
                        get.setName(tagSource->c_str());
                        auto source = get.send().wait(client.waitScope());
                        auto tagged = [&](schema::Image::Builder image, const std::string& name) {
                          image.setName(name.c_str());
                          image.setTarget(source.getImage().getTarget());
                          image.setLabels(source.getImage().getLabels());
                        };
                        for (auto& t : *tagTargets) {
                          auto create = imagesCap.createRequest();
                          tagged(create.initImage(), t);
                          KJ_IF_MAYBE(e, kj::runCatchingExceptions(
                                             [&]() { create.send().wait(client.waitScope()); })) {
                            if (!*tagForce || errorKind(*e) != ErrorKind::ALREADY_EXISTS) {
                              kj::throwFatalException(kj::mv(*e));
                            }
                            auto update = imagesCap.updateRequest();
                            tagged(update.initImage(), t);
                            update.send().wait(client.waitScope());
                          }
                          printf("%s\n", t.c_str());
                        }
                      }});

  // ---- check
  auto* check = images->add_subcommand(
      "check", "check existing images to ensure all content is available locally");
  auto checkQuiet = std::make_shared<bool>(false);
  auto checkSnapshotter = std::make_shared<std::string>(DEFAULT_SNAPSHOTTER.cStr());
  auto checkFilters = std::make_shared<std::vector<std::string>>();
  check->add_flag("--quiet,-q", *checkQuiet, "print only the ready image refs");
  check->add_option("--snapshotter", *checkSnapshotter, "snapshotter name")
      ->envname("CONTAINERD_SNAPSHOTTER");
  check->add_option("filters", *checkFilters, "filters");
  commands.push_back(
      {check, [open, checkQuiet, checkSnapshotter, checkFilters](DaemonClient& client) {
         auto imagesCap = open(client);
         auto req = imagesCap.listRequest();
         auto f = req.initFilters(checkFilters->size());
         for (size_t i = 0; i < checkFilters->size(); i++) f.set(i, (*checkFilters)[i].c_str());
         auto response = req.send().wait(client.waitScope());
         Table table({"REF", "TYPE", "DIGEST", "STATUS", "SIZE", "UNPACKED"});
         for (auto i : response.getImages()) {
           auto usage = imagesCap.usageRequest();
           usage.setName(i.getName());
           usage.setSnapshotter(checkSnapshotter->c_str());
           auto u = usage.send().wait(client.waitScope()).getUsage();
           if (*checkQuiet) {
             if (u.getComplete()) printf("%s\n", i.getName().cStr());
             continue;
           }
           auto status = std::string(u.getComplete() ? "complete" : "incomplete") + " (" +
                         std::to_string(u.getPresentBlobs()) + "/" + std::to_string(u.getBlobs()) +
                         ")";
           table.add({i.getName().cStr(), i.getTarget().getMediaType().cStr(),
                      i.getTarget().getDigest().cStr(), status,
                      binarySize(u.getPresent()) + "/" + binarySize(u.getSize()),
                      u.getUnpacked() ? "true" : "false"});
         }
         if (!*checkQuiet) table.print();
       }});

  // ---- mount / unmount
  auto* mount = images->add_subcommand("mount", "mount an image to a target path");
  auto mountRef = std::make_shared<std::string>();
  auto mountTarget = std::make_shared<std::string>();
  auto mountRw = std::make_shared<bool>(false);
  auto mountSnapshotter = std::make_shared<std::string>(DEFAULT_SNAPSHOTTER.cStr());
  auto mountPlatform = std::make_shared<std::string>();
  mount->add_option("ref", *mountRef, "the image")->required();
  mount->add_option("target", *mountTarget, "where to mount it")->required();
  auto mountSuidDev = std::make_shared<bool>(false);
  mount->add_flag("--rw", *mountRw, "enable write support on the mount");
  mount->add_flag("--suid-dev", *mountSuidDev,
                  "honour setuid bits and device nodes (mounted nosuid,nodev otherwise)");
  mount->add_option("--snapshotter", *mountSnapshotter, "snapshotter name")
      ->envname("CONTAINERD_SNAPSHOTTER");
  mount->add_option("--platform", *mountPlatform, "mount the image for the specified platform");
  commands.push_back(
      {mount, [open, &globals, mountRef, mountTarget, mountRw, mountSnapshotter, mountPlatform,
               mountSuidDev](DaemonClient& client) {
         auto usage = open(client).usageRequest();
         usage.setName(mountRef->c_str());
         usage.setPlatform(mountPlatform->c_str());
         usage.setSnapshotter(mountSnapshotter->c_str());
         auto u = usage.send().wait(client.waitScope());
         if (!u.getUsage().getUnpacked()) {
           throwError(ErrorKind::FAILED_PRECONDITION,
                      kj::str("image \"", mountRef->c_str(), "\" is not unpacked in ",
                              mountSnapshotter->c_str(), " (pull it with --snapshotter ",
                              mountSnapshotter->c_str(), ")"));
         }
         auto snapshotsReq = client.ns(globals.ns.c_str()).snapshotsRequest();
         snapshotsReq.setSnapshotter(mountSnapshotter->c_str());
         auto snapshots = snapshotsReq.send().getSnapshots();
         auto mountIt = [&](capnp::List<schema::Mount>::Reader mounts) {
           bool joined = enterDaemonNamespaces(client);
           // An image is untrusted: its setuid binaries and device nodes mean nothing here.
           KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                         mountAll(mounts, mountTarget->c_str(),
                                  *mountSuidDev ? 0 : MS_NOSUID | MS_NODEV);
                       })) {
             if (!joined) kj::throwFatalException(kj::mv(*e));
             kj::throwFatalException(withContext(
                 "mounting in the rootless daemon's user namespace (an overlay mount there needs "
                 "Linux 5.11 or later)",
                 *e));
           }
         };
         // Kept from garbage collection until `unmount --rm` (containerd's ctr holds a lease
         // named after the target for the same).
         auto root = withGcRoot({});
         if (*mountRw) {
           auto req = snapshots.prepareRequest();
           req.setKey(mountTarget->c_str());
           req.setParent(u.getUsage().getChainId());
           fillLabelArgs(root, req.initLabels(root.size()));
           mountIt(req.send().wait(client.waitScope()).getMounts());
         } else {
           auto req = snapshots.viewRequest();
           req.setKey(mountTarget->c_str());
           req.setParent(u.getUsage().getChainId());
           fillLabelArgs(root, req.initLabels(root.size()));
           mountIt(req.send().wait(client.waitScope()).getMounts());
         }
         printf("%s\n", mountTarget->c_str());
       }});

  auto* unmountCmd = images->add_subcommand("unmount", "unmount the image from the target");
  auto unmountTarget = std::make_shared<std::string>();
  auto unmountRm = std::make_shared<bool>(false);
  auto unmountSnapshotter = std::make_shared<std::string>(DEFAULT_SNAPSHOTTER.cStr());
  unmountCmd->add_option("target", *unmountTarget, "the mount point")->required();
  unmountCmd->add_flag("--rm", *unmountRm, "remove the snapshot after a successful unmount");
  unmountCmd->add_option("--snapshotter", *unmountSnapshotter, "snapshotter name")
      ->envname("CONTAINERD_SNAPSHOTTER");
  commands.push_back(
      {unmountCmd, [&globals, unmountTarget, unmountRm, unmountSnapshotter](DaemonClient& client) {
         enterDaemonNamespaces(client);
         unmount(unmountTarget->c_str());
         if (*unmountRm) {
           auto snapshotsReq = client.ns(globals.ns.c_str()).snapshotsRequest();
           snapshotsReq.setSnapshotter(unmountSnapshotter->c_str());
           auto req = snapshotsReq.send().getSnapshots().removeRequest();
           req.setKey(unmountTarget->c_str());
           req.send().wait(client.waitScope());
         }
         printf("%s\n", unmountTarget->c_str());
       }});
}

}  // namespace ctrd::ctr
