// An image's tree of descriptors, walked in one place: an index to the manifests a platform
// choice picks, a manifest to its config and layers, the config to its diff IDs and chain ID.
// Pull (which fetches each node before it is read) and `images usage/check` walk it here, as
// push, export and GC marking will; what happens at each node is the visitor's. No registry
// byte is parsed in this process: documents are read through containerd-content's
// Distribution.parse.
#pragma once

#include <capnp/list.h>
#include <kj/async.h>
#include <kj/vector.h>
#include <oci/image.h>
#include <oci/platform.h>
#include <schema/distribution.capnp.h>

namespace ctrd {

struct Descriptor {
  kj::String mediaType;
  kj::String digest;
  int64_t size;
  kj::Maybe<oci::Platform> platform;  // as an index names it

  static Descriptor from(schema::Descriptor::Reader d);
  Descriptor clone() const;
  void fill(schema::Descriptor::Builder out) const;  // without the platform
};

oci::Platform platformFrom(schema::Platform::Reader platform);
// Normalized, as matching wants it.

class PlatformChoice {
  // Which manifests of an index a walk goes down.
public:
  PlatformChoice(kj::Vector<oci::Platform> wanted, bool all);

  kj::Vector<size_t> choose(capnp::List<schema::Descriptor>::Reader manifests) const;
  // Every position with `all`; otherwise the best match for each wanted platform, each
  // position once, in the order wanted. Empty when nothing matches.
  bool wants(const oci::Platform& platform) const;
  // Whether `platform` runs where one of the wanted ones does.
  kj::String names() const;  // "linux/amd64, linux/arm64/v8"

private:
  kj::Vector<oci::Platform> wanted;
  bool all;
};

enum class NodeRole { INDEX, MANIFEST, CONFIG, LAYER };
kj::StringPtr roleName(NodeRole role);  // "index", "manifest", "config", "layer"

struct ImageNode {
  // A manifest whose config has been read: what an image is for one platform.
  Descriptor manifest;
  oci::Platform platform;  // the index's word, else the config's
  Descriptor config;
  kj::Vector<Descriptor> layers;
  kj::Vector<kj::String> diffIds;  // one per layer, each a valid digest
  kj::String chainId;              // of all the layers; empty for none
  bool root;                       // the manifest is the top of the walk (no index above)
  oci::ImageRunConfig run;         // what the config says about running it
};

class ImageVisitor {
public:
  virtual kj::Promise<bool> reach(const Descriptor& d, NodeRole role) = 0;
  // Before a node is read, every node, layers included, once per appearance: pull fetches it,
  // usage counts it. False: absent, nothing below it is walked.
  virtual void index(const Descriptor& d, capnp::List<schema::Descriptor>::Reader manifests,
                     kj::ArrayPtr<const size_t> chosen) {}
  virtual void manifest(const Descriptor& d, const Descriptor& config,
                        kj::ArrayPtr<const Descriptor> layers) {}
  virtual void image(ImageNode& node, kj::Array<kj::Promise<void>> layersReached) {}
  // The config is read. layersReached[i] settles when reach() of layer i does: an unpack waits
  // on it. The walk itself also waits for every layer.
};

class ImageWalk final : public kj::Refcounted {
public:
  static constexpr size_t MAX_DEPTH = 4;  // indexes nested in indexes
  static constexpr size_t MAX_DOCUMENTS = 1024;
  // Indexes and manifests one walk reads: nested indexes that repeat their children would
  // otherwise fan out to (children per index)^depth.

  ImageWalk(schema::Distribution::Client documents, const PlatformChoice& choice,
            ImageVisitor& visitor)
      : documents(kj::mv(documents)), choice(choice), visitor(visitor) {}

  kj::Promise<void> walk(Descriptor root);
  // Every failure is the project's error kind: `invalid argument` for a malformed tree (a
  // document not of its media type, too deep, too many, diff IDs that do not match the
  // layers), `not found` where the visitor says so.

private:
  schema::Distribution::Client documents;
  const PlatformChoice& choice;
  ImageVisitor& visitor;
  size_t read = 0;

  using Parsed = capnp::Response<schema::Distribution::ParseResults>;
  kj::Promise<kj::Maybe<Parsed>> parseIf(bool present, const Descriptor& d);
  // The document, read when the visitor found it present.
  kj::Promise<void> node(Descriptor d, size_t depth);
  kj::Promise<void> manifest(Descriptor d, schema::Manifest::Reader manifest, bool root);
  void image(Descriptor manifest, Descriptor config, kj::Vector<Descriptor> layers,
             schema::ImageConfig::Reader config_, bool root,
             kj::ArrayPtr<kj::ForkedPromise<void>> layersReached);
};

}  // namespace ctrd
