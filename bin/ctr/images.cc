// ctr images: pull (with containerd's progress display), ls, rm, tag, check, mount, unmount.
#include <common/errors.h>
#include <common/mount.h>
#include <common/snapshot-info.h>
#include <oci/reference.h>
#include <stdio.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include <memory>

#include "commands.h"
#include "format.h"
#include "resolver.h"

namespace ctrd::ctr {
namespace {

int64_t monotonicNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string statusName(schema::ProgressItem::Status s) {
  switch (s) {
    case schema::ProgressItem::Status::RESOLVING:
      return "resolving";
    case schema::ProgressItem::Status::RESOLVED:
      return "resolved";
    case schema::ProgressItem::Status::WAITING:
      return "waiting";
    case schema::ProgressItem::Status::DOWNLOADING:
      return "downloading";
    case schema::ProgressItem::Status::DONE:
      return "done";
    case schema::ProgressItem::Status::EXISTS:
      return "exists";
  }
  return "unknown";
}

std::string bar(int64_t offset, int64_t total, bool full) {
  constexpr int WIDTH = 40;
  int filled = full ? WIDTH : total > 0 ? int(offset * WIDTH / total) : 0;
  filled = std::min(std::max(filled, 0), WIDTH);
  return "|" + std::string(filled, '+') + std::string(WIDTH - filled, '-') + "|";
}

class ProgressPrinter final : public schema::Progress::Server {
  // containerd's pull display: one line per blob, redrawn in place, on a terminal only.
public:
  ProgressPrinter() : tty(isatty(STDOUT_FILENO)), started(monotonicNanos()) {}

  kj::Promise<void> update(UpdateContext context) override {
    auto items = context.getParams().getItems();
    downloaded = 0;
    std::vector<std::vector<std::string>> rows;
    for (auto i : items) {
      auto status = i.getStatus();
      bool active = status == schema::ProgressItem::Status::DOWNLOADING;
      bool complete = status == schema::ProgressItem::Status::DONE ||
                      status == schema::ProgressItem::Status::EXISTS ||
                      status == schema::ProgressItem::Status::RESOLVED;
      if (status == schema::ProgressItem::Status::DONE || active) downloaded += i.getOffset();
      std::vector<std::string> row = {std::string(i.getRef().cStr()) + ":", statusName(status),
                                      bar(i.getOffset(), i.getTotal(), complete)};
      row.push_back(active ? binarySize(i.getOffset()) + "/" + binarySize(i.getTotal()) : "");
      rows.push_back(kj::mv(row));
    }
    if (tty) draw(rows);
    return kj::READY_NOW;
  }

private:
  bool tty;
  int64_t started;
  int64_t downloaded = 0;
  size_t drawn = 0;

  void draw(const std::vector<std::vector<std::string>>& rows) {
    size_t widths[4] = {};
    for (auto& r : rows) {
      for (size_t c = 0; c < r.size(); c++) widths[c] = std::max(widths[c], r[c].size());
    }
    std::string out;
    if (drawn > 0) out += "\x1b[" + std::to_string(drawn) + "A";
    for (auto& r : rows) {
      out += "\x1b[2K";
      for (size_t c = 0; c < r.size(); c++) {
        out += r[c] + std::string(widths[c] - r[c].size() + 1, ' ');
      }
      out += "\n";
    }
    double seconds = double(monotonicNanos() - started) / 1e9;
    char line[128];
    snprintf(line, sizeof(line), "\x1b[2Kelapsed: %-4.1fs total: %7s (%s/s)\n", seconds,
             binarySize(downloaded).c_str(),
             binarySize(seconds > 0 ? int64_t(double(downloaded) / seconds) : 0).c_str());
    out += line;
    drawn = rows.size() + 1;
    fwrite(out.data(), 1, out.size(), stdout);
    fflush(stdout);
  }
};

std::string goDuration(int64_t ns) {
  // Go's time.Duration formatting, as ctr prints "done: 1.234s".
  char buf[64];
  if (ns < 1000) {
    snprintf(buf, sizeof(buf), "%lldns", static_cast<long long>(ns));
  } else if (ns < 1000000) {
    snprintf(buf, sizeof(buf), "%.6gµs", ns / 1e3);
  } else if (ns < 1000000000) {
    snprintf(buf, sizeof(buf), "%.6gms", ns / 1e6);
  } else {
    snprintf(buf, sizeof(buf), "%.6gs", ns / 1e9);
  }
  return buf;
}

std::string platformsText(capnp::List<schema::Platform>::Reader platforms) {
  std::string out;
  for (auto p : platforms) {
    if (!out.empty()) out += ",";
    out += std::string(p.getOs().cStr()) + "/" + p.getArchitecture().cStr();
    if (p.getVariant().size() > 0) out += std::string("/") + p.getVariant().cStr();
  }
  return out.empty() ? "-" : out;
}

std::string labelsText(capnp::List<schema::Label>::Reader labels) {
  std::string out;
  for (auto l : labels) {
    if (!out.empty()) out += ",";
    out += std::string(l.getKey().cStr()) + "=" + l.getValue().cStr();
  }
  return out.empty() ? "-" : out;
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

  // ---- pull
  auto* pull = images->add_subcommand("pull", "pull an image from a remote");
  struct PullFlags {
    std::string ref;
    ResolverFlags resolver;
    std::vector<std::string> platforms;
    bool allPlatforms = false;
    std::string snapshotter = DEFAULT_SNAPSHOTTER.cStr();
    unsigned maxConcurrentDownloads = 3;
    bool printChainId = false;
  };
  auto pf = std::make_shared<PullFlags>();
  pull->add_option("ref", pf->ref, "the image reference")->required();
  pull->add_flag("--plain-http", pf->resolver.plainHttp, "allow connections using plain HTTP");
  pull->add_flag("--skip-verify,-k", pf->resolver.skipVerify, "skip SSL certificate validation");
  pull->add_option("--user,-u", pf->resolver.user, "user[:password] registry user and password");
  pull->add_option("--hosts-dir", pf->resolver.hostsDir,
                   "custom hosts configuration directory (hosts.toml per registry host)");
  pull->add_option("--platform", pf->platforms, "pull content from a specific platform");
  pull->add_flag("--all-platforms", pf->allPlatforms,
                 "pull content and metadata from all platforms");
  pull->add_option("--snapshotter", pf->snapshotter, "snapshotter name")
      ->envname("CONTAINERD_SNAPSHOTTER");
  pull->add_option("--max-concurrent-downloads", pf->maxConcurrentDownloads,
                   "set the max concurrent downloads for each pull");
  pull->add_flag("--print-chainid", pf->printChainId, "print the resulting image's chain ID");
  commands.push_back({pull, [open, pf](DaemonClient& client) {
                        auto ref = oci::parseReference(pf->ref.c_str());
                        auto req = open(client).pullRequest();
                        req.setRef(pf->ref.c_str());
                        auto options = req.initOptions();
                        auto platforms = options.initPlatforms(pf->platforms.size());
                        for (size_t i = 0; i < pf->platforms.size(); i++) {
                          platforms.set(i, pf->platforms[i].c_str());
                        }
                        options.setAllPlatforms(pf->allPlatforms);
                        options.setUnpack(true);
                        options.setSnapshotter(pf->snapshotter.c_str());
                        options.setMaxConcurrentDownloads(pf->maxConcurrentDownloads);
                        fillResolverConfig(options.initResolver(), pf->resolver, ref.domain);
                        auto printer = kj::heap<ProgressPrinter>();
                        req.setProgress(kj::mv(printer));
                        auto response = req.send().wait(client.waitScope());
                        for (auto u : response.getUnpacked()) {
                          printf("unpacking %s %s...\n", u.getPlatform().cStr(),
                                 u.getManifest().cStr());
                          printf("done: %s\n", goDuration(u.getNanoseconds()).c_str());
                          if (pf->printChainId) {
                            printf("image chain ID: %s\n", u.getChainId().cStr());
                          }
                        }
                      }});

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
  rm->add_flag("--sync", *rmSync, "synchronously remove the image (accepted; nothing to wait for)");
  commands.push_back(
      {rm, [open, rmRefs](DaemonClient& client) {
         auto imagesCap = open(client);
         bool failed = false;
         for (auto& r : *rmRefs) {
           auto req = imagesCap.deleteRequest();
           req.setName(r.c_str());
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
           // An image is untrusted: its setuid binaries and device nodes mean nothing here.
           mountAll(mounts, mountTarget->c_str(), *mountSuidDev ? 0 : MS_NOSUID | MS_NODEV);
         };
         if (*mountRw) {
           auto req = snapshots.prepareRequest();
           req.setKey(mountTarget->c_str());
           req.setParent(u.getUsage().getChainId());
           mountIt(req.send().wait(client.waitScope()).getMounts());
         } else {
           auto req = snapshots.viewRequest();
           req.setKey(mountTarget->c_str());
           req.setParent(u.getUsage().getChainId());
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
