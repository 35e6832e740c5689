#include "unpacker.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/log.h>
#include <oci/image.h>

#include <thread>

#include "api.h"
#include "diff-api.h"
#include "snapshots-api.h"

namespace ctrd {

struct Unpacker::LayerStep {
  Descriptor layer;
  kj::String diffId;
  kj::String parent;  // chain ID below, empty for the first layer
  kj::String id;      // this layer's chain ID
  kj::String key;     // the active snapshot it applies into
  kj::Vector<kj::String> implicitDirs;
};

Unpacker::Unpacker(Backends& backends, kj::StringPtr ns, kj::StringPtr snapshotter, bool layered,
                   kj::Maybe<kj::String> lease)
    : backends(backends),
      ns(kj::str(ns)),
      snapshotter(kj::str(snapshotter)),
      layered(layered),
      lease(kj::mv(lease)),
      snapshots(namespaceSnapshots(backends, ns, snapshotter, this->lease)),
      diff(kj::heap<NamespaceDiff>(
          kj::str(ns), backends, this->lease.map([](const kj::String& l) { return kj::str(l); }))),
      applies(kj::max(2u, std::thread::hardware_concurrency())) {}

kj::String Unpacker::generations() {
  // An unpack runs over the content, snapshot and diff connections of when it started: after a
  // restart, a new pull starts one of its own rather than join one that is failing.
  return kj::str(backends.service(ServiceKind::CONTENT).generation(), ".",
                 backends.service(ServiceKind::SNAPSHOT).generation(), ".",
                 backends.service(ServiceKind::DIFF).generation());
}

kj::Promise<void> Unpacker::unpack(const ImageNode& image, kj::Array<kj::Promise<void>> layersIn) {
  auto result = kj::heap<UnpackResult>();
  result->platform = image.platform.toString();
  result->manifest = kj::str(image.manifest.digest);
  result->chainId = kj::str(image.chainId);
  auto& r = *result;
  results_.add(kj::mv(result));
  kj::ForkedPromise<void> below = kj::Promise<void>(kj::READY_NOW).fork();
  for (size_t i = 0; i < image.layers.size(); i++) {
    auto step = kj::heap<LayerStep>();
    step->layer = image.layers[i].clone();
    step->diffId = kj::str(image.diffIds[i]);
    step->parent = oci::chainId(image.diffIds.slice(0, i));
    step->id = oci::chainId(image.diffIds.slice(0, i + 1));
    auto key = kj::str("unpack/", generations(), "/", ns, "/", snapshotter, "/", step->id);
    auto committedBelow = below.addBranch();
    auto done = backends.inflight.once(kj::mv(key), [this, &r, step = kj::mv(step),
                                                     in = kj::mv(layersIn[i]),
                                                     committedBelow =
                                                         kj::mv(committedBelow)]() mutable {
      // The unpacker stays alive while the layer applies: another pull may wait for it.
      return layer(r, kj::mv(step), kj::mv(in), kj::mv(committedBelow)).attach(kj::addRef(*this));
    });
    below = done.fork();
  }
  return below.addBranch().then([&r]() { r.finishedAt = nowNanos(); });
}

kj::Promise<void> Unpacker::layer(UnpackResult& r, kj::Own<LayerStep> step, kj::Promise<void> in,
                                  kj::Promise<void> committedBelow) {
  auto& s = *step;
  // A layered snapshotter's layer is looked for and its snapshot prepared while its blob
  // downloads; a copying one's waits for the layer below too, as its parent.
  kj::Promise<void> ready = kj::READY_NOW;
  kj::Promise<void> blobIn = kj::READY_NOW;
  if (layered) {
    blobIn = kj::mv(in);
  } else {
    auto both = kj::heapArrayBuilder<kj::Promise<void>>(2);
    both.add(kj::mv(in));
    both.add(kj::mv(committedBelow));
    committedBelow = kj::READY_NOW;
    ready = kj::joinPromises(both.finish());
  }
  return ready
      .then([this, &s]() {
        // Held before it is looked at, and looked at only once no garbage collection is
        // removing it: what the stat finds stays.
        backends.metadata.leases.hold(
            ns, lease, LeaseResource{kj::str("snapshots/", snapshotter), kj::str(s.id)});
        return backends.gc.settled(snapshotter, kj::str(ns, "/", s.id));
      })
      .then([this, &s]() {
        auto stat = snapshots.statRequest();
        stat.setKey(s.id);
        return stat.send().then([](auto) { return true; },
                                [](kj::Exception&& e) {
                                  if (errorKind(e) != ErrorKind::NOT_FOUND) {
                                    kj::throwFatalException(kj::mv(e));
                                  }
                                  return false;
                                });
      })
      .then([this, &r, &s, committedBelow = kj::mv(committedBelow),
             blobIn = kj::mv(blobIn)](bool exists) mutable -> kj::Promise<void> {
        // Unpacked already: it and all below are there.
        if (exists) return kj::mv(blobIn);
        if (r.startedAt == 0) r.startedAt = nowNanos();
        s.key = kj::str("extract-", nowNanos(), "-", s.id);
        auto applied =
            prepare(s, layered ? ""_kj : s.parent.asPtr())
                .then([blobIn = kj::mv(blobIn)]() mutable { return kj::mv(blobIn); })
                .then([this, &s]() { return applies.run([this, &s]() { return apply(s); }); });
        return applied
            .then([committedBelow = kj::mv(committedBelow)]() mutable {
              return kj::mv(committedBelow);
            })
            .then([this, &r, &s]() { return stack(r, s); })
            .catch_([this, &s](kj::Exception&& e) {
              // Never leave a half-applied snapshot behind, even when the snapshot service is
              // what failed: then it is removed once the service is back.
              return removeLeftover(kj::str(s.key), 0)
                  .then([e = kj::mv(e)]() mutable -> kj::Promise<void> { return kj::mv(e); });
            });
      })
      .attach(kj::mv(step));
}

kj::Promise<void> Unpacker::removeLeftover(kj::String key, uint32_t attempt) {
  // Through a client made now (ours may reach a process that died), retried while the service
  // restarts: about 6 s in all.
  constexpr uint32_t ATTEMPTS = 12;
  return kj::evalNow([&]() {
           auto rm = namespaceSnapshots(backends, ns, snapshotter).removeRequest();
           rm.setKey(key);
           return rm.send().ignoreResult();
         })
      .catch_([this, key = kj::str(key), attempt](kj::Exception&& e) mutable -> kj::Promise<void> {
        if (errorKind(e) == ErrorKind::NOT_FOUND) return kj::READY_NOW;
        bool transient = e.getType() == kj::Exception::Type::DISCONNECTED ||
                         errorKind(e) == ErrorKind::UNAVAILABLE;
        if (!transient || attempt + 1 >= ATTEMPTS) {
          logWarn("unpack in ", ns, ": could not remove snapshot \"", key, "\": ", errorMessage(e));
          return kj::READY_NOW;
        }
        return backends.timer.afterDelay(500 * kj::MILLISECONDS)
            .then([this, key = kj::mv(key), attempt]() mutable {
              return removeLeftover(kj::mv(key), attempt + 1);
            });
      });
}

kj::Promise<void> Unpacker::prepare(LayerStep& s, kj::StringPtr parent) {
  auto req = snapshots.prepareRequest();
  req.setKey(s.key);
  req.setParent(parent);
  return req.send().ignoreResult();
}

kj::Promise<void> Unpacker::apply(LayerStep& s) {
  auto req = diff.applyRequest();
  s.layer.fill(req.initLayer());
  req.setSnapshotter(snapshotter);
  req.setKey(s.key);
  int64_t started = nowNanos();
  return req.send().then([&s, started](auto applied) {
    logDebug("applied layer ", s.layer.digest, " in ", (nowNanos() - started) / 1000000, " ms");
    auto digest = applied.getApplied().getDigest();
    if (digest != s.diffId) {
      throwError(ErrorKind::FAILED_PRECONDITION,
                 kj::str("layer ", s.layer.digest, " unpacked to diff ID ", digest,
                         ", but the config lists ", s.diffId));
    }
    for (auto d : applied.getImplicitDirs()) s.implicitDirs.add(kj::str(d));
  });
}

kj::Promise<void> Unpacker::stack(UnpackResult& r, LayerStep& s) {
  // The layer below is committed: put this one on it and commit it under its chain ID.
  kj::Promise<void> placed = kj::READY_NOW;
  if (layered && s.parent.size() > 0) {
    auto rebase = snapshots.rebaseRequest();
    rebase.setKey(s.key);
    rebase.setParent(s.parent);
    placed = rebase.send().then([this, &s](auto) -> kj::Promise<void> {
      if (s.implicitDirs.size() == 0) return kj::READY_NOW;
      auto inherit = diff.inheritRequest();
      inherit.setSnapshotter(snapshotter);
      inherit.setKey(s.key);
      auto paths = inherit.initPaths(s.implicitDirs.size());
      for (size_t i = 0; i < paths.size(); i++) paths.set(i, s.implicitDirs[i]);
      return inherit.send().ignoreResult();
    });
  }
  return placed.then([this, &r, &s]() {
    auto commit = snapshots.commitRequest();
    commit.setName(s.id);
    commit.setKey(s.key);
    return commit.send().then([&r](auto) { r.applied++; });
  });
}

}  // namespace ctrd
