@0x9fe223ff551fbf03;
# One snapshotter, bound to one namespace.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

interface Snapshots {
  # Its methods arrive with the issue that builds this service; until then the daemon answers
  # calls for it with a `not implemented` error.
}
