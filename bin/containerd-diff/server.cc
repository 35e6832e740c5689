#include "server.h"

#include <common/errors.h>
#include <common/log.h>
#include <common/rpc.h>
#include <common/worker.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <sandbox/landlock.h>
#include <unistd.h>

#include <thread>

#include "layer-applier.h"
#include "layer-differ.h"
#include "layer-stream.h"

namespace ctrd {
namespace {

void confine(kj::ArrayPtr<const LandlockTree> trees) {
  if (!confineThread(trees)) {
    // Older kernels: the openat2 discipline and the empty root still hold.
    static std::atomic<bool> warned{false};  // confine() runs on many threads
    if (!warned.exchange(true)) {
      logWarn("this kernel has no Landlock: applies are not confined per thread");
    }
  }
}

}  // namespace

DifferServer::DifferServer(Devices devices)
    : ServiceInfoServer(profileFor(ServiceKind::DIFF)),
      workers(kj::max(4u, 2 * std::thread::hardware_concurrency())),
      devices(devices) {}

template <typename T, typename Func>
kj::Promise<T> DifferServer::onConfinedWorker(Func&& func) {
  // A slot among `workers`, then a new thread (so its Landlock rules die with it).
  return workers.run([func = kj::fwd<Func>(func)]() mutable { return onWorker<T>(kj::mv(func)); });
}

kj::Promise<void> DifferServer::diff(DiffContext context) {
  auto params = context.getParams();
  auto mediaType =
      kj::str(params.getMediaType().size() > 0 ? params.getMediaType()
                                               : "application/vnd.oci.image.layer.v1.tar+gzip"_kj);
  auto compression = compressionForMediaType(mediaType);
  bool overlay = params.getWhiteouts() == schema::Differ::Whiteouts::OVERLAY;
  auto fds = kj::heapArrayBuilder<kj::Promise<kj::AutoCloseFd>>(2);
  fds.add(receiveFd(params.getUpper(), "the upper directory"));
  fds.add(overlay || !params.hasLower() ? kj::Promise<kj::AutoCloseFd>(kj::AutoCloseFd())
                                        : receiveFd(params.getLower(), "the lower directory"));
  return kj::joinPromises(fds.finish())
      .then([this, overlay, compression](kj::Array<kj::AutoCloseFd> received) mutable {
        auto upperFd = kj::mv(received[0]);
        auto lowerFd = kj::mv(received[1]);  // -1: none
        // Building a whole layer takes long: off the event loop, reading only what it was handed.
        return onConfinedWorker<ComputedLayer>(
            [overlay, compression, upperFd = kj::mv(upperFd),
             lowerFd = kj::mv(lowerFd)](std::atomic<bool>&) mutable {
              kj::Vector<LandlockTree> trees;
              trees.add(LandlockTree{upperFd.get(), false});
              if (lowerFd.get() >= 0) trees.add(LandlockTree{lowerFd.get(), false});
              confine(trees);
              return overlay ? diffOverlayUpper(upperFd, compression)
                             : diffTrees(lowerFd.get(), upperFd, compression);
            });
      })
      .then([context, mediaType = kj::mv(mediaType)](ComputedLayer layer) mutable {
        logDebug("computed a layer of ", layer.entries, " entries, diff id ", layer.diffId);
        auto writer = context.getParams().getWriter();
        auto copy = writer.copyFromRequest();
        copy.setSource(kj::heap<FdServer<schema::Source>>(kj::mv(layer.file)));
        return copy.send().then([context, writer, diffId = kj::mv(layer.diffId),
                                 mediaType = kj::mv(mediaType)](auto) mutable {
          auto commit = writer.commitRequest();
          auto labels = commit.initLabels(1);
          labels[0].setKey("containerd.io/uncompressed");
          labels[0].setValue(diffId);
          return commit.send().then([context, mediaType = kj::mv(mediaType)](auto r) mutable {
            auto d = context.getResults().initDescriptor();
            d.setMediaType(mediaType);
            d.setDigest(r.getDigest());
            d.setSize(r.getSize());
          });
        });
      });
}

namespace {

kj::Array<int> rawFds(kj::ArrayPtr<const kj::AutoCloseFd> fds) {
  return KJ_MAP(fd, fds)->int {
    return fd.get();
  };
}

kj::Array<LandlockTree> confinedTrees(int target, kj::ArrayPtr<const int> parents) {
  // The target to write, the snapshots below it to read; nothing else.
  auto trees = kj::heapArrayBuilder<LandlockTree>(parents.size() + 1);
  trees.add(LandlockTree{target, true});
  for (int p : parents) trees.add(LandlockTree{p, false});
  return trees.finish();
}

struct Applied {
  kj::String digest;
  int64_t size;
  size_t entries;
  kj::Vector<kj::String> implicitDirs;
};

}  // namespace

kj::Promise<void> DifferServer::apply(ApplyContext context) {
  auto params = context.getParams();
  kj::Vector<kj::Promise<kj::AutoCloseFd>> fds;
  fds.add(receiveFd(params.getBlob(), "the layer"));
  fds.add(receiveFd(params.getTarget(), "the target directory"));
  for (auto p : params.getParents()) fds.add(receiveFd(p, "a parent directory"));
  auto mediaType = kj::str(params.getLayer().getMediaType());
  auto style = params.getWhiteouts() == schema::Differ::Whiteouts::OVERLAY ? WhiteoutStyle::OVERLAY
                                                                           : WhiteoutStyle::DELETE;
  return kj::joinPromises(fds.releaseAsArray())
      .then([this, style, mediaType = kj::mv(mediaType)](kj::Array<kj::AutoCloseFd> owned) mutable {
        // Inflating and writing run on a thread of their own, so that layers of a pull apply in
        // parallel and this process keeps answering meanwhile.
        return onConfinedWorker<Applied>([this, style, mediaType = kj::mv(mediaType),
                                          owned = kj::mv(owned)](std::atomic<bool>&) {
          auto parentFds = rawFds(owned.slice(2, owned.size()));
          auto held = targets.lock(owned[1]);
          confine(confinedTrees(owned[1], parentFds));
          LayerStream stream(owned[0], compressionForMediaType(mediaType), mediaType);
          LayerApplier applier(owned[1], parentFds, style, devices);
          auto done = applier.apply(stream);
          return Applied{kj::mv(done.digest), done.size, applier.entries(),
                         applier.implicitDirectories()};
        });
      })
      .then([context](Applied done) mutable {
        auto results = context.getResults();
        auto applied = results.initApplied();
        applied.setMediaType("application/vnd.oci.image.layer.v1.tar");
        applied.setDigest(done.digest);
        applied.setSize(done.size);
        results.setEntries(done.entries);
        auto dirs = results.initImplicitDirs(done.implicitDirs.size());
        for (size_t i = 0; i < dirs.size(); i++) dirs.set(i, done.implicitDirs[i]);
        logDebug("applied ", context.getParams().getLayer().getDigest(), ": ", done.entries,
                 " entries, diff id ", done.digest);
      });
}

kj::Promise<void> DifferServer::inherit(InheritContext context) {
  auto params = context.getParams();
  kj::Vector<kj::Promise<kj::AutoCloseFd>> fds;
  fds.add(receiveFd(params.getTarget(), "the target directory"));
  for (auto p : params.getParents()) fds.add(receiveFd(p, "a parent directory"));
  auto paths = KJ_MAP(p, params.getPaths()) {
    return kj::str(p);
  };
  return kj::joinPromises(fds.releaseAsArray())
      .then([this, paths = kj::mv(paths)](kj::Array<kj::AutoCloseFd> owned) mutable {
        return onConfinedWorker<bool>(
            [this, paths = kj::mv(paths), owned = kj::mv(owned)](std::atomic<bool>&) {
              auto parentFds = rawFds(owned.slice(1, owned.size()));
              auto held = targets.lock(owned[0]);
              confine(confinedTrees(owned[0], parentFds));
              LayerApplier::inheritMetadata(owned[0], parentFds, paths);
              return true;
            });
      })
      .ignoreResult();
}

}  // namespace ctrd
