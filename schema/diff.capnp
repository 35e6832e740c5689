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
  apply @0 (layer :Types.Descriptor, snapshotter :Text, key :Text)
      -> (applied :Types.Descriptor, implicitDirs :List(Text));
  # Applies the blob `layer` to the active snapshot `key`; returns the uncompressed (diff ID)
  # descriptor. A failed apply leaves the snapshot half-written: remove it, never commit it.
  # `implicitDirs`: directories the layer made only as parents, their owner and mode taken from
  # the snapshot's parents (see inherit).

  diff @1 (snapshotter :Text, key :Text, mediaType :Text, ref :Text, labels :List(Types.Label))
      -> (descriptor :Types.Descriptor);
  # The layer that turns the active snapshot's parent into it, stored in the namespace's
  # content store (labelled containerd.io/uncompressed with its diff ID). mediaType: an OCI
  # layer type, tar or tar+gzip (the default).

  inherit @2 (snapshotter :Text, key :Text, paths :List(Text));
  # Gives the implicit directories an apply reported the owner and mode the snapshot's parents
  # show: for a layer applied before its parents were in place (then rebased onto them).
}

interface Differ extends(Service.Service) {
  # What containerd-diff serves. It sees no path: the layer arrives as a blob capability (an
  # fd) and the target and its parents as directory capabilities (fds).
  apply @0 (layer :Types.Descriptor, blob :Content.Blob, target :Snapshots.Directory,
            parents :List(Snapshots.Directory), whiteouts :Whiteouts)
      -> (applied :Types.Descriptor, entries :UInt64, implicitDirs :List(Text));
  # Runs on a thread of its own: several layers apply at once.

  diff @1 (upper :Snapshots.Directory, lower :Snapshots.Directory, whiteouts :Whiteouts,
           mediaType :Text, writer :Content.Writer) -> (descriptor :Types.Descriptor);
  # overlay: `upper` is an upper directory on its own (`lower` is ignored); delete: `upper` is a
  # full tree compared with the full tree `lower` (null for none). The layer goes to `writer`.

  inherit @2 (target :Snapshots.Directory, parents :List(Snapshots.Directory), paths :List(Text));

  enum Whiteouts {
    overlay @0;   # an overlay upperdir: 0:0 character devices and user.overlay.opaque
    delete @1;    # a plain tree (native): whiteouts delete
  }
}
