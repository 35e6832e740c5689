// Pushing an image of one namespace to a registry: walk what the namespace holds (image-walk.h),
// then upload through containerd-content's registry client, blobs first (several at once), then
// manifests, then the index, so that the registry never sees a reference to what it lacks.
#pragma once

#include <capnp/capability.h>
#include <kj/async.h>
#include <schema/images.capnp.h>

namespace ctrd {

struct Backends;

using PushCallContext = capnp::CallContext<schema::Images::PushParams, schema::Images::PushResults>;
using PushObjectCallContext =
    capnp::CallContext<schema::Images::PushObjectParams, schema::Images::PushObjectResults>;

kj::Promise<void> pushImage(Backends& backends, kj::StringPtr ns, PushCallContext context);
kj::Promise<void> pushObject(Backends& backends, kj::StringPtr ns, PushObjectCallContext context);

}  // namespace ctrd
