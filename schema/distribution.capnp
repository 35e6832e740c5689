@0xf48d50b76f5fd2bc;
# Registries (OCI distribution, Docker registry v2) and the image documents fetched from them.
# Only containerd-content talks HTTP and parses what a registry sent; every other process sees
# these structs.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

using Types = import "types.capnp";

struct RegistryEndpoint {
  # One host from a hosts.toml (containerd's hosts directory format), mirrors first.
  url @0 :Text;            # the API base: "https://registry-1.docker.io/v2", "http://127.0.0.1:5000/v2"
  pull @1 :Bool;
  resolve @2 :Bool;
  push @3 :Bool;
  skipVerify @4 :Bool;
  caPem @5 :Data;          # extra CA certificates, PEM: the bytes, never a path
  headers @6 :List(Types.Label);
}

struct Credential {
  host @0 :Text;           # "127.0.0.1:5000", "docker.io"
  username @1 :Text;
  secret @2 :Text;
}

struct ResolverConfig {
  endpoints @0 :List(RegistryEndpoint);
  # Empty: the reference's own host over HTTPS (plain HTTP for localhost names and with
  # `plainHttp`); docker.io is registry-1.docker.io.
  credentials @1 :List(Credential);
  plainHttp @2 :Bool;
  skipVerify @3 :Bool;
}

interface Registry {
  # One repository on one registry, reached as `ResolverConfig` says. Bearer tokens are cached
  # here, per scope, for as long as the capability lives.
  resolve @0 () -> (name :Text, descriptor :Types.Descriptor);
  # `name` is the normalized reference; the descriptor is the manifest or index it points at.

  fetch @1 (descriptor :Types.Descriptor, owner :Text, progress :FetchProgress)
      -> (size :Int64, existed :Bool);
  # Downloads a manifest, index, config or layer into the blob store, hashing while it streams,
  # through an ingest of `owner`'s (a namespace; the content service names the ingest, and a
  # second fetch of the same blob for the same owner resumes it with a Range request). Retries
  # 5xx answers, resets and timeouts with backoff. Commits only when the size and digest match
  # the descriptor: on a mismatch the ingest is dropped and nothing is stored. The bytes are
  # downloaded and verified even when the store has the blob already (for another namespace);
  # `existed` then says so. `progress` (may be null) hears how far the download is, at most
  # every 100 ms while bytes arrive.

  push @2 (descriptor :Types.Descriptor, tag :Text, mountFrom :Text, progress :FetchProgress)
      -> (outcome :PushOutcome);
  # Uploads a blob, manifest or index from the blob store (the caller has checked that its
  # namespace holds it): a HEAD first, and nothing sent if the registry has it; a blob
  # `mountFrom` names (another repository path on the same registry) is mounted from there when
  # the registry agrees; the bytes go from the blob's fd to libcurl, and the registry checks the
  # digest. A manifest or index goes up under `tag` when set (its digest otherwise). `progress`
  # hears how many bytes went, at most every 100 ms.

  enum PushOutcome {
    uploaded @0;
    existed @1;
    mounted @2;
  }
}

interface FetchProgress {
  # The fetching caller's: how many bytes of the blob are on disk.
  update @0 (offset :Int64);
}

interface Distribution {
  # What containerd-content serves besides blobs: registries, and the image documents they
  # sent, parsed here so that no other process parses registry data.
  registry @0 (reference :Text, config :ResolverConfig) -> (registry :Registry);
  # The repository `reference` names, reached as `config` says. Fails with `invalid argument`
  # for a malformed reference.

  parse @1 (digest :Text, mediaType :Text) -> (document :ImageDocument);
  # A stored index, manifest or config (as `mediaType` says). Size- and nesting-capped; schema 1
  # is `not implemented`.
}

struct Index {
  mediaType @0 :Text;
  manifests @1 :List(Types.Descriptor);   # with their platforms when the index gives them
}

struct Manifest {
  mediaType @0 :Text;
  config @1 :Types.Descriptor;
  layers @2 :List(Types.Descriptor);
}

struct ImageConfig {
  platform @0 :Types.Platform;
  diffIds @1 :List(Text);     # rootfs.diff_ids, one per layer
  env @2 :List(Text);
  entrypoint @3 :List(Text);
  cmd @4 :List(Text);
  workingDir @5 :Text;
  user @6 :Text;
  stopSignal @7 :Text;        # "SIGTERM", "15", or empty for the runtime's default
}

struct ImageDocument {
  union {
    index @0 :Index;
    manifest @1 :Manifest;
    config @2 :ImageConfig;
  }
}
