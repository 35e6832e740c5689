// Image references as containerd reads them: `busybox` is docker.io/library/busybox:latest,
// `127.0.0.1:5000/x:1` names its own host, `x@sha256:...` pins a digest.
#pragma once

#include <kj/string.h>

namespace ctrd::oci {

struct Reference {
  kj::String domain;  // "docker.io", "127.0.0.1:5000", "localhost"
  kj::String path;    // "library/busybox"
  kj::Maybe<kj::String> tag;
  kj::Maybe<kj::String> digest;

  kj::String name() const;
  // domain/path
  kj::String toString() const;
  // The canonical form: domain/path[:tag][@digest].
};

Reference parseReference(kj::StringPtr text);
// Normalizes like containerd's ParseDockerRef: a name without a domain is on docker.io, a
// single docker.io component gets "library/", and a reference with neither tag nor digest gets
// ":latest". Throws `invalid argument` naming the reference and what is wrong with it.

kj::String familiarName(kj::StringPtr name);
// As Docker shows it (its manifest.json's RepoTags): docker.io/library/busybox:latest is
// busybox:latest; other registries keep their host. Throws as parseReference does.
kj::String ociReferenceName(kj::StringPtr name);
// The OCI ref name annotation for an image name: what follows the repository ("latest",
// "1@sha256:...", "@sha256:..."), or the name itself when it is no reference.

}  // namespace ctrd::oci
