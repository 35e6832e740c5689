#include "image-recorder.h"

#include <common/errors.h>
#include <common/snapshot-info.h>
#include <oci/image.h>

#include "api.h"
#include "snapshots-api.h"

namespace ctrd {

PlatformChoice platformChoice(capnp::List<capnp::Text>::Reader platforms, bool all) {
  kj::Vector<oci::Platform> wanted;
  for (auto p : platforms) wanted.add(oci::normalize(oci::parsePlatform(p)));
  return PlatformChoice(kj::mv(wanted), all);
}

ImageRecorder::ImageRecorder(Backends& backends, kj::StringPtr ns, PlatformChoice choice,
                             bool unpack, kj::StringPtr snapshotter)
    : backends(backends),
      ns(kj::str(ns)),
      choice(kj::mv(choice)),
      unpack(unpack),
      snapshotter(kj::str(snapshotterOrDefault(snapshotter))) {}

void ImageRecorder::index(const Descriptor& d, capnp::List<schema::Descriptor>::Reader manifests,
                          kj::ArrayPtr<const size_t> chosen) {
  if (chosen.size() == 0) {
    throwError(ErrorKind::NOT_FOUND,
               kj::str("no match for platform ", choice.names(), " in manifest ", d.digest));
  }
  for (auto at : chosen) {
    label(d.digest, kj::str(oci::labels::GC_CONTENT, "m.", at), kj::str(manifests[at].getDigest()));
  }
}

void ImageRecorder::manifest(const Descriptor& d, const Descriptor& config,
                             kj::ArrayPtr<const Descriptor> layers) {
  label(d.digest, kj::str(oci::labels::GC_CONTENT, "config"), kj::str(config.digest));
  for (size_t i = 0; i < layers.size(); i++) {
    label(d.digest, kj::str(oci::labels::GC_CONTENT, "l.", i), kj::str(layers[i].digest));
  }
}

void ImageRecorder::image(ImageNode& node, kj::Array<kj::Promise<void>> layersIn) {
  for (size_t i = 0; i < node.layers.size(); i++) {
    label(node.layers[i].digest, kj::str(oci::labels::UNCOMPRESSED), kj::str(node.diffIds[i]));
  }
  // With --all-platforms every manifest is here, but only this host's (or the ones asked for)
  // unpack.
  if (!unpack || !choice.wants(node.platform)) return;
  wanted++;
  auto config = kj::str(node.config.digest);
  auto chain = kj::str(node.chainId);
  unpacks.add(KJ_ASSERT_NONNULL(unpacker)
                  ->unpack(node, kj::mv(layersIn))
                  .then([this, config = kj::mv(config), chain = kj::mv(chain)]() mutable {
                    // The config holds the unpacked snapshot for garbage collection, as
                    // containerd's does.
                    label(config, kj::str(oci::labels::GC_SNAPSHOT, snapshotter), kj::mv(chain));
                    applyLabelsOf(config);  // applied already if everything came in first
                  })
                  .eagerlyEvaluate(nullptr));
}

kj::Promise<void> ImageRecorder::prepareUnpacker(const kj::Maybe<kj::String>& lease) {
  if (!unpack) return kj::READY_NOW;
  auto snapshots = namespaceSnapshots(backends, ns, snapshotter);
  auto held = lease.map([](const kj::String& l) { return kj::str(l); });
  return snapshots.traitsRequest().send().then([this, held = kj::mv(held)](auto response) mutable {
    unpacker = kj::refcounted<Unpacker>(backends, ns, snapshotter,
                                        response.getTraits().getLayered(), kj::mv(held));
  });
}

void ImageRecorder::label(kj::StringPtr digest, kj::String key, kj::String value) {
  auto& l = labels.findOrCreate(digest, [&]() {
    return kj::HashMap<kj::String, Labels>::Entry{kj::str(digest), Labels()};
  });
  setLabel(l, kj::mv(key), kj::mv(value));
}

void ImageRecorder::applyLabelsOf(kj::StringPtr digest) {
  if (!in) return;
  KJ_IF_MAYBE(wantedLabels, labels.find(digest)) {
    backends.metadata.content.mergeLabels(ns, digest, *wantedLabels);
  }
}

void ImageRecorder::applyLabels() {
  in = true;
  for (auto& entry : labels) applyLabelsOf(entry.key);
}

kj::Promise<void> ImageRecorder::unpacked(kj::StringPtr name) {
  return kj::joinPromises(unpacks.releaseAsArray()).then([this, name = kj::str(name)]() {
    if (unpack && wanted == 0) {
      throwError(ErrorKind::NOT_FOUND,
                 kj::str("no manifest in ", name, " for platform ", choice.names()));
    }
  });
}

kj::Promise<void> ImageRecorder::recordBlob(kj::StringPtr digest, int64_t size, uint64_t since,
                                            const kj::Maybe<kj::String>& lease) {
  auto recorded = kj::str(digest);  // not in the call below: its arguments have no order
  return backends.deletions.record(
      kj::mv(recorded), since, [this, &lease, digest = kj::str(digest), size]() {
        backends.metadata.write([&]() {
          backends.metadata.leases.hold(ns, lease,
                                        LeaseResource{kj::str("content"), kj::str(digest)});
          if (backends.metadata.content.get(ns, digest) == nullptr) {
            backends.metadata.content.add(ns, digest, size);
          }
        });
      });
}

kj::ArrayPtr<const kj::Own<UnpackResult>> ImageRecorder::unpackResults() const {
  KJ_IF_MAYBE(u, unpacker) {
    return (*u)->results();
  }
  return nullptr;
}

void fillUnpacked(capnp::List<schema::Unpacked>::Builder list,
                  kj::ArrayPtr<const kj::Own<UnpackResult>> done) {
  for (size_t i = 0; i < done.size(); i++) {
    auto& u = *done[i];
    list[i].setPlatform(u.platform);
    list[i].setManifest(u.manifest);
    list[i].setChainId(u.chainId);
    list[i].setApplied(u.applied);
    list[i].setNanoseconds(u.finishedAt - (u.startedAt > 0 ? u.startedAt : u.finishedAt));
  }
}

}  // namespace ctrd
