#include "image-walk.h"

#include <common/digest.h>
#include <common/errors.h>
#include <oci/image.h>
#include <oci/media-types.h>

namespace ctrd {

Descriptor Descriptor::from(schema::Descriptor::Reader d) {
  Descriptor out{kj::str(d.getMediaType()), kj::str(d.getDigest()), d.getSize(), nullptr};
  if (d.hasPlatform()) out.platform = platformFrom(d.getPlatform());
  return out;
}

Descriptor Descriptor::clone() const {
  Descriptor out{kj::str(mediaType), kj::str(digest), size, nullptr};
  KJ_IF_MAYBE(p, platform) {
    out.platform = oci::Platform{kj::str(p->os), kj::str(p->architecture), kj::str(p->variant)};
  }
  return out;
}

void Descriptor::fill(schema::Descriptor::Builder out) const {
  out.setMediaType(mediaType);
  out.setDigest(digest);
  out.setSize(size);
}

oci::Platform platformFrom(schema::Platform::Reader p) {
  return oci::normalize(
      {kj::str(p.getOs()), kj::str(p.getArchitecture()), kj::str(p.getVariant())});
}

PlatformChoice::PlatformChoice(kj::Vector<oci::Platform> wanted, bool all)
    : wanted(kj::mv(wanted)), all(all) {
  if (this->wanted.size() == 0) this->wanted.add(oci::hostPlatform());
}

kj::Vector<size_t> PlatformChoice::choose(capnp::List<schema::Descriptor>::Reader manifests) const {
  kj::Vector<size_t> out;
  if (all) {
    for (size_t i = 0; i < manifests.size(); i++) out.add(i);
    return out;
  }
  for (auto& want : wanted) {
    // A manifest without a platform matches anything, below every real match.
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
    for (auto at : out) have = have || at == bestAt;
    if (!have) out.add(bestAt);
  }
  return out;
}

bool PlatformChoice::wants(const oci::Platform& platform) const {
  for (auto& w : wanted) {
    if (oci::matches(w, platform)) return true;
  }
  return false;
}

kj::String PlatformChoice::names() const {
  return kj::strArray(
      KJ_MAP(p, wanted) { return p.toString(); }, ", ");
}

kj::StringPtr roleName(NodeRole role) {
  switch (role) {
    case NodeRole::INDEX:
      return "index";
    case NodeRole::MANIFEST:
      return "manifest";
    case NodeRole::CONFIG:
      return "config";
    case NodeRole::LAYER:
      return "layer";
  }
  KJ_UNREACHABLE;
}

kj::Promise<void> ImageWalk::walk(Descriptor root) {
  return node(kj::mv(root), 0);
}

kj::Promise<kj::Maybe<ImageWalk::Parsed>> ImageWalk::parseIf(bool present, const Descriptor& d) {
  if (!present) return kj::Maybe<Parsed>(nullptr);
  auto req = documents.parseRequest();
  req.setDigest(d.digest);
  req.setMediaType(d.mediaType);
  return req.send().then([](Parsed parsed) -> kj::Maybe<Parsed> { return kj::mv(parsed); });
}

kj::Promise<void> ImageWalk::node(Descriptor d, size_t depth) {
  if (depth > MAX_DEPTH) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(d.digest, ": indexes nested more than ", MAX_DEPTH, " deep"));
  }
  if (++read > MAX_DOCUMENTS) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(d.digest, ": more than ", MAX_DOCUMENTS, " manifests and indexes"));
  }
  bool index = oci::kindOf(d.mediaType) == oci::DocumentKind::INDEX;
  auto reached = visitor.reach(d, index ? NodeRole::INDEX : NodeRole::MANIFEST);
  return reached.then([this, d = d.clone()](bool present) { return parseIf(present, d); })
      .then([this, d = kj::mv(d), depth,
             index](kj::Maybe<Parsed> maybeParsed) mutable -> kj::Promise<void> {
        KJ_IF_MAYBE(parsed, maybeParsed) {
          auto doc = parsed->getDocument();
          if (index) {
            if (!doc.isIndex()) {
              throwError(ErrorKind::INVALID_ARGUMENT, kj::str(d.digest, ": not an index"));
            }
            auto manifests = doc.getIndex().getManifests();
            auto chosen = choice.choose(manifests);
            visitor.index(d, manifests, chosen);
            kj::Vector<kj::Promise<void>> children;
            for (auto at : chosen) {
              children.add(node(Descriptor::from(manifests[at]), depth + 1));
            }
            return kj::joinPromises(children.releaseAsArray()).attach(kj::mv(*parsed));
          }
          if (!doc.isManifest()) {
            throwError(ErrorKind::INVALID_ARGUMENT, kj::str(d.digest, ": not a manifest"));
          }
          return manifest(kj::mv(d), doc.getManifest(), depth == 0).attach(kj::mv(*parsed));
        }
        return kj::READY_NOW;
      });
}

kj::Promise<void> ImageWalk::manifest(Descriptor d, schema::Manifest::Reader m, bool root) {
  auto config = Descriptor::from(m.getConfig());
  kj::Vector<Descriptor> layers;
  for (auto l : m.getLayers()) layers.add(Descriptor::from(l));
  visitor.manifest(d, config, layers);
  // Layers are reached at once (a pull starts downloading them); the config decides what the
  // image is.
  auto reached = kj::heapArrayBuilder<kj::ForkedPromise<void>>(layers.size());
  for (auto& l : layers) reached.add(visitor.reach(l, NodeRole::LAYER).ignoreResult().fork());
  auto layersReached = reached.finish();
  kj::Vector<kj::Promise<void>> done;
  for (auto& f : layersReached) done.add(f.addBranch());
  auto configDone =
      visitor.reach(config, NodeRole::CONFIG)
          .then([this, config = config.clone()](bool present) { return parseIf(present, config); })
          .then([this, d = kj::mv(d), config = kj::mv(config), layers = kj::mv(layers), root,
                 layersReached = kj::mv(layersReached)](kj::Maybe<Parsed> maybeParsed) mutable {
            KJ_IF_MAYBE(parsed, maybeParsed) {
              auto doc = parsed->getDocument();
              if (!doc.isConfig()) {
                throwError(ErrorKind::INVALID_ARGUMENT,
                           kj::str(d.digest, ": config is not a config"));
              }
              image(kj::mv(d), kj::mv(config), kj::mv(layers), doc.getConfig(), root,
                    layersReached);
            }
          });
  done.add(kj::mv(configDone));
  return kj::joinPromises(done.releaseAsArray());
}

void ImageWalk::image(Descriptor manifest, Descriptor config, kj::Vector<Descriptor> layers,
                      schema::ImageConfig::Reader c, bool root,
                      kj::ArrayPtr<kj::ForkedPromise<void>> layersReached) {
  ImageNode node{kj::mv(manifest),
                 platformFrom(c.getPlatform()),
                 kj::mv(config),
                 kj::mv(layers),
                 {},
                 {},
                 root,
                 {}};
  KJ_IF_MAYBE(p, node.manifest.platform) {
    node.platform = oci::Platform{kj::str(p->os), kj::str(p->architecture), kj::str(p->variant)};
  }
  for (auto id : c.getDiffIds()) node.diffIds.add(kj::str(id));
  if (node.diffIds.size() != node.layers.size()) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(node.manifest.digest, ": ", node.layers.size(),
                       " layers but the config lists ", node.diffIds.size(), " diff IDs"));
  }
  for (auto& id : node.diffIds) validateDigest(id);
  node.chainId = oci::chainId(node.diffIds);
  auto strings = [](capnp::List<capnp::Text>::Reader list) {
    kj::Vector<kj::String> out;
    for (auto s : list) out.add(kj::str(s));
    return out;
  };
  node.run = {strings(c.getEnv()),        strings(c.getEntrypoint()), strings(c.getCmd()),
              kj::str(c.getWorkingDir()), kj::str(c.getUser()),       kj::str(c.getStopSignal())};
  auto branches = KJ_MAP(f, layersReached) {
    return f.addBranch();
  };
  visitor.image(node, kj::mv(branches));
}

}  // namespace ctrd
