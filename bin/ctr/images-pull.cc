// ctr images pull, with containerd's progress display: a line per blob redrawn in place, then
// "unpacking <platform> <manifest>..." and "done: <duration>" per platform unpacked.
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

}  // namespace ctrd::ctr
