#include "images-api.h"

#include <common/clock.h>
#include <common/digest.h>
#include <common/errors.h>
#include <common/filters.h>
#include <common/snapshot-info.h>
#include <kj/debug.h>
#include <oci/platform.h>
#include <string.h>

#include "image-archive.h"
#include "image-walk.h"
#include "leases-api.h"
#include "pull.h"
#include "push.h"
#include "snapshots-api.h"

namespace ctrd {
constexpr size_t MAX_NAME_LENGTH = 4096;

void validateImageName(kj::StringPtr name) {
  if (name.size() == 0) throwError(ErrorKind::INVALID_ARGUMENT, "image name must not be empty");
  if (name.size() > MAX_NAME_LENGTH || strlen(name.cStr()) != name.size()) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str("image name \"", name, "\""));
  }
}

void fillImage(schema::Image::Builder out, const ImageRecord& r) {
  out.setName(r.name);
  auto target = out.initTarget();
  target.setMediaType(r.mediaType);
  target.setDigest(r.digest);
  target.setSize(r.size);
  fillLabels(out.initLabels(r.labels.size()), r.labels);
  out.setCreatedAt(r.createdAt);
  out.setUpdatedAt(r.updatedAt);
}

namespace {

void readTarget(ImageRecord& r, schema::Descriptor::Reader target) {
  validateDigest(target.getDigest());
  if (target.getMediaType().size() == 0) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str("image \"", r.name, "\": target media type"));
  }
  r.mediaType = kj::str(target.getMediaType());
  r.digest = kj::str(target.getDigest());
  r.size = target.getSize();
}

FieldLookup imageFields(const ImageRecord& r) {
  return [&r](kj::ArrayPtr<const kj::String> path) -> kj::Maybe<kj::String> {
    if (path.size() == 1 && path[0] == "name") return kj::str(r.name);
    if (path.size() == 2 && path[0] == "target" && path[1] == "digest") return kj::str(r.digest);
    if (path.size() == 2 && path[0] == "target" && path[1] == "mediatype") {
      return kj::str(r.mediaType);
    }
    if (path.size() >= 2 && path[0] == "labels") {
      KJ_IF_MAYBE(v, r.labels.find(kj::strArray(path.slice(1, path.size()), "."))) {
        return kj::str(*v);
      }
    }
    return nullptr;
  };
}

class Usage final : public kj::Refcounted, public ImageVisitor {
  // Adds up an image for one platform from what this namespace holds.
public:
  Usage(kj::StringPtr ns, Backends& backends) : ns(kj::str(ns)), backends(backends) {}

  kj::Promise<bool> reach(const Descriptor& d, NodeRole) override {
    blobs++;
    total += d.size;
    if (backends.metadata.content.get(ns, d.digest) == nullptr) {
      complete = false;
      return false;
    }
    presentBlobs++;
    present += d.size;
    return true;
  }

  void index(const Descriptor&, capnp::List<schema::Descriptor>::Reader manifests,
             kj::ArrayPtr<const size_t>) override {
    for (auto m : manifests) {
      if (m.hasPlatform()) platforms.add(platformFrom(m.getPlatform()));
    }
  }

  void image(ImageNode& node, kj::Array<kj::Promise<void>>) override {
    if (node.root) platforms.add(kj::mv(node.platform));
    chain = kj::mv(node.chainId);
    run = kj::mv(node.run);
  }

  void fill(schema::ImageUsage::Builder out, bool unpacked) {
    auto list = out.initPlatforms(platforms.size());
    for (size_t i = 0; i < platforms.size(); i++) {
      list[i].setOs(platforms[i].os);
      list[i].setArchitecture(platforms[i].architecture);
      list[i].setVariant(platforms[i].variant);
    }
    out.setSize(total);
    out.setPresent(present);
    out.setBlobs(blobs);
    out.setPresentBlobs(presentBlobs);
    out.setComplete(complete);
    out.setChainId(chain);
    out.setUnpacked(unpacked);
    KJ_IF_MAYBE(r, run) {
      auto c = out.initConfig();
      auto fill = [](auto list, const kj::Vector<kj::String>& from) {
        for (size_t i = 0; i < from.size(); i++) list.set(i, from[i]);
      };
      fill(c.initEnv(r->env.size()), r->env);
      fill(c.initEntrypoint(r->entrypoint.size()), r->entrypoint);
      fill(c.initCmd(r->cmd.size()), r->cmd);
      c.setWorkingDir(r->workingDir);
      c.setUser(r->user);
      c.setStopSignal(r->stopSignal);
    }
  }

  kj::String chain;

private:
  kj::String ns;
  Backends& backends;
  kj::Vector<oci::Platform> platforms;
  kj::Maybe<oci::ImageRunConfig> run;
  int64_t total = 0, present = 0;
  uint32_t blobs = 0, presentBlobs = 0;
  bool complete = true;
};

}  // namespace

ImageRecord NamespaceImages::require(kj::StringPtr name) {
  KJ_IF_MAYBE(r, backends.metadata.images.get(ns, name)) {
    return kj::mv(*r);
  }
  throwError(ErrorKind::NOT_FOUND, kj::str("image \"", name, "\""));
}

kj::Promise<void> NamespaceImages::get(GetContext context) {
  fillImage(context.getResults().initImage(), require(context.getParams().getName()));
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceImages::list(ListContext context) {
  auto filter = Filter::parse(context.getParams().getFilters());
  kj::Vector<ImageRecord> matched;
  for (auto& r : backends.metadata.images.list(ns)) {
    auto lookup = imageFields(r);
    if (filter.matches(lookup)) matched.add(kj::mv(r));
  }
  auto out = context.getResults().initImages(matched.size());
  for (size_t i = 0; i < matched.size(); i++) fillImage(out[i], matched[i]);
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceImages::create(CreateContext context) {
  auto image = context.getParams().getImage();
  validateImageName(image.getName());
  int64_t now = nowNanos();
  ImageRecord r{kj::str(image.getName()), {}, {}, 0, readLabels(image.getLabels()), now, now};
  readTarget(r, image.getTarget());
  if (!backends.metadata.images.insert(ns, r)) {
    throwError(ErrorKind::ALREADY_EXISTS, kj::str("image \"", r.name, "\""));
  }
  fillImage(context.getResults().initImage(), r);
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceImages::update(UpdateContext context) {
  auto params = context.getParams();
  auto image = params.getImage();
  auto r = require(image.getName());
  auto paths = params.getFieldpaths();
  bool target = paths.size() == 0;
  kj::Vector<kj::String> labelPaths;
  for (auto p : paths) {
    if (p == "target") {
      target = true;
    } else {
      labelPaths.add(kj::str(p));
    }
  }
  if (target) readTarget(r, image.getTarget());
  if (paths.size() == 0 || labelPaths.size() > 0) {
    updateLabels(r.labels, readLabels(image.getLabels()), labelPaths.asPtr(),
                 kj::str("image \"", r.name, "\""));
  }
  r.updatedAt = nowNanos();
  backends.metadata.images.update(ns, r);
  fillImage(context.getResults().initImage(), r);
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceImages::delete_(DeleteContext context) {
  auto params = context.getParams();
  auto name = params.getName();
  if (!backends.metadata.images.remove(ns, name)) {
    throwError(ErrorKind::NOT_FOUND, kj::str("image \"", name, "\""));
  }
  if (!params.getSync()) {
    backends.gc.schedule();
    return kj::READY_NOW;
  }
  return backends.gc.collect().then(
      [context](GcReport report) mutable { fillGcReport(context.getResults().initGc(), report); });
}

kj::Promise<void> NamespaceImages::pull(PullContext context) {
  return pullImage(backends, ns, lease, context);
}

kj::Promise<void> NamespaceImages::push(PushContext context) {
  return pushImage(backends, ns, context);
}

kj::Promise<void> NamespaceImages::export_(ExportContext context) {
  return exportImages(backends, ns, context);
}

kj::Promise<void> NamespaceImages::import(ImportContext context) {
  return importImages(backends, ns, lease, context);
}

kj::Promise<void> NamespaceImages::pushObject(PushObjectContext context) {
  return ctrd::pushObject(backends, ns, context);
}

kj::Promise<void> NamespaceImages::usage(UsageContext context) {
  auto params = context.getParams();
  auto r = require(params.getName());
  auto platform = params.getPlatform().size() > 0
                      ? oci::normalize(oci::parsePlatform(params.getPlatform()))
                      : oci::hostPlatform();
  auto snapshotter = kj::str(snapshotterOrDefault(params.getSnapshotter()));
  auto usage = kj::refcounted<Usage>(ns, backends);
  auto& u = *usage;
  kj::Vector<oci::Platform> wanted;
  wanted.add(kj::mv(platform));
  auto choice = kj::heap<PlatformChoice>(kj::mv(wanted), false);
  auto documents = backends.service(ServiceKind::CONTENT)
                       .client<schema::ContentStore>()
                       .distributionRequest()
                       .send()
                       .getDistribution();
  auto walk = kj::refcounted<ImageWalk>(kj::mv(documents), *choice, u);
  auto& w = *walk;
  return w.walk(Descriptor{kj::mv(r.mediaType), kj::mv(r.digest), r.size, nullptr})
      .then([this, &u, snapshotter = kj::mv(snapshotter)]() -> kj::Promise<bool> {
        if (u.chain.size() == 0) return false;
        auto stat = namespaceSnapshots(backends, ns, snapshotter).statRequest();
        stat.setKey(u.chain);
        return stat.send().then(
            [](auto info) { return info.getInfo().getKind() == schema::Kind::COMMITTED; },
            [](kj::Exception&&) { return false; });
      })
      .then([context, &u](bool unpacked) mutable {
        u.fill(context.getResults().initUsage(), unpacked);
      })
      .attach(kj::mv(walk), kj::mv(choice), kj::mv(usage));
}

}  // namespace ctrd
