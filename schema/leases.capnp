@0xe3c49cd2e347cc99;
# Leases that protect work in progress from garbage collection, bound to one namespace.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

using Types = import "types.capnp";

struct Lease {
  id @0 :Text;
  createdAt @1 :Int64;
  labels @2 :List(Types.Label);
  # `containerd.io/gc.expire` (RFC 3339): when the lease stops protecting anything.
}

struct Resource {
  id @0 :Text;              # a digest, an ingest ref or a snapshot key
  type @1 :Text;            # "content", "ingests", "snapshots/<snapshotter>"
}

interface Leases {
  create @0 (id :Text, labels :List(Types.Label)) -> (lease :Lease);
  # An empty id asks for a generated one. `already exists` when the id is taken.
  delete @1 (id :Text, sync :Bool) -> (gc :Types.GcReport);
  # `sync`: returns once garbage collection has run, with its report.
  list @2 (filters :List(Text)) -> (leases :List(Lease));
  # Fields: id, labels.KEY.
  addResource @3 (id :Text, resource :Resource);
  deleteResource @4 (id :Text, resource :Resource);
  listResources @5 (id :Text) -> (resources :List(Resource));
}
