@0xe3c49cd2e347cc99;
# Leases that protect work in progress from garbage collection.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

interface Leases {
  # Its methods arrive with the issue that builds this service; until then the daemon answers
  # calls for it with a `not implemented` error.
}
