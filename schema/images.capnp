@0xef4952a423965b35;
# Image records, bound to one namespace, and pulling them from registries.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

using Types = import "types.capnp";
using Distribution = import "distribution.capnp";
using Content = import "content.capnp";

struct Image {
  name @0 :Text;
  target @1 :Types.Descriptor;
  labels @2 :List(Types.Label);
  createdAt @3 :Int64;   # nanoseconds since the epoch
  updatedAt @4 :Int64;
}

struct PullOptions {
  platforms @0 :List(Text);     # empty: this host's
  allPlatforms @1 :Bool;        # fetch every manifest of an index (unpack only `platforms`)
  unpack @2 :Bool;
  snapshotter @3 :Text;         # empty: overlayfs
  maxConcurrentDownloads @4 :UInt32;   # 0: 3
  resolver @5 :Distribution.ResolverConfig;
}

struct PushOptions {
  resolver @0 :Distribution.ResolverConfig;
  maxConcurrentUploads @1 :UInt32;   # 0: 3
  platforms @2 :List(Text);
  # Empty: everything the image holds, every manifest of an index (each must be here). Else the
  # manifest for the platform is what is pushed, without the index above it.
}

struct ExportOptions {
  platforms @0 :List(Text);   # empty: this host's
  allPlatforms @1 :Bool;      # every manifest of an index (each must be here)
  skipManifestJson @2 :Bool;  # no Docker manifest.json
}

struct ImportOptions {
  baseName @0 :Text;
  # Names given as a bare tag in the archive ("latest") become BASE:TAG, and only full names
  # under BASE are kept; empty: "import-YYYY-MM-DD" is the base and every full name is kept.
  digests @1 :Bool;           # also record each image as BASE@DIGEST
  allPlatforms @2 :Bool;      # keep every platform's content (unpack only `platforms`)
  platforms @3 :List(Text);   # empty: this host's
  unpack @4 :Bool;
  snapshotter @5 :Text;       # empty: overlayfs
}

struct ProgressItem {
  ref @0 :Text;          # "manifest-sha256:...", "layer-sha256:...", or the image name
  status @1 :Status;
  offset @2 :Int64;
  total @3 :Int64;

  enum Status {
    resolving @0;
    resolved @1;
    waiting @2;
    downloading @3;
    done @4;
    exists @5;
    uploading @6;
  }
}

interface Progress {
  # The caller's: the pull reports the whole table, at most every 100 ms and once at the end.
  update @0 (items :List(ProgressItem));
}

struct Unpacked {
  platform @0 :Text;
  manifest @1 :Text;     # digest
  chainId @2 :Text;      # the top snapshot, committed under this name
  applied @3 :UInt32;    # layers applied (the others were unpacked already)
  nanoseconds @4 :Int64; # from the first apply to the last commit
}

struct ImageUsage {
  platforms @0 :List(Types.Platform);  # every platform the image offers
  size @1 :Int64;          # index, manifest, config and layers for the chosen platform
  present @2 :Int64;       # of `size`, the bytes this namespace holds
  blobs @3 :UInt32;        # how many blobs `size` counts
  presentBlobs @4 :UInt32;
  complete @5 :Bool;       # every blob is present (a missing manifest hides its layers)
  chainId @6 :Text;        # empty when the config is missing
  unpacked @7 :Bool;       # `chainId` is a committed snapshot in the snapshotter asked about
  config @8 :Distribution.ImageConfig;
  # The chosen platform's config, as containerd-content parsed it: what a container made from
  # the image runs (env, entrypoint, cmd, working directory, user, stop signal). Unset when the
  # config is missing.
}

interface Images {
  get @0 (name :Text) -> (image :Image);
  list @1 (filters :List(Text)) -> (images :List(Image));
  # Fields: name, target.digest, target.mediatype, labels.KEY.
  create @2 (image :Image) -> (image :Image);
  # `already exists` when the name is taken.
  update @3 (image :Image, fieldpaths :List(Text)) -> (image :Image);
  # fieldpaths: "target", "labels", "labels.KEY"; none means the target and all labels.
  delete @4 (name :Text, sync :Bool) -> (gc :Types.GcReport);
  # Garbage collection follows (debounced); with `sync`, it returns once a full collection
  # that started after the deletion has run, with its report.

  pull @5 (ref :Text, options :PullOptions, progress :Progress)
      -> (image :Image, unpacked :List(Unpacked));
  # Resolves `ref`, fetches what the platforms need (layers concurrently, each verified as it
  # streams), records the image and, with `unpack`, applies each layer under its chain ID as
  # soon as it and its parent are in, checking diff IDs against the config.

  usage @6 (name :Text, platform :Text, snapshotter :Text) -> (usage :ImageUsage);
  # What `ctr images ls` and `check` show, and what a container is made from. `platform` empty:
  # this host's.

  push @7 (remote :Text, local :Text, options :PushOptions, progress :Progress)
      -> (descriptor :Types.Descriptor);
  # Pushes the image `local` names to `remote`, blobs first (several at once), then manifests,
  # then the index: every object the registry lacks is uploaded, one it has is not, one another
  # repository of the same registry has (the blob's distribution.source label) is mounted from
  # there. `remote` without a tag pushes the top by its digest. Every object must be in this
  # namespace: a missing one is `not found`, naming it, before anything is sent. Returns what
  # was pushed as the top.

  pushObject @8 (remote :Text, descriptor :Types.Descriptor, options :PushOptions)
      -> (outcome :Distribution.Registry.PushOutcome);
  # One blob (or manifest, by its media type) of this namespace's: containerd's push-object.

  export @9 (names :List(Text), options :ExportOptions, sink :Content.Sink) -> (size :Int64);
  # Writes the images `names` name, and what they hold for the platforms asked, to `sink` as an
  # OCI image layout tar (containerd-content writes it from the blobs' fds). Every object must
  # be in this namespace: a missing one is `not found`, naming it, before a byte is written.

  import @10 (source :Content.Source, options :ImportOptions)
      -> (images :List(Image), unpacked :List(Unpacked));
  # Reads an OCI image layout or `docker save` tar from `source` into this namespace (verified
  # as it streams, held by a lease until the images hold it), records its named images (an
  # existing name is moved to the imported target) and, with `unpack`, unpacks each for the
  # platforms, as a pull does.
}
