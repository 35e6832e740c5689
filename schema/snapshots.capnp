@0x9fe223ff551fbf03;
# Snapshotters: copy-on-write directory trees for image layers and container root filesystems,
# in containerd's model (active, committed and view snapshots in one key space).

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

using Types = import "types.capnp";
using Service = import "service.capnp";

enum Kind {
  unknown @0;
  view @1;
  active @2;
  committed @3;
}

struct SnapshotInfo {
  name @0 :Text;       # the key (active, view) or the committed name
  parent @1 :Text;     # empty for none
  kind @2 :Kind;
  labels @3 :List(Types.Label);
  createdAt @4 :Int64;
  updatedAt @5 :Int64;
}

struct Usage {
  size @0 :Int64;      # bytes of disk used (blocks), as du counts them
  inodes @1 :Int64;
}

interface Directory {
  # An O_DIRECTORY file descriptor (the capability carries it).
}

struct Traits {
  layered @0 :Bool;
  # The writable directory of an active snapshot holds only its changes over its parents (an
  # overlay upper directory): whiteouts are overlayfs's marks, and a layer may be applied into
  # an empty snapshot and put onto its parents afterwards (`rebase`), so layers apply in
  # parallel. False: each snapshot starts as a full copy of its parent (native): whiteouts
  # delete, and layers apply in order.
}

interface Snapshots {
  # One snapshotter. Through the public API it is bound to a namespace: keys of different
  # namespaces never meet, and two namespaces may use the same key.
  prepare @0 (key :Text, parent :Text, labels :List(Types.Label)) -> (mounts :List(Types.Mount));
  view @1 (key :Text, parent :Text, labels :List(Types.Label)) -> (mounts :List(Types.Mount));
  mounts @2 (key :Text) -> (mounts :List(Types.Mount));
  commit @3 (name :Text, key :Text, labels :List(Types.Label));
  remove @4 (key :Text);
  stat @5 (key :Text) -> (info :SnapshotInfo);
  update @6 (key :Text, labels :List(Types.Label), fieldpaths :List(Text)) -> (info :SnapshotInfo);
  usage @7 (key :Text) -> (usage :Usage);
  list @8 (filters :List(Text)) -> (infos :List(SnapshotInfo));
  # containerd's filter syntax on name, parent, kind and labels.
  cleanup @9 ();
  # Removes directories no snapshot owns (left by a crash).
  writableDir @10 (key :Text) -> (dir :Directory, parents :List(Directory));
  # An active snapshot's writable directory (the overlay upperdir) for writing beneath without
  # mounting, and read-only directories of its parents, newest first.

  rebase @11 (key :Text, parent :Text);
  # Puts the active snapshot `key` onto the committed snapshot `parent` (layered only: an upper
  # directory does not depend on what lies below it). Lets a pull apply layers in parallel, each
  # into its own directory, and stack them in order afterwards.

  traits @12 () -> (traits :Traits);
}

interface SnapshotStore extends(Service.Service) {
  # What containerd-snapshot serves to the supervisor: each snapshotter over one global key
  # space (containerd prefixes keys with the namespace).
  snapshotter @0 (name :Text) -> (snapshots :Snapshots);
  # "overlayfs" or "native"; anything else is `not found`.
}
