@0xc095c88b5316d17a;
# Structs shared by every interface.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

struct Label {
  key @0 :Text;
  value @1 :Text;
}

struct Descriptor {
  mediaType @0 :Text;
  digest @1 :Text;
  size @2 :Int64;
  annotations @3 :List(Label);
  platform @4 :Platform;   # set only in an index's list of manifests
}

struct Platform {
  os @0 :Text;
  architecture @1 :Text;
  variant @2 :Text;
}

struct Mount {
  type @0 :Text;
  source @1 :Text;
  target @2 :Text;
  options @3 :List(Text);
}


struct GcReport {
  # What one garbage collection freed, as `--sync` callers get it back.
  blobs @0 :UInt32;        # blob records removed from namespaces
  blobsFreed @1 :UInt32;   # of those, blobs no namespace held any more: their bytes went
  bytesFreed @2 :Int64;
  snapshots @3 :UInt32;
  leases @4 :UInt32;       # expired leases removed
  nanoseconds @5 :Int64;   # from its start to its end
  longestPause @6 :Int64;  # nanoseconds: the longest one step of it held the daemon's event loop
}
