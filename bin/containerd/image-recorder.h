// What a pull and an import do with an image once its nodes are in this namespace: label each
// for garbage collection as containerd does (gc.ref.content.* on indexes and manifests, the
// uncompressed digest on layers, gc.ref.snapshot on a config once its image is unpacked) and
// unpack each image the platforms want (unpacker.h). The walk's visitor; how a node gets here
// (reach()) is the job's.
#pragma once

#include <common/labels.h>
#include <kj/map.h>
#include <schema/images.capnp.h>

#include "image-walk.h"
#include "unpacker.h"

namespace ctrd {

struct Backends;

PlatformChoice platformChoice(capnp::List<capnp::Text>::Reader platforms, bool all);

class ImageRecorder : public ImageVisitor {
public:
  ImageRecorder(Backends& backends, kj::StringPtr ns, PlatformChoice choice, bool unpack,
                kj::StringPtr snapshotter);

  void index(const Descriptor& d, capnp::List<schema::Descriptor>::Reader manifests,
             kj::ArrayPtr<const size_t> chosen) override;
  // `not found` when no manifest matches the platforms.
  void manifest(const Descriptor& d, const Descriptor& config,
                kj::ArrayPtr<const Descriptor> layers) override;
  void image(ImageNode& node, kj::Array<kj::Promise<void>> layersIn) override;

protected:
  Backends& backends;
  kj::String ns;
  PlatformChoice choice;
  bool unpack;
  kj::String snapshotter;

  kj::Promise<void> prepareUnpacker(const kj::Maybe<kj::String>& lease);
  // Before the walk: whether layers may apply in parallel is the snapshotter's to say.
  void label(kj::StringPtr digest, kj::String key, kj::String value);
  // Kept until applyLabels(), then applied at once.
  void applyLabels();
  // Everything is in: the labels go to meta.db, and from here on as they come.
  kj::Promise<void> unpacked(kj::StringPtr name);
  // Every unpack done; `not found` when unpacking was asked and no image matched.
  kj::ArrayPtr<const kj::Own<UnpackResult>> unpackResults() const;

  kj::Promise<void> recordBlob(kj::StringPtr digest, int64_t size, uint64_t since,
                               const kj::Maybe<kj::String>& lease);
  // A blob containerd-content committed for this namespace: recorded, held in `lease`, in one
  // meta.db write, through BlobDeletions (`unavailable` when a collection took the bytes
  // meanwhile; `since` is BlobDeletions::issued() from before the commit was asked for).

private:
  kj::Maybe<kj::Own<Unpacker>> unpacker;
  kj::Vector<kj::Promise<void>> unpacks;
  size_t wanted = 0;                       // images the platforms want unpacked
  kj::HashMap<kj::String, Labels> labels;  // by digest, applied once everything is in
  bool in = false;

  void applyLabelsOf(kj::StringPtr digest);
};

void fillUnpacked(capnp::List<schema::Unpacked>::Builder list,
                  kj::ArrayPtr<const kj::Own<UnpackResult>> done);
// `list` holds done.size() entries.

}  // namespace ctrd
