#include "pull.h"

#include <common/clock.h>
#include <common/digest.h>
#include <common/errors.h>
#include <common/labels.h>
#include <common/log.h>
#include <common/semaphore.h>
#include <kj/debug.h>
#include <oci/manifest.h>
#include <oci/platform.h>
#include <oci/reference.h>

#include <thread>
#include <utility>

#include "api.h"
#include "diff-api.h"
#include "images-api.h"
#include "snapshots-api.h"

namespace ctrd {

kj::Promise<void> Inflight::once(kj::String key, kj::Function<kj::Promise<void>()> work) {
  KJ_IF_MAYBE(running, this->running.find(key)) {
    return running->done.addBranch();
  }
  uint64_t id = nextId++;
  auto forked = kj::evalNow(kj::mv(work))
                    .then([this, k = kj::str(key), id]() mutable { settle(kj::mv(k), id); },
                          [this, k = kj::str(key), id](kj::Exception&& e) mutable {
                            settle(kj::mv(k), id);
                            kj::throwFatalException(kj::mv(e));
                          })
                    .fork();
  auto branch = forked.addBranch();
  running.insert(kj::mv(key), Running{id, kj::mv(forked)});
  return branch;
}

void Inflight::settle(kj::String key, uint64_t id) {
  // Later, not from inside the fork's own completion: dropping the fork there would free it
  // while it runs. Only this run's entry goes: the key may be running afresh by then.
  tasks.add(kj::evalLater([this, key = kj::mv(key), id]() {
    KJ_IF_MAYBE(r, running.find(key)) {
      if (r->id == id) running.erase(key);
    }
  }));
}

oci::Platform platformFrom(schema::Platform::Reader p) {
  return oci::normalize(
      {kj::str(p.getOs()), kj::str(p.getArchitecture()), kj::str(p.getVariant())});
}

kj::String chainId(kj::ArrayPtr<const kj::String> diffIds) {
  if (diffIds.size() == 0) return kj::str();
  auto chain = kj::str(diffIds[0]);
  for (auto& d : diffIds.slice(1, diffIds.size())) {
    chain = kj::str(SHA256_PREFIX, sha256Hex(kj::str(chain, " ", d).asBytes()));
  }
  return chain;
}

namespace {

constexpr kj::StringPtr LABEL_UNCOMPRESSED = "containerd.io/uncompressed"_kj;
constexpr kj::StringPtr LABEL_GC_CONTENT = "containerd.io/gc.ref.content."_kj;
constexpr kj::StringPtr LABEL_GC_SNAPSHOT = "containerd.io/gc.ref.snapshot."_kj;
constexpr kj::StringPtr LABEL_SOURCE = "containerd.io/distribution.source."_kj;
constexpr unsigned DEFAULT_DOWNLOADS = 3;
constexpr size_t MAX_INDEX_DEPTH = 4;
// Indexes and manifests one pull may walk: nested indexes that repeat their children would
// otherwise fan out to (children per index)^depth with --all-platforms.
constexpr size_t MAX_DOCUMENTS = 1024;
constexpr auto PROGRESS_EVERY = 100 * kj::MILLISECONDS;

struct Desc {
  kj::String mediaType;
  kj::String digest;
  int64_t size;
  kj::Maybe<oci::Platform> platform;
};

Desc descFrom(schema::Descriptor::Reader d) {
  Desc out{kj::str(d.getMediaType()), kj::str(d.getDigest()), d.getSize(), nullptr};
  if (d.hasPlatform()) out.platform = platformFrom(d.getPlatform());
  return out;
}

class PullJob final : public kj::Refcounted {
public:
  PullJob(Backends& backends, kj::StringPtr ns, PullCallContext& context)
      : backends(backends),
        ns(kj::str(ns)),
        content(backends.service(ServiceKind::CONTENT).client<schema::ContentStore>()),
        downloads(downloadSlots(context)) {
    auto params = context.getParams();
    auto options = params.getOptions();
    reference = oci::parseReference(params.getRef());
    name = reference.toString();
    for (auto p : options.getPlatforms()) wanted.add(oci::normalize(oci::parsePlatform(p)));
    if (wanted.size() == 0) wanted.add(oci::hostPlatform());
    allPlatforms = options.getAllPlatforms();
    unpack = options.getUnpack();
    snapshotter =
        kj::str(options.getSnapshotter().size() > 0 ? options.getSnapshotter() : "overlayfs"_kj);
    if (params.hasProgress()) progress = params.getProgress();
    auto req = content.registryRequest();
    req.setReference(name);
    req.setConfig(options.getResolver());
    registry = req.send().getRegistry();
    snapshots = namespaceSnapshots(this->ns, snapshotter, backends.service(ServiceKind::SNAPSHOT));
    diff = kj::heap<NamespaceDiff>(kj::str(this->ns), backends.metadata,
                                   backends.service(ServiceKind::CONTENT),
                                   backends.service(ServiceKind::SNAPSHOT),
                                   backends.service(ServiceKind::DIFF), backends.deletions);
  }

  kj::Promise<void> run(PullCallContext context) {
    startedAt = nowNanos();
    item(name, schema::ProgressItem::Status::RESOLVING, 0);
    auto reporting = report().eagerlyEvaluate(nullptr);
    return registry.resolveRequest()
        .send()
        .catch_([this](kj::Exception&& e) -> capnp::Response<schema::Registry::ResolveResults> {
          kj::throwFatalException(
              withContext(kj::str("failed to resolve reference \"", name, "\""), e));
        })
        .then([this](auto resolved) {
          name = kj::str(resolved.getName());
          items[0].ref = kj::str(name);
          items[0].status = schema::ProgressItem::Status::RESOLVED;
          root = descFrom(resolved.getDescriptor());
          logInfo("pull ", name, ": resolved to ", root.digest, " (", root.mediaType, ")");
          return handle(copy(root), 0);
        })
        .then([this]() {
          // Everything the platforms need is in: the image exists from here on, as it does in
          // containerd, even if an unpack then fails.
          fetched = true;
          applyLabels();
          recordImage();
          return kj::joinPromises(unpacks.releaseAsArray());
        })
        .then([this]() {
          if (unpack && unpacked.size() == 0) {
            throwError(ErrorKind::NOT_FOUND,
                       kj::str("no manifest in ", name, " for platform ", platformNames()));
          }
        })
        .then([this, reporting = kj::mv(reporting)]() mutable {
          finished = true;
          return kj::mv(reporting);
        })
        .then([this, context]() mutable { fillResults(context); })
        .catch_([this](kj::Exception&& e) -> kj::Promise<void> {
          if (e.getType() != kj::Exception::Type::DISCONNECTED) return kj::mv(e);
          // A service went away (and is being restarted): say so, and that nothing is lost.
          return makeError(
              ErrorKind::UNAVAILABLE,
              kj::str("pull of ", name, " interrupted: a service stopped (", errorMessage(e),
                      "); pull again to resume, what was downloaded is kept"));
        });
  }

private:
  static size_t downloadSlots(PullCallContext& context) {
    auto n = context.getParams().getOptions().getMaxConcurrentDownloads();
    return n > 0 ? n : DEFAULT_DOWNLOADS;
  }

  struct Item {
    kj::String ref;
    schema::ProgressItem::Status status;
    int64_t offset;
    int64_t total;
  };

  struct UnpackResult {
    kj::String platform;
    kj::String manifest;
    kj::String chainId;
    uint32_t applied = 0;
    int64_t startedAt = 0;
    int64_t finishedAt = 0;
  };

  Backends& backends;
  kj::String ns;
  schema::ContentStore::Client content;
  schema::Registry::Client registry = nullptr;
  schema::Snapshots::Client snapshots = nullptr;
  schema::Diff::Client diff = nullptr;
  kj::Maybe<schema::Progress::Client> progress;
  oci::Reference reference;
  kj::String name;
  Desc root;
  kj::Vector<oci::Platform> wanted;
  bool allPlatforms = false;
  bool unpack = false;
  kj::String snapshotter;
  Semaphore downloads;
  Semaphore applies{kj::max(2u, std::thread::hardware_concurrency())};
  kj::Vector<Item> items;
  kj::Vector<kj::Promise<void>> unpacks;
  kj::Vector<kj::Own<UnpackResult>> unpacked;
  kj::HashMap<kj::String, Labels> labels;  // by digest, applied once everything is fetched
  int64_t startedAt = 0;
  size_t documents = 0;  // indexes and manifests walked so far
  bool fetched = false;  // everything is in: labels apply at once from here on
  bool finished = false;

  static Desc copy(const Desc& d) {
    Desc out{kj::str(d.mediaType), kj::str(d.digest), d.size, nullptr};
    KJ_IF_MAYBE(p, d.platform) {
      out.platform = oci::Platform{kj::str(p->os), kj::str(p->architecture), kj::str(p->variant)};
    }
    return out;
  }

  kj::String generations() {
    return kj::str(backends.service(ServiceKind::CONTENT).generation(), ".",
                   backends.service(ServiceKind::SNAPSHOT).generation(), ".",
                   backends.service(ServiceKind::DIFF).generation());
  }

  kj::String platformNames() {
    return kj::strArray(
        KJ_MAP(p, wanted) { return p.toString(); }, ", ");
  }

  size_t item(kj::StringPtr ref, schema::ProgressItem::Status status, int64_t total) {
    for (size_t i = 0; i < items.size(); i++) {
      if (items[i].ref == ref) return i;
    }
    items.add(Item{kj::str(ref), status, 0, total});
    return items.size() - 1;
  }

  void label(kj::StringPtr digest, kj::String key, kj::String value) {
    auto& l = labels.findOrCreate(digest, [&]() {
      return kj::HashMap<kj::String, Labels>::Entry{kj::str(digest), Labels()};
    });
    setLabel(l, kj::mv(key), kj::mv(value));
  }

  kj::Promise<void> fetch(const Desc& d, kj::StringPtr kind) {
    // Into this namespace's content store, unless it holds the blob already.
    auto ref = kj::str(kind, "-", d.digest);
    size_t at = item(ref, schema::ProgressItem::Status::WAITING, d.size);
    label(d.digest, kj::str(LABEL_SOURCE, reference.domain), kj::str(reference.path));
    if (backends.metadata.tryGetContent(ns, d.digest) != nullptr) {
      items[at].status = schema::ProgressItem::Status::EXISTS;
      items[at].offset = d.size;
      return kj::READY_NOW;
    }
    auto work = [this, d = copy(d), ref = kj::str(ref)]() -> kj::Promise<void> {
      // Runs once per namespace and digest, however many pulls want it.
      if (backends.metadata.tryGetContent(ns, d.digest) != nullptr) return kj::READY_NOW;
      auto req = registry.fetchRequest();
      auto out = req.initDescriptor();
      out.setMediaType(d.mediaType);
      out.setDigest(d.digest);
      out.setSize(d.size);
      req.setRef(kj::str(ns, "/", ref));
      int64_t started = nowNanos();
      // The job stays alive while the download runs: another pull may be waiting for it even
      // after this one's client went away.
      auto self = kj::addRef(*this);
      uint64_t since = backends.deletions.issued();
      return req.send()
          .then([this, started, since, digest = kj::str(d.digest)](auto response) mutable {
            logDebug("fetched ", digest, " (", response.getSize(), " bytes) in ",
                     (nowNanos() - started) / 1000000, " ms");
            int64_t size = response.getSize();
            return backends.deletions.record(
                kj::str(digest), since, [this, digest = kj::mv(digest), size]() {
                  if (backends.metadata.tryGetContent(ns, digest) == nullptr) {
                    int64_t now = nowNanos();
                    backends.metadata.putContent(ns, {kj::str(digest), size, {}, now, now});
                  }
                });
          })
          .attach(kj::mv(self));
    };
    // A download runs over content's connection: after content restarts, a new pull starts
    // one of its own rather than join one that is failing.
    auto key = kj::str("fetch/", backends.service(ServiceKind::CONTENT).generation(), "/", ns, "/",
                       d.digest);
    return downloads
        .run([this, at, work = kj::mv(work), key = kj::mv(key)]() mutable {
          items[at].status = schema::ProgressItem::Status::DOWNLOADING;
          return backends.inflight.once(kj::mv(key), kj::mv(work));
        })
        .then([this, at]() {
          items[at].status = schema::ProgressItem::Status::DONE;
          items[at].offset = items[at].total;
        });
  }

  kj::Promise<capnp::Response<schema::ContentStore::ParseResults>> parse(const Desc& d) {
    auto req = content.parseRequest();
    req.setDigest(d.digest);
    req.setMediaType(d.mediaType);
    return req.send();
  }

  kj::Promise<void> handle(Desc d, size_t depth) {
    if (depth > MAX_INDEX_DEPTH) {
      throwError(ErrorKind::INVALID_ARGUMENT,
                 kj::str(d.digest, ": indexes nested more than ", MAX_INDEX_DEPTH, " deep"));
    }
    if (++documents > MAX_DOCUMENTS) {
      throwError(ErrorKind::INVALID_ARGUMENT,
                 kj::str(name, ": more than ", MAX_DOCUMENTS, " manifests and indexes"));
    }
    bool index = oci::kindOf(d.mediaType) == oci::DocumentKind::INDEX;
    auto fetched = fetch(d, index ? "index"_kj : "manifest"_kj);
    return fetched.then([this, d = copy(d)]() { return parse(d); })
        .then([this, d = kj::mv(d), depth, index](auto parsed) mutable -> kj::Promise<void> {
          auto doc = parsed.getDocument();
          if (index) {
            if (!doc.isIndex()) {
              throwError(ErrorKind::INVALID_ARGUMENT, kj::str(d.digest, ": not an index"));
            }
            auto children = select(doc.getIndex().getManifests());
            kj::Vector<kj::Promise<void>> work;
            for (auto& [position, child] : children) {
              label(d.digest, kj::str(LABEL_GC_CONTENT, "m.", position), kj::str(child.digest));
              work.add(handle(kj::mv(child), depth + 1));
            }
            return kj::joinPromises(work.releaseAsArray());
          }
          if (!doc.isManifest()) {
            throwError(ErrorKind::INVALID_ARGUMENT, kj::str(d.digest, ": not a manifest"));
          }
          return handleManifest(kj::mv(d), kj::mv(parsed));
        });
  }

  kj::Vector<std::pair<size_t, Desc>> select(capnp::List<schema::Descriptor>::Reader manifests) {
    // Every manifest with --all-platforms; otherwise the best match for each wanted platform.
    kj::Vector<std::pair<size_t, Desc>> out;
    if (allPlatforms) {
      for (size_t i = 0; i < manifests.size(); i++) out.add(i, descFrom(manifests[i]));
      return out;
    }
    for (auto& want : wanted) {
      int best = -1;
      size_t bestAt = 0;
      for (size_t i = 0; i < manifests.size(); i++) {
        auto d = manifests[i];
        int score = d.hasPlatform() ? oci::preference(want, platformFrom(d.getPlatform())) : 0;
        if (score > best) {
          best = score;
          bestAt = i;
        }
      }
      if (best < 0) continue;
      bool have = false;
      for (auto& [at, _] : out) have = have || at == bestAt;
      if (!have) out.add(bestAt, descFrom(manifests[bestAt]));
    }
    if (out.size() == 0) {
      throwError(ErrorKind::NOT_FOUND,
                 kj::str("no match for platform ", platformNames(), " in manifest ", root.digest));
    }
    return out;
  }

  kj::Promise<void> handleManifest(Desc d,
                                   capnp::Response<schema::ContentStore::ParseResults> parsed) {
    auto manifest = parsed.getDocument().getManifest();
    auto config = descFrom(manifest.getConfig());
    kj::Vector<Desc> layers;
    for (auto l : manifest.getLayers()) layers.add(descFrom(l));
    label(d.digest, kj::str(LABEL_GC_CONTENT, "config"), kj::str(config.digest));
    for (size_t i = 0; i < layers.size(); i++) {
      label(d.digest, kj::str(LABEL_GC_CONTENT, "l.", i), kj::str(layers[i].digest));
    }
    // Layers start downloading now; the config decides whether and how they unpack.
    kj::Vector<kj::ForkedPromise<void>> fetches;
    for (auto& l : layers) fetches.add(fetch(l, "layer").fork());
    kj::Vector<kj::Promise<void>> done;
    for (auto& f : fetches) done.add(f.addBranch());
    auto configDone =
        fetch(config, "config")
            .then([this, config = copy(config)]() { return parse(config); })
            .then([this, d = kj::mv(d), layers = kj::mv(layers),
                   fetches = kj::mv(fetches)](auto parsed) mutable {
              auto doc = parsed.getDocument();
              if (!doc.isConfig()) {
                throwError(ErrorKind::INVALID_ARGUMENT,
                           kj::str(d.digest, ": config is not a config"));
              }
              auto config = doc.getConfig();
              auto platform = platformFrom(config.getPlatform());
              KJ_IF_MAYBE(p, d.platform) {
                platform = kj::mv(*p);  // the index's word over the config's
              }
              kj::Vector<kj::String> diffIds;
              for (auto id : config.getDiffIds()) diffIds.add(kj::str(id));
              if (diffIds.size() != layers.size()) {
                throwError(ErrorKind::INVALID_ARGUMENT,
                           kj::str(d.digest, ": ", layers.size(), " layers but the config lists ",
                                   diffIds.size(), " diff IDs"));
              }
              for (size_t i = 0; i < layers.size(); i++) {
                validateDigest(diffIds[i]);
                label(layers[i].digest, kj::str(LABEL_UNCOMPRESSED), kj::str(diffIds[i]));
              }
              if (unpack && wantsUnpack(platform)) {
                unpacks.add(unpackLayers(kj::mv(d), kj::mv(platform), kj::mv(layers),
                                         kj::mv(diffIds), kj::mv(fetches))
                                .eagerlyEvaluate(nullptr));
              }
            });
    done.add(kj::mv(configDone));
    return kj::joinPromises(done.releaseAsArray());
  }

  bool wantsUnpack(const oci::Platform& platform) {
    // With --all-platforms every manifest is fetched, but only this host's (or the ones
    // asked for) unpack.
    for (auto& w : wanted) {
      if (oci::matches(w, platform)) return true;
    }
    return false;
  }

  kj::Promise<void> unpackLayers(Desc manifest, oci::Platform platform, kj::Vector<Desc> layers,
                                 kj::Vector<kj::String> diffIds,
                                 kj::Vector<kj::ForkedPromise<void>> fetches) {
    // overlayfs: each layer applies into a directory of its own as soon as its blob is in (as
    // many at once as there are cores), then the layers are stacked and committed in order,
    // each rebased onto the one below. Other snapshotters copy their parent, so there layer N
    // applies once it is in and layer N-1 is committed.
    auto result = kj::heap<UnpackResult>();
    result->platform = platform.toString();
    result->manifest = kj::str(manifest.digest);
    result->chainId = chainId(diffIds);
    auto& r = *result;
    unpacked.add(kj::mv(result));
    bool parallel = snapshotter == "overlayfs";
    kj::ForkedPromise<void> below = kj::Promise<void>(kj::READY_NOW).fork();
    for (size_t i = 0; i < layers.size(); i++) {
      auto step = kj::heap<LayerStep>();
      step->layer = copy(layers[i]);
      step->diffId = kj::str(diffIds[i]);
      step->parent = chainId(diffIds.slice(0, i));
      step->id = chainId(diffIds.slice(0, i + 1));
      // An unpack runs over the content, snapshot and diff connections of when it started.
      auto key = kj::str("unpack/", generations(), "/", ns, "/", snapshotter, "/", step->id);
      auto fetched = fetches[i].addBranch();
      auto committedBelow = below.addBranch();
      auto done = backends.inflight.once(
          kj::mv(key), [this, &r, parallel, step = kj::mv(step), fetched = kj::mv(fetched),
                        committedBelow = kj::mv(committedBelow)]() mutable {
            return unpackLayer(r, parallel, kj::mv(step), kj::mv(fetched), kj::mv(committedBelow))
                .attach(kj::addRef(*this));
          });
      below = done.fork();
    }
    return below.addBranch().attach(kj::mv(fetches)).then([this, &r]() {
      r.finishedAt = nowNanos();
      configSnapshotLabel(r);
    });
  }

  struct LayerStep {
    Desc layer;
    kj::String diffId;
    kj::String parent;  // chain ID below, empty for the first layer
    kj::String id;      // this layer's chain ID
    kj::String key;     // the active snapshot it applies into
    kj::Vector<kj::String> implicitDirs;
  };

  kj::Promise<void> unpackLayer(UnpackResult& r, bool parallel, kj::Own<LayerStep> step,
                                kj::Promise<void> fetched, kj::Promise<void> committedBelow) {
    auto& s = *step;
    kj::Promise<void> ready = kj::READY_NOW;
    if (parallel) {
      ready = kj::mv(fetched);
    } else {
      auto both = kj::heapArrayBuilder<kj::Promise<void>>(2);
      both.add(kj::mv(fetched));
      both.add(kj::mv(committedBelow));
      committedBelow = kj::READY_NOW;
      ready = kj::joinPromises(both.finish());
    }
    return ready
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
        .then([this, &r, &s, parallel,
               committedBelow = kj::mv(committedBelow)](bool exists) mutable -> kj::Promise<void> {
          if (exists) return kj::READY_NOW;  // unpacked already: it and all below are there
          if (r.startedAt == 0) r.startedAt = nowNanos();
          s.key = kj::str("extract-", nowNanos(), "-", s.id);
          auto applied = applies.run(
              [this, &s, parallel]() { return applyInto(s, parallel ? ""_kj : s.parent.asPtr()); });
          return applied
              .then([committedBelow = kj::mv(committedBelow)]() mutable {
                return kj::mv(committedBelow);
              })
              .then([this, &r, &s, parallel]() { return stack(r, s, parallel); })
              .catch_([this, &s](kj::Exception&& e) {
                // Never leave a half-applied snapshot behind, even when the snapshot service
                // is what failed: then it is removed once the service is back.
                return removeLeftover(kj::str(s.key), 0)
                    .then([e = kj::mv(e)]() mutable -> kj::Promise<void> { return kj::mv(e); });
              });
        })
        .attach(kj::mv(step));
  }

  kj::Promise<void> removeLeftover(kj::String key, uint32_t attempt) {
    // Through a client made now (the job's own may reach a process that died), retried while
    // the service restarts: about 6 s in all.
    constexpr uint32_t ATTEMPTS = 12;
    return kj::evalNow([&]() {
             auto rm = namespaceSnapshots(ns, snapshotter, backends.service(ServiceKind::SNAPSHOT))
                           .removeRequest();
             rm.setKey(key);
             return rm.send().ignoreResult();
           })
        .catch_([this, key = kj::str(key),
                 attempt](kj::Exception&& e) mutable -> kj::Promise<void> {
          if (errorKind(e) == ErrorKind::NOT_FOUND) return kj::READY_NOW;
          bool transient = e.getType() == kj::Exception::Type::DISCONNECTED ||
                           errorKind(e) == ErrorKind::UNAVAILABLE;
          if (!transient || attempt + 1 >= ATTEMPTS) {
            logWarn("pull ", name, ": could not remove snapshot \"", key, "\": ", errorMessage(e));
            return kj::READY_NOW;
          }
          return backends.timer.afterDelay(500 * kj::MILLISECONDS)
              .then([this, key = kj::mv(key), attempt]() mutable {
                return removeLeftover(kj::mv(key), attempt + 1);
              });
        });
  }

  kj::Promise<void> applyInto(LayerStep& s, kj::StringPtr parent) {
    auto prepare = snapshots.prepareRequest();
    prepare.setKey(s.key);
    prepare.setParent(parent);
    return prepare.send().then([this, &s](auto) {
      auto apply = diff.applyRequest();
      auto out = apply.initLayer();
      out.setMediaType(s.layer.mediaType);
      out.setDigest(s.layer.digest);
      out.setSize(s.layer.size);
      apply.setSnapshotter(snapshotter);
      apply.setKey(s.key);
      int64_t started = nowNanos();
      return apply.send().then([&s, started](auto applied) {
        logDebug("applied layer ", s.layer.digest, " in ", (nowNanos() - started) / 1000000, " ms");
        auto digest = applied.getApplied().getDigest();
        if (digest != s.diffId) {
          throwError(ErrorKind::FAILED_PRECONDITION,
                     kj::str("layer ", s.layer.digest, " unpacked to diff ID ", digest,
                             ", but the config lists ", s.diffId));
        }
        for (auto d : applied.getImplicitDirs()) s.implicitDirs.add(kj::str(d));
      });
    });
  }

  kj::Promise<void> stack(UnpackResult& r, LayerStep& s, bool parallel) {
    // The layer below is committed: put this one on it and commit it under its chain ID.
    kj::Promise<void> placed = kj::READY_NOW;
    if (parallel && s.parent.size() > 0) {
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

  void configSnapshotLabel(UnpackResult& r) {
    // The config holds the unpacked snapshot for garbage collection, as containerd's does.
    // Found again through the manifest's label.
    KJ_IF_MAYBE(l, labels.find(r.manifest)) {
      KJ_IF_MAYBE(config, l->find(kj::str(LABEL_GC_CONTENT, "config"))) {
        auto key = kj::str(LABEL_GC_SNAPSHOT, snapshotter);
        auto configDigest = kj::str(*config);
        label(configDigest, kj::mv(key), kj::str(r.chainId));
        // Labels were applied already if the fetches finished first.
        applyLabelsOf(configDigest);
      }
    }
  }

  void applyLabelsOf(kj::StringPtr digest) {
    if (!fetched) return;
    KJ_IF_MAYBE(wantLabels, labels.find(digest)) {
      KJ_IF_MAYBE(record, backends.metadata.tryGetContent(ns, digest)) {
        bool changed = false;
        for (auto& e : *wantLabels) {
          KJ_IF_MAYBE(v, record->labels.find(e.key)) {
            if (*v == e.value) continue;
          }
          setLabel(record->labels, kj::str(e.key), kj::str(e.value));
          changed = true;
        }
        if (changed) {
          record->updatedAt = nowNanos();
          backends.metadata.putContent(ns, *record);
        }
      }
    }
  }

  void applyLabels() {
    for (auto& entry : labels) applyLabelsOf(entry.key);
  }

  void recordImage() {
    int64_t now = nowNanos();
    ImageRecord record{
        kj::str(name), kj::str(root.mediaType), kj::str(root.digest), root.size, {}, now, now};
    KJ_IF_MAYBE(existing, backends.metadata.tryGetImage(ns, name)) {
      record.labels = kj::mv(existing->labels);
      record.createdAt = existing->createdAt;
    }
    backends.metadata.putImage(ns, record);
  }

  kj::Promise<void> report() {
    // The progress table goes to the caller every 100 ms (and once at the end), offsets read
    // from the ingests in flight.
    if (finished) return send();
    return backends.timer.afterDelay(PROGRESS_EVERY)
        .then([this]() -> kj::Promise<void> {
          bool downloading = false;
          for (auto& i : items)
            downloading = downloading || i.status == schema::ProgressItem::Status::DOWNLOADING;
          if (!downloading) return kj::READY_NOW;
          auto req = content.listStatusesRequest();
          req.setPrefix(kj::str(ns, "/"));
          return req.send().then([this](auto response) {
            for (auto s : response.getStatuses()) {
              auto ref = s.getRef().slice(ns.size() + 1);
              for (auto& i : items) {
                if (i.ref == ref && i.status == schema::ProgressItem::Status::DOWNLOADING) {
                  i.offset = s.getOffset();
                }
              }
            }
          });
        })
        .then([this]() { return send(); })
        .then([this]() { return report(); });
  }

  kj::Promise<void> send() {
    KJ_IF_MAYBE(p, progress) {
      auto req = p->updateRequest();
      auto list = req.initItems(items.size());
      for (size_t i = 0; i < items.size(); i++) {
        list[i].setRef(items[i].ref);
        list[i].setStatus(items[i].status);
        list[i].setOffset(items[i].offset);
        list[i].setTotal(items[i].total);
      }
      // A client that stopped listening does not stop the pull.
      return req.send().ignoreResult().catch_([this](kj::Exception&&) { progress = nullptr; });
    }
    return kj::READY_NOW;
  }

  void fillResults(PullCallContext& context) {
    auto results = context.getResults();
    KJ_IF_MAYBE(record, backends.metadata.tryGetImage(ns, name)) {
      fillImage(results.initImage(), *record);
    }
    auto list = results.initUnpacked(unpacked.size());
    for (size_t i = 0; i < unpacked.size(); i++) {
      auto& u = *unpacked[i];
      list[i].setPlatform(u.platform);
      list[i].setManifest(u.manifest);
      list[i].setChainId(u.chainId);
      list[i].setApplied(u.applied);
      list[i].setNanoseconds(u.finishedAt - (u.startedAt > 0 ? u.startedAt : u.finishedAt));
    }
    logInfo("pull ", name, ": done in ", (nowNanos() - startedAt) / 1000000, " ms");
  }
};

}  // namespace

kj::Promise<void> pullImage(Backends& backends, kj::StringPtr ns, PullCallContext context) {
  auto job = kj::refcounted<PullJob>(backends, ns, context);
  auto& ref = *job;
  return ref.run(context).attach(kj::mv(job));
}

}  // namespace ctrd
