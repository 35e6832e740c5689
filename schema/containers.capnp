@0xffcc0e44e0bc0b6c;
# Container records, bound to one namespace: metadata only, no process (that is a task).

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

using Types = import "types.capnp";

struct Container {
  id @0 :Text;              # an identifier, unique in the namespace
  image @1 :Text;           # the image name it was made from; may be empty (--rootfs)
  runtime @2 :Runtime;
  spec @3 :Data;            # the OCI runtime spec, JSON, as `runc` reads it
  snapshotter @4 :Text;
  snapshotKey @5 :Text;     # its root filesystem: an active snapshot; empty with --rootfs
  labels @6 :List(Types.Label);
  createdAt @7 :Int64;      # nanoseconds since the epoch
  updatedAt @8 :Int64;

  struct Runtime {
    name @0 :Text;          # "io.containerd.runc.v2"
    binary @1 :Text;        # the OCI runtime the shim drives: "runc" (default) or "crun"
  }
}

interface Containers {
  get @0 (id :Text) -> (container :Container);
  list @1 (filters :List(Text)) -> (containers :List(Container));
  # Fields: id, image, runtime.name, snapshotter, labels.KEY.
  create @2 (container :Container) -> (container :Container);
  # `already exists` when the id is taken. The snapshot must exist already (the client prepares
  # it from the image's chain ID, as containerd's WithNewSnapshot does).
  update @3 (container :Container, fieldpaths :List(Text)) -> (container :Container);
  # fieldpaths: "labels", "labels.KEY", "spec", "image", "snapshotkey"; none means all of them.
  delete @4 (id :Text, keepSnapshot :Bool);
  # Removes the record and, unless `keepSnapshot`, its snapshot. `failed precondition` while
  # the container has a task.
}
