// Unpacking an image's layers into a namespace's snapshots, each under its chain ID, as soon
// as each layer's blob is in. A layered snapshotter (overlayfs) prepares every layer's directory
// while its blob downloads, applies them at once (as many as there are cores) and stacks them
// in order; one that
// copies its parent (native) applies layer N once layer N-1 is committed. Each layer is applied
// once however many pulls want it, and a half-applied snapshot is never left behind.
#pragma once

#include <common/semaphore.h>
#include <kj/async.h>
#include <kj/refcount.h>
#include <kj/vector.h>
#include <schema/diff.capnp.h>
#include <schema/snapshots.capnp.h>

#include "image-walk.h"

namespace ctrd {

struct Backends;

struct UnpackResult {
  kj::String platform;
  kj::String manifest;
  kj::String chainId;
  uint32_t applied = 0;  // layers applied (the others were unpacked already)
  int64_t startedAt = 0;
  int64_t finishedAt = 0;
};

class Unpacker final : public kj::Refcounted {
public:
  Unpacker(Backends& backends, kj::StringPtr ns, kj::StringPtr snapshotter, bool layered,
           kj::Maybe<kj::String> lease);
  // Every snapshot it makes or finds already unpacked is held in `lease` before it is used.

  kj::Promise<void> unpack(const ImageNode& image, kj::Array<kj::Promise<void>> layersIn);
  // Resolves once the top layer is committed under the image's chain ID. `layersIn[i]`
  // resolves when layer i's blob is in the namespace's content store.

  kj::ArrayPtr<const kj::Own<UnpackResult>> results() const { return results_; }

private:
  struct LayerStep;

  Backends& backends;
  kj::String ns;
  kj::String snapshotter;
  bool layered;
  kj::Maybe<kj::String> lease;
  schema::Snapshots::Client snapshots;
  schema::Diff::Client diff;
  kj::Vector<kj::Own<UnpackResult>> results_;
  Semaphore applies;  // as many layers apply at once as there are cores

  kj::String generations();
  kj::Promise<void> layer(UnpackResult& r, kj::Own<LayerStep> step, kj::Promise<void> in,
                          kj::Promise<void> committedBelow);
  kj::Promise<void> prepare(LayerStep& s, kj::StringPtr parent);
  kj::Promise<void> apply(LayerStep& s);
  kj::Promise<void> stack(UnpackResult& r, LayerStep& s);
  kj::Promise<void> removeLeftover(kj::String key, uint32_t attempt);
};

}  // namespace ctrd
