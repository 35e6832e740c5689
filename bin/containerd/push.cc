#include "push.h"

#include <common/digest.h>
#include <common/errors.h>
#include <common/log.h>
#include <common/semaphore.h>
#include <kj/debug.h>
#include <oci/image.h>
#include <oci/media-types.h>
#include <oci/reference.h>

#include "api.h"
#include "image-recorder.h"
#include "progress-table.h"

namespace ctrd {
namespace {

constexpr unsigned DEFAULT_UPLOADS = 3;

using Status = schema::ProgressItem::Status;
using Outcome = schema::Registry::PushOutcome;

bool namesTagOrDigest(kj::StringPtr remote) {
  // "host/repo" has neither; "host:5000/repo" has a port, not a tag.
  size_t last = 0;
  KJ_IF_MAYBE(slash, remote.findLast('/')) {
    last = *slash + 1;
  }
  auto name = remote.slice(last);
  return name.findFirst(':') != nullptr || name.findFirst('@') != nullptr;
}

kj::String sourceRepository(const Labels& labels, kj::StringPtr domain) {
  // Where a blob came from on this registry (containerd.io/distribution.source.<host>): a
  // mount from there spares its upload.
  KJ_IF_MAYBE(path, labels.find(kj::str(oci::labels::DISTRIBUTION_SOURCE, domain))) {
    // containerd lists several, comma separated: the first will do.
    KJ_IF_MAYBE(comma, path->findFirst(',')) {
      return kj::str(path->slice(0, *comma));
    }
    return kj::str(*path);
  }
  return kj::str("");
}

schema::Registry::Client openRegistry(Backends& backends, kj::StringPtr remote,
                                      schema::PushOptions::Reader options) {
  auto content = backends.service(ServiceKind::CONTENT).client<schema::ContentStore>();
  auto req = content.distributionRequest().send().getDistribution().registryRequest();
  req.setReference(remote);
  req.setConfig(options.getResolver());
  return req.send().getRegistry();
}

struct Node {
  Descriptor descriptor;
  NodeRole role;
  size_t item;           // its row in the progress table
  kj::String mountFrom;  // the repository of this registry it came from, or empty
};

class PushJob;

class SentProgress final : public schema::FetchProgress::Server {
public:
  SentProgress(kj::Own<PushJob> job, size_t item) : job(kj::mv(job)), item(item) {}
  kj::Promise<void> update(UpdateContext context) override;

private:
  kj::Own<PushJob> job;
  size_t item;
};

class PushJob final : public kj::Refcounted, public ImageVisitor {
public:
  PushJob(Backends& backends, kj::StringPtr ns, PushCallContext& context)
      : backends(backends),
        ns(kj::str(ns)),
        content(backends.service(ServiceKind::CONTENT).client<schema::ContentStore>()),
        distribution(content.distributionRequest().send().getDistribution()),
        choice(platformChoice(context.getParams().getOptions().getPlatforms(), wantsAll(context))),
        uploads(slots(context)),
        items(backends.timer) {
    auto params = context.getParams();
    remote = kj::str(params.getRemote());
    local = kj::str(params.getLocal().size() > 0 ? params.getLocal() : params.getRemote());
    reference = oci::parseReference(remote);
    byDigest = !namesTagOrDigest(remote);
    onePlatform = !wantsAll(context);
    registry = openRegistry(backends, reference.toString(), params.getOptions());
    if (params.hasProgress()) items.listen(params.getProgress());
  }

  kj::Promise<void> run(PushCallContext context) {
    KJ_IF_MAYBE(record, backends.metadata.images.get(ns, local)) {
      root = Descriptor{kj::str(record->mediaType), kj::str(record->digest), record->size, nullptr};
    } else {
      throwError(ErrorKind::NOT_FOUND, kj::str("image \"", local, "\": not found"));
    }
    items.start();
    auto walk = kj::refcounted<ImageWalk>(distribution, choice, *this);
    auto& w = *walk;
    return w.walk(root.clone())
        .attach(kj::mv(walk))
        .then([this]() { return pushAll(); })
        .then([this]() { return items.finish(); })
        .then([this, context]() mutable {
          auto& top = pushedRoot();
          top.descriptor.fill(context.getResults().initDescriptor());
          logInfo("push ", local, " to ", reference.toString(), ": ", top.descriptor.digest, ", ",
                  uploaded, " uploaded, ", existed, " there already, ", mounted, " mounted");
        });
  }

  kj::Promise<bool> reach(const Descriptor& d, NodeRole role) override {
    auto record = backends.metadata.content.get(ns, d.digest);
    if (record == nullptr) {
      throwError(
          ErrorKind::NOT_FOUND,
          kj::str("content digest ", d.digest, ": not found (the ", roleName(role), " of \"", local,
                  "\" is not in this namespace: pull it with --all-platforms, or "
                  "push one platform with --platform)"));
    }
    for (auto& n : nodes) {
      if (n.descriptor.digest == d.digest) return true;  // a layer two manifests share
    }
    size_t item = items.row(kj::str(roleName(role), "-", d.digest), Status::WAITING, d.size);
    auto from = sourceRepository(KJ_ASSERT_NONNULL(record).labels, reference.domain);
    nodes.add(Node{d.clone(), role, item, kj::mv(from)});
    return true;
  }

  void sent(size_t item, int64_t offset) {
    if (items[item].status == Status::UPLOADING) items[item].offset = offset;
  }

private:
  Backends& backends;
  kj::String ns;
  schema::ContentStore::Client content;
  schema::Distribution::Client distribution;
  schema::Registry::Client registry = nullptr;
  PlatformChoice choice;
  Semaphore uploads;
  kj::String remote;
  kj::String local;
  oci::Reference reference;
  bool byDigest = false;
  bool onePlatform = false;  // --platform: its manifest goes up, without the index above it
  Descriptor root;
  kj::Vector<Node> nodes;
  ProgressTable items;
  size_t uploaded = 0, existed = 0, mounted = 0;

  static bool wantsAll(PushCallContext& context) {
    return context.getParams().getOptions().getPlatforms().size() == 0;
  }
  static size_t slots(PushCallContext& context) {
    auto n = context.getParams().getOptions().getMaxConcurrentUploads();
    return n > 0 ? n : DEFAULT_UPLOADS;
  }

  Node& pushedRoot() {
    // The top of what goes up: the root, or with --platform under an index, its manifest.
    for (auto& n : nodes) {
      if (n.descriptor.digest == root.digest) {
        if (n.role == NodeRole::INDEX && onePlatform) break;
        return n;
      }
    }
    for (auto& n : nodes) {
      if (n.role == NodeRole::MANIFEST) return n;
    }
    KJ_FAIL_ASSERT("nothing to push");
  }
  kj::Promise<void> pushAll() {
    auto& top = pushedRoot();
    if (!byDigest) {
      KJ_IF_MAYBE(d, reference.digest) {
        if (*d != top.descriptor.digest) {
          throwError(ErrorKind::INVALID_ARGUMENT, kj::str(remote, ": names ", *d, ", but \"", local,
                                                          "\" is ", top.descriptor.digest));
        }
      }
    }
    // Blobs, then manifests, then indexes (the deepest first, the top last): a registry never
    // holds a reference to what it lacks.
    // Each upload is evaluated eagerly: those waiting for a slot must not depend on the join
    // to be driven (without it, a push of more blobs than slots stopped once the first slots'
    // answers came back).
    kj::Vector<kj::Promise<void>> blobs;
    for (auto& n : nodes) {
      if (n.role == NodeRole::CONFIG || n.role == NodeRole::LAYER)
        blobs.add(upload(n, false).eagerlyEvaluate(nullptr));
    }
    return kj::joinPromises(blobs.releaseAsArray())
        .then([this]() {
          kj::Vector<kj::Promise<void>> manifests;
          for (auto& n : nodes) {
            if (n.role != NodeRole::MANIFEST) continue;
            if (&n == &pushedRoot()) continue;
            manifests.add(upload(n, false).eagerlyEvaluate(nullptr));
          }
          return kj::joinPromises(manifests.releaseAsArray());
        })
        .then([this]() -> kj::Promise<void> {
          if (onePlatform) return kj::READY_NOW;
          kj::Promise<void> chain = kj::READY_NOW;
          for (size_t i = nodes.size(); i-- > 0;) {
            auto& n = nodes[i];
            if (n.role != NodeRole::INDEX || &n == &pushedRoot()) continue;
            chain = chain.then([this, &n]() { return upload(n, false); });
          }
          return chain;
        })
        .then([this]() { return upload(pushedRoot(), true); });
  }

  kj::Promise<void> upload(Node& n, bool top) {
    return uploads.run([this, &n, top]() {
      items[n.item].status = Status::UPLOADING;
      auto req = registry.pushRequest();
      n.descriptor.fill(req.initDescriptor());
      if (top && !byDigest) {
        KJ_IF_MAYBE(tag, reference.tag) {
          req.setTag(*tag);
        }
      }
      req.setMountFrom(n.mountFrom);
      req.setProgress(kj::heap<SentProgress>(kj::addRef(*this), n.item));
      return req.send().then([this, &n](auto response) {
        auto outcome = response.getOutcome();
        items[n.item].status = outcome == Outcome::UPLOADED ? Status::DONE : Status::EXISTS;
        items[n.item].offset = n.descriptor.size;
        (outcome == Outcome::UPLOADED  ? uploaded
         : outcome == Outcome::EXISTED ? existed
                                       : mounted)++;
      });
    });
  }
};

kj::Promise<void> SentProgress::update(UpdateContext context) {
  job->sent(item, context.getParams().getOffset());
  return kj::READY_NOW;
}

}  // namespace

kj::Promise<void> pushImage(Backends& backends, kj::StringPtr ns, PushCallContext context) {
  auto job = kj::refcounted<PushJob>(backends, ns, context);
  auto& ref = *job;
  return ref.run(context).attach(kj::mv(job));
}

kj::Promise<void> pushObject(Backends& backends, kj::StringPtr ns, PushObjectCallContext context) {
  auto params = context.getParams();
  auto d = Descriptor::from(params.getDescriptor());
  validateDigest(d.digest);
  auto reference = oci::parseReference(params.getRemote());
  auto req = openRegistry(backends, reference.toString(), params.getOptions()).pushRequest();
  KJ_IF_MAYBE(record, backends.metadata.content.get(ns, d.digest)) {
    if (d.size <= 0) d.size = record->size;
    req.setMountFrom(sourceRepository(record->labels, reference.domain));
  } else {
    throwError(ErrorKind::NOT_FOUND, kj::str("content digest ", d.digest, ": not found"));
  }
  if (d.mediaType.size() == 0) d.mediaType = kj::str("application/octet-stream");
  d.fill(req.initDescriptor());
  if (oci::isManifestType(d.mediaType)) {
    KJ_IF_MAYBE(tag, reference.tag) {
      if (namesTagOrDigest(params.getRemote())) req.setTag(*tag);
    }
  }
  return req.send().then(
      [context](auto response) mutable { context.getResults().setOutcome(response.getOutcome()); });
}

}  // namespace ctrd
