#include "pull.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/labels.h>
#include <common/log.h>
#include <common/semaphore.h>
#include <common/snapshot-info.h>
#include <kj/debug.h>
#include <oci/image.h>
#include <oci/reference.h>

#include "api.h"
#include "image-recorder.h"
#include "images-api.h"
#include "leases-api.h"
#include "progress-table.h"

namespace ctrd {
namespace {

constexpr unsigned DEFAULT_DOWNLOADS = 3;

using Status = schema::ProgressItem::Status;

class PullJob;

class ItemProgress final : public schema::FetchProgress::Server {
  // Where the content service reports one download's offset.
public:
  ItemProgress(kj::Own<PullJob> job, size_t at) : job(kj::mv(job)), at(at) {}
  kj::Promise<void> update(UpdateContext context) override;

private:
  kj::Own<PullJob> job;
  size_t at;
};

class PullJob final : public kj::Refcounted, public ImageRecorder {
public:
  PullJob(Backends& backends, kj::StringPtr ns, PullCallContext& context)
      : ImageRecorder(backends, ns,
                      platformChoice(context.getParams().getOptions().getPlatforms(),
                                     context.getParams().getOptions().getAllPlatforms()),
                      context.getParams().getOptions().getUnpack(),
                      context.getParams().getOptions().getSnapshotter()),
        content(backends.service(ServiceKind::CONTENT).client<schema::ContentStore>()),
        distribution(content.distributionRequest().send().getDistribution()),
        downloads(downloadSlots(context)),
        items(backends.timer) {
    auto params = context.getParams();
    auto options = params.getOptions();
    reference = oci::parseReference(params.getRef());
    name = reference.toString();
    if (params.hasProgress()) items.listen(params.getProgress());
    auto req = distribution.registryRequest();
    req.setReference(name);
    req.setConfig(options.getResolver());
    registry = req.send().getRegistry();
  }

  void useLease(kj::StringPtr id) {
    lease = kj::str(id);
    ownLease = false;
  }

  void downloaded(size_t at, int64_t offset) {
    if (items[at].status == Status::DOWNLOADING) items[at].offset = offset;
  }

  kj::Promise<void> run(PullCallContext context) {
    startedAt = nowNanos();
    takeLease();
    items.row(name, Status::RESOLVING, 0);
    items.start();
    // The snapshotter's traits are asked while the reference resolves.
    auto resolving = registry.resolveRequest().send().catch_(
        [this](kj::Exception&& e) -> capnp::Response<schema::Registry::ResolveResults> {
          kj::throwFatalException(
              withContext(kj::str("failed to resolve reference \"", name, "\""), e));
        });
    return prepareUnpacker(lease)
        .then([resolving = kj::mv(resolving)]() mutable { return kj::mv(resolving); })
        .then([this](auto resolved) {
          name = kj::str(resolved.getName());
          items[0].ref = kj::str(name);
          items[0].status = Status::RESOLVED;
          root = Descriptor::from(resolved.getDescriptor());
          logInfo("pull ", name, ": resolved to ", root.digest, " (", root.mediaType, ")");
          auto walk = kj::refcounted<ImageWalk>(distribution, choice, *this);
          auto& w = *walk;
          return w.walk(root.clone()).attach(kj::mv(walk));
        })
        .then([this]() {
          // Everything the platforms need is in: the image exists from here on, as it does in
          // containerd, even if an unpack then fails.
          applyLabels();
          recordImage();
          return unpacked(name);
        })
        .then([this]() { return items.finish(); })
        .then([this, context]() mutable {
          fillResults(context);
          // The image holds what it needs from here on.
          releaseLease();
        })
        .catch_([this](kj::Exception&& e) -> kj::Promise<void> {
          if (e.getType() != kj::Exception::Type::DISCONNECTED) {
            releaseLease();
            return kj::mv(e);
          }
          // A service went away (and is being restarted): say so, and that nothing is lost. The
          // lease keeps what came in until the next pull takes it over, or until it expires.
          return makeError(
              ErrorKind::UNAVAILABLE,
              kj::str("pull of ", name, " interrupted: a service stopped (", errorMessage(e),
                      "); pull again to resume, what was downloaded is kept"));
        });
  }

  // ImageVisitor: each node is fetched before it is read.
  kj::Promise<bool> reach(const Descriptor& d, NodeRole role) override {
    return fetch(d, roleName(role)).then([]() { return true; });
  }

private:
  static size_t downloadSlots(PullCallContext& context) {
    auto n = context.getParams().getOptions().getMaxConcurrentDownloads();
    return n > 0 ? n : DEFAULT_DOWNLOADS;
  }

  schema::ContentStore::Client content;
  schema::Distribution::Client distribution;
  schema::Registry::Client registry = nullptr;
  oci::Reference reference;
  kj::String name;
  Descriptor root;
  Semaphore downloads;
  ProgressTable items;
  int64_t startedAt = 0;
  kj::Maybe<kj::String> lease;
  bool ownLease = true;

  void takeLease() {
    // Everything this pull fetches or unpacks is held in it until the image holds it.
    if (lease != nullptr) return;  // the caller's
    Labels labels;
    setLabel(labels, kj::str("containerd.io/pull"), kj::str(name));
    lease = takeJobLease(backends, ns, "pull", kj::mv(labels));
  }

  void releaseLease() {
    if (ownLease) dropJobLease(backends, ns, lease);
  }

  void hold(kj::StringPtr digest) {
    backends.metadata.leases.hold(ns, lease, LeaseResource{kj::str("content"), kj::str(digest)});
  }

  kj::Promise<void> fetch(const Descriptor& d, kj::StringPtr kind) {
    // Into this namespace's content store, unless it holds the blob already.
    size_t at = items.row(kj::str(kind, "-", d.digest), Status::WAITING, d.size);
    label(d.digest, kj::str(oci::labels::DISTRIBUTION_SOURCE, reference.domain),
          kj::str(reference.path));
    if (backends.metadata.content.get(ns, d.digest) != nullptr) {
      hold(d.digest);  // in the same turn as the look: no collection comes between
      items[at].status = Status::EXISTS;
      items[at].offset = d.size;
      return kj::READY_NOW;
    }
    auto work = [this, d = d.clone(), at]() { return download(d, at, true); };
    // A download runs over content's connection: after content restarts, a new pull starts
    // one of its own rather than join one that is failing.
    auto key = kj::str("fetch/", backends.service(ServiceKind::CONTENT).generation(), "/", ns, "/",
                       d.digest);
    return downloads
        .run([this, at, work = kj::mv(work), key = kj::mv(key)]() mutable {
          items[at].status = Status::DOWNLOADING;
          return backends.inflight.once(kj::mv(key), kj::mv(work));
        })
        .then([this, at, digest = kj::str(d.digest)]() {
          // Another pull's download may be what came in: this one holds it too.
          hold(digest);
          items[at].status = Status::DONE;
          items[at].offset = items[at].total;
        });
  }

  kj::Promise<void> download(const Descriptor& d, size_t at, bool again) {
    // Runs once per namespace and digest, however many pulls want it.
    if (backends.metadata.content.get(ns, d.digest) != nullptr) return kj::READY_NOW;
    auto req = registry.fetchRequest();
    d.fill(req.initDescriptor());
    req.setOwner(ns);
    req.setProgress(kj::heap<ItemProgress>(kj::addRef(*this), at));
    int64_t started = nowNanos();
    // The job stays alive while the download runs: another pull may be waiting for it even
    // after this one's client went away.
    auto self = kj::addRef(*this);
    uint64_t since = backends.deletions.issued();
    return req.send()
        .then([this, started, since, digest = kj::str(d.digest)](auto response) mutable {
          logDebug("fetched ", digest, " (", response.getSize(), " bytes) in ",
                   (nowNanos() - started) / 1000000, " ms");
          return recordBlob(digest, response.getSize(), since, lease);
        })
        .catch_([this, d = d.clone(), at, again](kj::Exception&& e) -> kj::Promise<void> {
          // Garbage collection took the bytes another namespace had just let go of, while
          // they were found already stored: fetched again, once.
          if (!again || errorKind(e) != ErrorKind::UNAVAILABLE ||
              e.getType() == kj::Exception::Type::DISCONNECTED) {
            return kj::mv(e);
          }
          return download(d, at, false);
        })
        .attach(kj::mv(self));
  }

  void recordImage() {
    backends.metadata.images.record(ns, name, root.mediaType, root.digest, root.size);
  }

  void fillResults(PullCallContext& context) {
    auto results = context.getResults();
    KJ_IF_MAYBE(record, backends.metadata.images.get(ns, name)) {
      fillImage(results.initImage(), *record);
    }
    auto done = unpackResults();
    fillUnpacked(results.initUnpacked(done.size()), done);
    logInfo("pull ", name, ": done in ", (nowNanos() - startedAt) / 1000000, " ms");
  }
};

kj::Promise<void> ItemProgress::update(UpdateContext context) {
  job->downloaded(at, context.getParams().getOffset());
  return kj::READY_NOW;
}

}  // namespace

kj::Promise<void> pullImage(Backends& backends, kj::StringPtr ns,
                            const kj::Maybe<kj::String>& lease, PullCallContext context) {
  auto job = kj::refcounted<PullJob>(backends, ns, context);
  KJ_IF_MAYBE(id, lease) {
    job->useLease(*id);
  }
  auto& ref = *job;
  return ref.run(context).attach(kj::mv(job));
}

}  // namespace ctrd
