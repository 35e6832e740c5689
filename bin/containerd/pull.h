// Pulling an image into one namespace: resolve through containerd-content's registry client,
// fetch what the platforms need (layers concurrently), unpack each layer under its chain ID as
// soon as it and its parent are in, record the image. No registry byte is parsed here: the
// content process hands back Cap'n Proto structs.
#pragma once

#include <capnp/capability.h>
#include <kj/async.h>
#include <kj/map.h>
#include <oci/platform.h>
#include <schema/images.capnp.h>

namespace ctrd {

struct Backends;

using PullCallContext = capnp::CallContext<schema::Images::PullParams, schema::Images::PullResults>;

class Inflight {
  // Work that must happen once even when several callers want it at the same time: two pulls
  // of one image download each blob once and unpack each layer once.
public:
  Inflight() : tasks(errorHandler) {}

  kj::Promise<void> once(kj::String key, kj::Function<kj::Promise<void>()> work);
  // Runs `work`, or waits for the run already in flight under `key`. Once it settles, the next
  // caller runs it again (and finds the blob or snapshot there).

private:
  struct IgnoreErrors final : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&&) override {}
  } errorHandler;
  struct Running {
    uint64_t id;
    kj::ForkedPromise<void> done;
  };
  kj::HashMap<kj::String, Running> running;
  uint64_t nextId = 0;
  void settle(kj::String key, uint64_t id);
  kj::TaskSet tasks;
};

kj::Promise<void> pullImage(Backends& backends, kj::StringPtr ns, PullCallContext context);

kj::String chainId(kj::ArrayPtr<const kj::String> diffIds);
// The identity of a stack of layers: the first diff ID, then sha256("<parent chain> <diff ID>").

oci::Platform platformFrom(schema::Platform::Reader platform);
// Normalized, as matching wants it.

}  // namespace ctrd
