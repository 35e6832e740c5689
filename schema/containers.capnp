@0xffcc0e44e0bc0b6c;
# Container records, bound to one namespace.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

interface Containers {
  # Its methods arrive with the issue that builds this service; until then the daemon answers
  # calls for it with a `not implemented` error.
}
