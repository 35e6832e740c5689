@0xba0de86343a31d11;
# What every service process (containerd-content, -snapshot, -diff, -tasks) answers, whoever
# started it: the supervisor over a socketpair, or systemd over a listening socket.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

struct ProcessInfo {
  name @0 :Text;        # executable name, e.g. "containerd-content"
  version @1 :Text;
  revision @2 :Text;
  pid @3 :Int32;
  uid @4 :UInt32;
  gid @5 :UInt32;
}

interface Service {
  info @0 () -> (info :ProcessInfo);
}
