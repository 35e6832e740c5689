@0x9b3bc856e363c74a;
# Apply and compute layers.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

interface Diff {
  # Its methods arrive with the issue that builds this service; until then the daemon answers
  # calls for it with a `not implemented` error.
}
