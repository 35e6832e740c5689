@0xbf655d10b77e4573;
# The content store: blobs named by their digest, ingests that become blobs once verified.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

using Types = import "types.capnp";
using Service = import "service.capnp";
using Distribution = import "distribution.capnp";

struct Info {
  digest @0 :Text;
  size @1 :Int64;
  createdAt @2 :Int64;   # nanoseconds since the epoch
  updatedAt @3 :Int64;
  labels @4 :List(Types.Label);
}

struct Status {
  ref @0 :Text;
  offset @1 :Int64;      # bytes on disk, hashed or not
  total @2 :Int64;       # the expected size, 0 when unknown
  expected @3 :Text;     # the expected digest, empty when unknown
  startedAt @4 :Int64;
  updatedAt @5 :Int64;
}

interface Blob {
  # A committed blob. Local callers take its read-only fd (the capability carries one); others
  # read it in pieces.
  size @0 () -> (size :Int64);
  read @1 (offset :Int64, size :Int64) -> (data :Data);
  # At most 1 MiB per call; fewer bytes only at the end of the blob.
}

interface Source {
  # A caller's file descriptor to read from (the capability carries it): a file, a pipe, stdin.
}

interface Sink {
  # A caller's file descriptor to write to (the capability carries it): a file, a pipe, stdout.
}

struct ArchiveImage {
  # One image of an image archive: its name (empty for an unnamed one) and what it points at.
  name @0 :Text;
  target @1 :Types.Descriptor;
  dockerManifest @2 :Text;
  # Export only: the manifest `manifest.json` lists for it (the platform's, under an index);
  # empty for none.
  refName @3 :Text;
  # Import only: the OCI ref name annotation of an entry with no io.containerd.image.name (then
  # `name` is empty); what it becomes is the caller's choice (containerd's --base-name).
}

interface Writer {
  # One ingest, held by one writer at a time. Dropping the writer keeps what was written: a new
  # writer for the same ref resumes from the offset on disk.
  write @0 (data :Data) -> stream;
  copyFrom @1 (source :Source) -> (written :Int64);
  # Reads `source` to its end, hashing while it copies. A source that already gave the first
  # `offset` bytes of a resumed ingest is positioned past them (seeked, or those bytes skipped).
  status @2 () -> (status :Status);
  commit @3 (size :Int64, digest :Text, labels :List(Types.Label))
      -> (digest :Text, size :Int64, existed :Bool);
  # Verifies `size` and `digest` (either may be empty/0, then the expected values given when the
  # writer was opened apply) and makes the blob visible under its digest. On a mismatch nothing
  # is stored and the ingest stays for a retry or an abort. The namespaced store fails with
  # `already exists` when the namespace has the blob; the global store answers `existed` when
  # the bytes were stored already (it keeps the stored blob and drops the ingest).
  abort @4 ();
}

interface Content {
  # The content store as one namespace sees it: only the blobs this namespace ingested or pulled,
  # with this namespace's labels.
  info @0 (digest :Text) -> (info :Info);
  list @1 (filters :List(Text)) -> (infos :List(Info));
  # containerd's filter syntax: `digest==sha256:...`, `labels."k"==v`, `labels.k~=regex`;
  # a comma means and, several filters mean or.
  update @2 (digest :Text, labels :List(Types.Label), fieldpaths :List(Text)) -> (info :Info);
  # Replaces the labels named by `fieldpaths` (`labels.KEY`; `labels` for all of them); an empty
  # value removes a label.
  delete @3 (digest :Text);
  read @4 (digest :Text) -> (blob :Blob);
  status @5 (ref :Text) -> (status :Status);
  listStatuses @6 (filters :List(Text)) -> (statuses :List(Status));
  abort @7 (ref :Text);
  writer @8 (ref :Text, expectedDigest :Text, expectedSize :Int64) -> (writer :Writer);
}

interface ContentStore extends(Service.Service) {
  # What containerd-content serves to the supervisor: the global blob store, without namespaces
  # or labels (containerd keeps those in meta.db).
  stat @0 (digest :Text) -> (size :Int64, createdAt :Int64);
  list @1 () -> (infos :List(Info));
  delete @2 (digest :Text);
  read @3 (digest :Text) -> (blob :Blob);
  status @4 (ref :Text) -> (status :Status);
  listStatuses @5 (prefix :Text) -> (statuses :List(Status));
  abort @6 (ref :Text);
  writer @7 (ref :Text, expectedDigest :Text, expectedSize :Int64) -> (writer :Writer);

  distribution @8 () -> (distribution :Distribution.Distribution);
  # Registries and image documents: served by the same process, which alone speaks HTTP and
  # parses JSON, but a contract of their own.

  exportArchive @9 (sink :Sink, images :List(ArchiveImage), blobs :List(Types.Descriptor))
      -> (size :Int64);
  # Writes an OCI image layout as a tar to `sink`: every blob under blobs/<alg>/<hex>, index.json
  # naming each image (containerd's io.containerd.image.name and the OCI ref name), oci-layout,
  # and Docker's manifest.json for the images with a `dockerManifest`. The caller has checked
  # that its namespace holds every blob.

  importArchive @10 (source :Source, owner :Text)
      -> (images :List(ArchiveImage), blobs :List(Types.Descriptor));
  # Reads an OCI image layout or a `docker save` tar (plain, gzip or zstd) from `source`. Every
  # file goes into the blob store through an ingest of `owner`'s, hashed as it streams; a file
  # under blobs/ must match the digest its name says. Paths in the tar are names to look up,
  # never paths to write. The layout's documents are size-capped and the entries counted;
  # anything malformed is `invalid argument` naming it. For a docker tar each image's manifest
  # is written here (its layers as they are: a plain layer stays plain). `blobs` is everything
  # stored, for the caller to record (until then only its lease on collection protects them:
  # the supervisor sweeps no unrecorded bytes while an import runs).
}
