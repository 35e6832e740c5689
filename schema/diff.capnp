@0x9b3bc856e363c74a;
# Applying layers to snapshots (and, later, computing layers from them).

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

using Types = import "types.capnp";
using Service = import "service.capnp";
using Content = import "content.capnp";
using Snapshots = import "snapshots.capnp";

interface Diff {
  # One namespace's differ: layers from its content store onto its snapshots.
  apply @0 (layer :Types.Descriptor, snapshotter :Text, key :Text) -> (applied :Types.Descriptor);
  # Applies the blob `layer` to the active snapshot `key`; returns the uncompressed (diff ID)
  # descriptor. A failed apply leaves the snapshot half-written: remove it, never commit it.
}

interface Differ extends(Service.Service) {
  # What containerd-diff serves. It sees no path: the layer arrives as a blob capability (an
  # fd) and the target and its parents as directory capabilities (fds).
  apply @0 (layer :Types.Descriptor, blob :Content.Blob, target :Snapshots.Directory,
            parents :List(Snapshots.Directory), whiteouts :Whiteouts)
      -> (applied :Types.Descriptor, entries :UInt64);

  enum Whiteouts {
    overlay @0;   # an overlay upperdir: 0:0 character devices and user.overlay.opaque
    delete @1;    # a plain tree (native): whiteouts delete
  }
}
