// Image archives: the OCI image layout (`oci-layout`, `index.json`) and Docker's `docker save`
// `manifest.json`, parsed from untrusted bytes (each capped as manifest.h's documents are) and
// written for export, with the names containerd gives images in them.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <kj/vector.h>

#include "manifest.h"

namespace ctrd::oci {

constexpr kj::StringPtr LAYOUT_VERSION = "1.0.0"_kj;
constexpr kj::StringPtr ANNOTATION_IMAGE_NAME = "io.containerd.image.name"_kj;
constexpr kj::StringPtr ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"_kj;

kj::String parseLayoutVersion(kj::ArrayPtr<const kj::byte> bytes);
// `oci-layout`'s imageLayoutVersion.

struct LayoutEntry {
  Descriptor descriptor;  // with its platform, when the index gives one
  kj::String imageName;   // io.containerd.image.name, or empty
  kj::String refName;     // org.opencontainers.image.ref.name, or empty
};
kj::Vector<LayoutEntry> parseLayoutIndex(kj::ArrayPtr<const kj::byte> bytes);
kj::String layoutIndexJson(kj::ArrayPtr<const LayoutEntry> entries);
// An OCI index naming each entry with both annotations (those left empty are left out).
kj::String layoutFileJson();

struct ArchiveManifest {
  // One image of Docker's manifest.json: paths inside the archive.
  kj::String config;
  kj::Vector<kj::String> repoTags;
  kj::Vector<kj::String> layers;
};
kj::Vector<ArchiveManifest> parseArchiveManifest(kj::ArrayPtr<const kj::byte> bytes);
kj::String archiveManifestJson(kj::ArrayPtr<const ArchiveManifest> manifests);

kj::String manifestJson(kj::StringPtr mediaType, const Descriptor& config,
                        kj::ArrayPtr<const Descriptor> layers);
// A schema 2 image manifest, as an import of a docker tar writes one.

}  // namespace ctrd::oci
