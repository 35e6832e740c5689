// ctr images pull and push, ctr content fetch and push-object, with containerd's progress
// display: a line per object redrawn in place; a pull then prints "unpacking <platform>
// <manifest>..." and "done: <duration>" per platform unpacked.
#include <common/snapshot-info.h>
#include <oci/reference.h>
#include <stdio.h>
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
    case schema::ProgressItem::Status::UPLOADING:
      return "uploading";
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
      bool active = status == schema::ProgressItem::Status::DOWNLOADING ||
                    status == schema::ProgressItem::Status::UPLOADING;
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

}  // namespace

void registerImagePull(CLI::App& images, std::vector<Command>& commands, const Globals& globals) {
  auto open = [&globals](DaemonClient& client) {
    return client.ns(globals.ns.c_str()).imagesRequest().send().getImages();
  };
  auto* pull = images.add_subcommand("pull", "pull an image from a remote");
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
}

void registerImagePush(CLI::App& images, std::vector<Command>& commands, const Globals& globals) {
  auto* push = images.add_subcommand("push", "push an image to a remote");
  struct PushFlags {
    std::string remote;
    std::string local;
    ResolverFlags resolver;
    std::vector<std::string> platforms;
    unsigned maxConcurrentUploads = 3;
  };
  auto pf = std::make_shared<PushFlags>();
  push->add_option("remote", pf->remote, "where to push it (without a tag: by its digest)")
      ->required();
  push->add_option("local", pf->local, "the image (default: remote)");
  push->add_flag("--plain-http", pf->resolver.plainHttp, "allow connections using plain HTTP");
  push->add_flag("--skip-verify,-k", pf->resolver.skipVerify, "skip SSL certificate validation");
  push->add_option("--user,-u", pf->resolver.user, "user[:password] registry user and password");
  push->add_option("--hosts-dir", pf->resolver.hostsDir,
                   "custom hosts configuration directory (hosts.toml per registry host)");
  push->add_option("--platform", pf->platforms,
                   "push the manifest of this platform (without the index above it)");
  push->add_option("--max-concurrent-uploads", pf->maxConcurrentUploads,
                   "set the max concurrent uploads for each push");
  commands.push_back({push, [&globals, pf](DaemonClient& client) {
                        auto ref = oci::parseReference(pf->remote.c_str());
                        auto images = client.ns(globals.ns.c_str()).imagesRequest().send();
                        auto req = images.getImages().pushRequest();
                        req.setRemote(pf->remote.c_str());
                        req.setLocal(pf->local.c_str());
                        auto options = req.initOptions();
                        auto platforms = options.initPlatforms(pf->platforms.size());
                        for (size_t i = 0; i < pf->platforms.size(); i++) {
                          platforms.set(i, pf->platforms[i].c_str());
                        }
                        options.setMaxConcurrentUploads(pf->maxConcurrentUploads);
                        fillResolverConfig(options.initResolver(), pf->resolver, ref.domain);
                        req.setProgress(kj::heap<ProgressPrinter>());
                        auto response = req.send().wait(client.waitScope());
                        auto d = response.getDescriptor();
                        printf("pushed %s %s\n", d.getMediaType().cStr(), d.getDigest().cStr());
                      }});
}

void registerContentTransfer(CLI::App& content, std::vector<Command>& commands,
                             const Globals& globals) {
  auto* fetch = content.add_subcommand(
      "fetch", "fetch all content for an image into containerd (without unpacking it)");
  struct FetchFlags {
    std::string ref;
    ResolverFlags resolver;
    std::vector<std::string> platforms;
    bool allPlatforms = false;
    unsigned maxConcurrentDownloads = 3;
  };
  auto ff = std::make_shared<FetchFlags>();
  fetch->add_option("ref", ff->ref, "the image reference")->required();
  fetch->add_flag("--plain-http", ff->resolver.plainHttp, "allow connections using plain HTTP");
  fetch->add_flag("--skip-verify,-k", ff->resolver.skipVerify, "skip SSL certificate validation");
  fetch->add_option("--user,-u", ff->resolver.user, "user[:password] registry user and password");
  fetch->add_option("--hosts-dir", ff->resolver.hostsDir,
                    "custom hosts configuration directory (hosts.toml per registry host)");
  fetch->add_option("--platform", ff->platforms, "pull content from a specific platform");
  fetch->add_flag("--all-platforms", ff->allPlatforms,
                  "pull content and metadata from all platforms");
  fetch->add_option("--max-concurrent-downloads", ff->maxConcurrentDownloads,
                    "set the max concurrent downloads for each pull");
  commands.push_back({fetch, [&globals, ff](DaemonClient& client) {
                        auto ref = oci::parseReference(ff->ref.c_str());
                        auto images = client.ns(globals.ns.c_str()).imagesRequest().send();
                        auto req = images.getImages().pullRequest();
                        req.setRef(ff->ref.c_str());
                        auto options = req.initOptions();
                        auto platforms = options.initPlatforms(ff->platforms.size());
                        for (size_t i = 0; i < ff->platforms.size(); i++) {
                          platforms.set(i, ff->platforms[i].c_str());
                        }
                        options.setAllPlatforms(ff->allPlatforms);
                        options.setUnpack(false);
                        options.setMaxConcurrentDownloads(ff->maxConcurrentDownloads);
                        fillResolverConfig(options.initResolver(), ff->resolver, ref.domain);
                        req.setProgress(kj::heap<ProgressPrinter>());
                        req.send().wait(client.waitScope());
                      }});

  auto* pushObject = content.add_subcommand("push-object", "push an object to a remote");
  struct PushObjectFlags {
    std::string remote;
    std::string digest;
    std::string mediaType;
    ResolverFlags resolver;
  };
  auto pf = std::make_shared<PushObjectFlags>();
  pushObject->add_option("remote", pf->remote, "the repository (and tag, for a manifest)")
      ->required();
  pushObject->add_option("object", pf->digest, "the digest of the blob")->required();
  pushObject->add_option("type", pf->mediaType, "its media type (a manifest's goes to manifests)");
  pushObject->add_flag("--plain-http", pf->resolver.plainHttp,
                       "allow connections using plain HTTP");
  pushObject->add_flag("--skip-verify,-k", pf->resolver.skipVerify,
                       "skip SSL certificate validation");
  pushObject->add_option("--user,-u", pf->resolver.user,
                         "user[:password] registry user and password");
  pushObject->add_option("--hosts-dir", pf->resolver.hostsDir,
                         "custom hosts configuration directory (hosts.toml per registry host)");
  commands.push_back({pushObject, [&globals, pf](DaemonClient& client) {
                        auto ref = oci::parseReference(pf->remote.c_str());
                        auto images = client.ns(globals.ns.c_str()).imagesRequest().send();
                        auto req = images.getImages().pushObjectRequest();
                        req.setRemote(pf->remote.c_str());
                        auto d = req.initDescriptor();
                        d.setDigest(pf->digest.c_str());
                        d.setMediaType(pf->mediaType.c_str());
                        fillResolverConfig(req.initOptions().initResolver(), pf->resolver,
                                           ref.domain);
                        auto outcome = req.send().wait(client.waitScope()).getOutcome();
                        using Outcome = schema::Registry::PushOutcome;
                        printf("%s %s\n", pf->digest.c_str(),
                               outcome == Outcome::UPLOADED  ? "uploaded"
                               : outcome == Outcome::EXISTED ? "exists"
                                                             : "mounted");
                      }});
}

}  // namespace ctrd::ctr
