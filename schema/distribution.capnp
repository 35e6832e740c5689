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

  fetch @1 (descriptor :Types.Descriptor, ref :Text) -> (size :Int64, existed :Bool);
  # Downloads a manifest, index, config or layer into the ingest `ref`, hashing while it
  # streams; resumes a partial ingest with a Range request; retries 5xx answers, resets and
  # timeouts with backoff. Commits only when the size and digest match the descriptor: on a
  # mismatch the ingest is dropped and nothing is stored. The bytes are downloaded and verified even
  # when the store has the blob already (for another namespace); `existed` then says so.
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
}

struct ImageDocument {
  union {
    index @0 :Index;
    manifest @1 :Manifest;
    config @2 :ImageConfig;
  }
}
