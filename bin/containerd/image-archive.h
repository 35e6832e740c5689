// Images in and out of one namespace as image archives. Export walks each image (image-walk.h)
// over what the namespace holds and has containerd-content write the OCI layout tar to the
// caller's fd. Import has containerd-content read the tar into the blob store, then records the
// blobs (under a lease), names the images as containerd's `ctr images import` does, labels and
// unpacks them as a pull would (image-recorder.h).
#pragma once

#include <capnp/capability.h>
#include <kj/async.h>
#include <schema/images.capnp.h>

namespace ctrd {

struct Backends;

using ExportCallContext =
    capnp::CallContext<schema::Images::ExportParams, schema::Images::ExportResults>;
using ImportCallContext =
    capnp::CallContext<schema::Images::ImportParams, schema::Images::ImportResults>;

kj::Promise<void> exportImages(Backends& backends, kj::StringPtr ns, ExportCallContext context);
kj::Promise<void> importImages(Backends& backends, kj::StringPtr ns,
                               const kj::Maybe<kj::String>& lease, ImportCallContext context);
// Under the caller's lease if there is one, else under one of its own that goes when the import
// ends.

kj::String importedName(kj::StringPtr imageName, kj::StringPtr refName, kj::StringPtr base,
                        bool filter);
// containerd's naming of an archive's image: its io.containerd.image.name as it is; else a
// bare-tag OCI ref name ("latest") under `base` ("base:latest"), a full one as it is unless
// `filter` and it is not under `base`. Empty: the image gets no name.

}  // namespace ctrd
