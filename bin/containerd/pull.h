// Pulling an image into one namespace: resolve through containerd-content's registry client,
// walk the image (fetching each node before it is read, layers concurrently), unpack each
// image the platforms want (unpacker.h), label the blobs for garbage collection as containerd
// does, record the image. Progress goes to the caller as a table; download offsets arrive from
// the content service as it writes.
#pragma once

#include <capnp/capability.h>
#include <kj/async.h>
#include <schema/images.capnp.h>

namespace ctrd {

struct Backends;

using PullCallContext = capnp::CallContext<schema::Images::PullParams, schema::Images::PullResults>;

kj::Promise<void> pullImage(Backends& backends, kj::StringPtr ns,
                            const kj::Maybe<kj::String>& lease, PullCallContext context);
// Under the caller's lease if there is one, else under a lease of its own (24 hours, as
// containerd's client takes) that goes when the image holds what it needs, or when the pull
// fails other than by a service stopping (then it keeps what came in for the next pull).

}  // namespace ctrd
