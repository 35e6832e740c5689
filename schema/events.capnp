@0x9505d96b8e5709b1;
# Daemon-wide events.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

interface Events {
  # Its methods arrive with the issue that builds this service; until then the daemon answers
  # calls for it with a `not implemented` error.
}
