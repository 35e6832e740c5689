@0xebf29c2c20d03abf;
# The public bootstrap interface served on <state>/containerd.sock.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

using Service = import "service.capnp";
using Types = import "types.capnp";
using Content = import "content.capnp".Content;
using Snapshots = import "snapshots.capnp".Snapshots;
using Images = import "images.capnp".Images;
using Containers = import "containers.capnp".Containers;
using Tasks = import "tasks.capnp".Tasks;
using Leases = import "leases.capnp".Leases;
using Diff = import "diff.capnp".Diff;
using Events = import "events.capnp".Events;

interface Containerd {
  namespace @0 (name :Text) -> (ns :Namespace);
  # A capability bound to one namespace. Fails with `invalid argument` for a malformed name.

  namespaces @1 () -> (admin :Namespaces);

  version @2 () -> (daemon :Service.ProcessInfo, processes :List(ProcessState));
  # The supervisor's own identity and every service process it knows of.

  events @3 () -> (events :Events);

  plugins @4 () -> (plugins :List(ProcessState));
  # The services and their state, for `ctr plugins ls` and `ctr info`.

  collectGarbage @5 () -> (report :Types.GcReport);
  # A full garbage collection of every namespace, started after this call; returns its report.

  userNamespace @6 () -> (holder :Int32);
  # A rootless daemon's: the process whose user and mount namespaces its snapshots live in, the
  # ones `ctr images mount` joins to mount there. `not found` from a daemon run by root.
}

struct ProcessState {
  type @0 :Text;               # containerd's plugin type, e.g. "io.containerd.content.v1"
  info @1 :Service.ProcessInfo;  # name always set; the rest only while it runs
  state @2 :State;
  restarts @3 :UInt32;         # how many times the supervisor restarted it
  lastError @4 :Text;          # why it last stopped, empty if it never did
  external @5 :Bool;           # connected to, not spawned (systemd units)

  enum State {
    running @0;
    starting @1;
    restarting @2;
    unavailable @3;
  }
}

interface Namespace {
  content @0 () -> (store :Content);
  snapshots @1 (snapshotter :Text) -> (snapshots :Snapshots);
  images @2 () -> (images :Images);
  containers @3 () -> (containers :Containers);
  tasks @4 () -> (tasks :Tasks);
  leases @5 () -> (leases :Leases);
  diff @6 () -> (diff :Diff);
  name @7 () -> (name :Text);
  withLease @8 (id :Text) -> (ns :Namespace);
  # The same namespace, with what its content, snapshots and diff services create (blobs,
  # snapshots) recorded in the lease, kept from garbage collection while the lease lives, as
  # containerd's `containerd-lease` header does. `not found` when the lease does not exist.
  events @9 () -> (events :Events);
  # This namespace's events only (the bootstrap's `events` sees every namespace's).
}

struct NamespaceInfo {
  name @0 :Text;
  labels @1 :List(Types.Label);
  # `containerd.io/defaults/snapshotter` and `containerd.io/defaults/runtime` set the namespace's
  # defaults.
}

interface Namespaces {
  # Create, list, label and remove namespaces. A namespace also comes into being on first use.
  get @0 (name :Text) -> (namespace :NamespaceInfo);
  list @1 (filters :List(Text)) -> (namespaces :List(NamespaceInfo));
  create @2 (namespace :NamespaceInfo) -> (namespace :NamespaceInfo);
  update @3 (namespace :NamespaceInfo, fieldpaths :List(Text)) -> (namespace :NamespaceInfo);
  delete @4 (name :Text);
  # `failed precondition` naming what remains (images, blobs, snapshots, containers, leases)
  # unless the namespace is empty.
}
