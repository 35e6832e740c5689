#include "image-archive.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/labels.h>
#include <common/log.h>
#include <kj/debug.h>
#include <oci/image.h>
#include <time.h>

#include "api.h"
#include "image-recorder.h"
#include "images-api.h"
#include "leases-api.h"

namespace ctrd {
namespace {

schema::ContentStore::Client contentStore(Backends& backends) {
  return backends.service(ServiceKind::CONTENT).client<schema::ContentStore>();
}

[[noreturn]] void missing(const Descriptor& d, NodeRole role, kj::StringPtr name,
                          kj::StringPtr hint) {
  throwError(ErrorKind::NOT_FOUND, kj::str("content digest ", d.digest, ": not found (the ",
                                           roleName(role), " of \"", name, "\" ", hint, ")"));
}

struct Exported {
  kj::String name;
  Descriptor target;
  kj::String dockerManifest;  // the manifest manifest.json lists, empty for none
};

class ExportJob final : public kj::Refcounted, public ImageVisitor {
public:
  ExportJob(Backends& backends, kj::StringPtr ns, schema::ExportOptions::Reader options)
      : backends(backends),
        ns(kj::str(ns)),
        choice(platformChoice(options.getPlatforms(), options.getAllPlatforms())),
        skipManifestJson(options.getSkipManifestJson()) {}

  kj::Promise<void> run(ExportCallContext context) {
    auto params = context.getParams();
    if (params.getNames().size() == 0) {
      throwError(ErrorKind::INVALID_ARGUMENT, "export: no image named");
    }
    for (auto name : params.getNames()) {
      KJ_IF_MAYBE(record, backends.metadata.images.get(ns, name)) {
        images.add(Exported{
            kj::str(name),
            Descriptor{kj::str(record->mediaType), kj::str(record->digest), record->size, nullptr},
            kj::str()});
      } else {
        throwError(ErrorKind::NOT_FOUND, kj::str("image \"", name, "\": not found"));
      }
    }
    // Every image is walked before a byte is written: a missing blob fails the export whole.
    auto documents = contentStore(backends).distributionRequest().send().getDistribution();
    kj::Promise<void> walks = kj::READY_NOW;
    for (auto& image : images) {
      walks = walks.then([this, &image, documents]() mutable {
        current = &image;
        auto walk = kj::refcounted<ImageWalk>(documents, choice, *this);
        auto& w = *walk;
        return w.walk(image.target.clone()).attach(kj::mv(walk));
      });
    }
    return walks.then([this, context]() mutable {
      auto req = contentStore(backends).exportArchiveRequest();
      req.setSink(context.getParams().getSink());
      auto list = req.initImages(images.size());
      for (size_t i = 0; i < images.size(); i++) {
        list[i].setName(images[i].name);
        images[i].target.fill(list[i].initTarget());
        if (!skipManifestJson) list[i].setDockerManifest(images[i].dockerManifest);
      }
      auto out = req.initBlobs(blobs.size());
      for (size_t i = 0; i < blobs.size(); i++) blobs[i].fill(out[i]);
      return req.send().then([this, context](auto response) mutable {
        logInfo("export of ", images.size(), " images, ", blobs.size(),
                " blobs: ", response.getSize(), " bytes");
        context.getResults().setSize(response.getSize());
      });
    });
  }

  kj::Promise<bool> reach(const Descriptor& d, NodeRole role) override {
    if (backends.metadata.content.get(ns, d.digest) == nullptr) {
      missing(d, role, current->name,
              "is not in this namespace: pull it with --all-platforms, or export one platform "
              "with --platform");
    }
    if (!seen.contains(d.digest)) {
      seen.insert(kj::str(d.digest));
      blobs.add(d.clone());
    }
    return true;
  }

  void index(const Descriptor& d, capnp::List<schema::Descriptor>::Reader manifests,
             kj::ArrayPtr<const size_t> chosen) override {
    if (chosen.size() == 0) {
      throwError(ErrorKind::NOT_FOUND,
                 kj::str("no manifest in \"", current->name, "\" for platform ", choice.names()));
    }
    // Docker's manifest.json lists one manifest per image: the best match.
    if (d.digest == current->target.digest) {
      current->dockerManifest = kj::str(manifests[chosen[0]].getDigest());
    }
  }

  void manifest(const Descriptor& d, const Descriptor&, kj::ArrayPtr<const Descriptor>) override {
    if (d.digest == current->target.digest) current->dockerManifest = kj::str(d.digest);
  }

private:
  Backends& backends;
  kj::String ns;
  PlatformChoice choice;
  bool skipManifestJson;
  kj::Vector<Exported> images;
  Exported* current = nullptr;
  kj::Vector<Descriptor> blobs;
  kj::HashSet<kj::String> seen;
};

class ImportJob final : public kj::Refcounted, public ImageRecorder {
public:
  ImportJob(Backends& backends, kj::StringPtr ns, schema::ImportOptions::Reader options)
      : ImageRecorder(backends, ns,
                      platformChoice(options.getPlatforms(), options.getAllPlatforms()),
                      options.getUnpack(), options.getSnapshotter()),
        digests(options.getDigests()) {
    filter = options.getBaseName().size() > 0;
    base = filter ? kj::str(options.getBaseName()) : defaultBase();
  }

  void useLease(kj::StringPtr id) {
    lease = kj::str(id);
    ownLease = false;
  }

  kj::Promise<void> run(ImportCallContext context) {
    takeLease();
    auto unrecorded = backends.gc.holdUnrecorded();
    uint64_t since = backends.deletions.issued();
    auto req = contentStore(backends).importArchiveRequest();
    req.setSource(context.getParams().getSource());
    req.setOwner(ns);
    return prepareUnpacker(lease)
        .then([req = kj::mv(req)]() mutable { return req.send(); })
        .then([this, since](auto response) {
          kj::Vector<kj::Promise<void>> recorded;
          for (auto b : response.getBlobs())
            recorded.add(record(b.getDigest(), b.getSize(), since));
          for (auto image : response.getImages()) name(image);
          return kj::joinPromises(recorded.releaseAsArray());
        })
        .attach(kj::mv(unrecorded))
        .then([this]() { return walkAll(); })
        .then([this]() {
          // Everything the images need is here: they exist from now on, even if an unpack
          // then fails, as after a pull.
          applyLabels();
          for (auto& n : names) {
            backends.metadata.images.record(ns, n.name, n.target.mediaType, n.target.digest,
                                            n.target.size);
          }
          if (names.empty()) return kj::Promise<void>(kj::READY_NOW);  // nothing named
          return unpacked(names[0].name);
        })
        .then([this, context]() mutable {
          fillResults(context);
          releaseLease();
        })
        .catch_([this](kj::Exception&& e) -> kj::Promise<void> {
          releaseLease();
          return kj::mv(e);
        });
  }

  kj::Promise<bool> reach(const Descriptor& d, NodeRole role) override {
    if (backends.metadata.content.get(ns, d.digest) == nullptr) {
      missing(d, role, current,
              "is not in the archive: import one platform with --platform, or without "
              "--all-platforms");
    }
    return true;
  }

private:
  struct Named {
    kj::String name;
    Descriptor target;
  };

  bool digests;
  bool filter;
  kj::String base;
  kj::Vector<Named> names;
  kj::Vector<Descriptor> targets;  // each walked once, however many names it has
  kj::StringPtr current;
  kj::Maybe<kj::String> lease;
  bool ownLease = true;

  static kj::String defaultBase() {
    // containerd's: "import-2006-01-02", the day in local time.
    time_t now = time(nullptr);
    struct tm local;
    localtime_r(&now, &local);
    char day[16];
    strftime(day, sizeof(day), "%Y-%m-%d", &local);
    return kj::str("import-", day);
  }

  void takeLease() {
    if (lease == nullptr) lease = takeJobLease(backends, ns, "import", Labels());
  }

  void releaseLease() {
    if (ownLease) dropJobLease(backends, ns, lease);
  }

  kj::Promise<void> record(kj::StringPtr digest, int64_t size, uint64_t since) {
    return recordBlob(digest, size, since, lease)
        .catch_([digest = kj::str(digest)](kj::Exception&& e) -> kj::Promise<void> {
          if (errorKind(e) != ErrorKind::UNAVAILABLE) return kj::mv(e);
          return makeError(ErrorKind::UNAVAILABLE,
                           kj::str("import: blob ", digest,
                                   " was collected while the import ran; import again"));
        });
  }

  void name(schema::ArchiveImage::Reader image) {
    auto target = Descriptor::from(image.getTarget());
    target.platform = nullptr;
    auto n = importedName(image.getName(), image.getRefName(), base, filter);
    bool named = false;
    if (n.size() > 0) {
      // The archive's words: a name that would redraw whoever lists the images is refused.
      validateImageName(n);
      for (char c : n) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          throwError(ErrorKind::INVALID_ARGUMENT,
                     kj::str("import: image name \"", n, "\" holds a control character"));
        }
      }
      names.add(Named{kj::mv(n), target.clone()});
      named = true;
    }
    if (digests) {
      names.add(Named{kj::str(base, "@", target.digest), target.clone()});
      named = true;
    }
    if (!named) return;
    for (auto& t : targets) {
      if (t.digest == target.digest) return;
    }
    targets.add(kj::mv(target));
  }

  kj::Promise<void> walkAll() {
    auto documents = contentStore(backends).distributionRequest().send().getDistribution();
    kj::Promise<void> walks = kj::READY_NOW;
    for (auto& t : targets) {
      walks = walks.then([this, &t, documents]() mutable {
        for (auto& n : names) {
          if (n.target.digest == t.digest) current = n.name;
        }
        auto walk = kj::refcounted<ImageWalk>(documents, choice, *this);
        auto& w = *walk;
        return w.walk(t.clone()).attach(kj::mv(walk));
      });
    }
    return walks;
  }

  void fillResults(ImportCallContext& context) {
    auto results = context.getResults();
    auto list = results.initImages(names.size());
    for (size_t i = 0; i < names.size(); i++) {
      KJ_IF_MAYBE(record, backends.metadata.images.get(ns, names[i].name)) {
        fillImage(list[i], *record);
      }
    }
    auto done = unpackResults();
    fillUnpacked(results.initUnpacked(done.size()), done);
    logInfo("import of ", names.size(), " images into ", ns);
  }
};

bool underBase(kj::StringPtr name, kj::StringPtr base) {
  if (!name.startsWith(base) || name.size() == base.size()) return false;
  char next = name[base.size()];
  return next == '/' || next == ':' || next == '@';
}

}  // namespace

kj::String importedName(kj::StringPtr imageName, kj::StringPtr refName, kj::StringPtr base,
                        bool filter) {
  if (imageName.size() > 0) return kj::str(imageName);
  if (refName.size() == 0) return kj::str();
  bool full = false;
  for (char c : refName) full = full || c == '/' || c == ':' || c == '@';
  if (!full) return kj::str(base, ":", refName);
  if (filter && !underBase(refName, base)) return kj::str();
  return kj::str(refName);
}

kj::Promise<void> exportImages(Backends& backends, kj::StringPtr ns, ExportCallContext context) {
  auto job = kj::refcounted<ExportJob>(backends, ns, context.getParams().getOptions());
  auto& ref = *job;
  return ref.run(context).attach(kj::mv(job));
}

kj::Promise<void> importImages(Backends& backends, kj::StringPtr ns,
                               const kj::Maybe<kj::String>& lease, ImportCallContext context) {
  auto job = kj::refcounted<ImportJob>(backends, ns, context.getParams().getOptions());
  KJ_IF_MAYBE(id, lease) {
    job->useLease(*id);
  }
  auto& ref = *job;
  return ref.run(context).attach(kj::mv(job));
}

}  // namespace ctrd
