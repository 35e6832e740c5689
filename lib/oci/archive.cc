#include "archive.h"

#include "json-document.h"

namespace ctrd::oci {

using namespace documents;

namespace {

json descriptorJson(const Descriptor& d) {
  json out = {{"mediaType", d.mediaType.cStr()}, {"digest", d.digest.cStr()}, {"size", d.size}};
  KJ_IF_MAYBE(p, d.platform) {
    json platform = {{"os", p->os.cStr()}, {"architecture", p->architecture.cStr()}};
    if (p->variant.size() > 0) platform["variant"] = p->variant.cStr();
    out["platform"] = kj::mv(platform);
  }
  return out;
}

kj::String dump(const json& doc) {
  return kj::str(doc.dump().c_str());
}

}  // namespace

kj::String parseLayoutVersion(kj::ArrayPtr<const kj::byte> bytes) {
  auto doc = parseDocument(bytes, "oci-layout");
  return stringField(doc, "imageLayoutVersion", "oci-layout", true);
}

kj::Vector<LayoutEntry> parseLayoutIndex(kj::ArrayPtr<const kj::byte> bytes) {
  auto doc = parseDocument(bytes, "index.json");
  auto manifests = doc.find("manifests");
  if (manifests == doc.end() || !manifests->is_array()) bad("index.json", "missing \"manifests\"");
  kj::Vector<LayoutEntry> out;
  for (auto& m : *manifests) {
    LayoutEntry entry{descriptor(m, "index.json"), kj::str(), kj::str()};
    auto annotations = m.find("annotations");
    if (annotations != m.end() && annotations->is_object()) {
      entry.imageName =
          stringField(*annotations, ANNOTATION_IMAGE_NAME.cStr(), "index.json", false);
      entry.refName = stringField(*annotations, ANNOTATION_REF_NAME.cStr(), "index.json", false);
    }
    out.add(kj::mv(entry));
  }
  return out;
}

kj::String layoutIndexJson(kj::ArrayPtr<const LayoutEntry> entries) {
  json manifests = json::array();
  for (auto& e : entries) {
    auto d = descriptorJson(e.descriptor);
    json annotations = json::object();
    if (e.imageName.size() > 0) annotations[ANNOTATION_IMAGE_NAME.cStr()] = e.imageName.cStr();
    if (e.refName.size() > 0) annotations[ANNOTATION_REF_NAME.cStr()] = e.refName.cStr();
    if (!annotations.empty()) d["annotations"] = kj::mv(annotations);
    manifests.push_back(kj::mv(d));
  }
  return dump({{"schemaVersion", 2},
               {"mediaType", mediatypes::OCI_INDEX.cStr()},
               {"manifests", kj::mv(manifests)}});
}

kj::String layoutFileJson() {
  return dump({{"imageLayoutVersion", LAYOUT_VERSION.cStr()}});
}

kj::Vector<ArchiveManifest> parseArchiveManifest(kj::ArrayPtr<const kj::byte> bytes) {
  auto doc = parseDocument(bytes, "manifest.json", true);
  kj::Vector<ArchiveManifest> out;
  for (auto& m : doc) {
    if (!m.is_object()) bad("manifest.json", "an entry is not an object");
    out.add(ArchiveManifest{stringField(m, "Config", "manifest.json", true),
                            stringList(m, "RepoTags", "manifest.json"),
                            stringList(m, "Layers", "manifest.json")});
  }
  return out;
}

kj::String archiveManifestJson(kj::ArrayPtr<const ArchiveManifest> manifests) {
  json out = json::array();
  for (auto& m : manifests) {
    json tags = json::array(), layers = json::array();
    for (auto& t : m.repoTags) tags.push_back(t.cStr());
    for (auto& l : m.layers) layers.push_back(l.cStr());
    out.push_back({{"Config", m.config.cStr()}, {"RepoTags", tags}, {"Layers", layers}});
  }
  return dump(out);
}

kj::String manifestJson(kj::StringPtr mediaType, const Descriptor& config,
                        kj::ArrayPtr<const Descriptor> layers) {
  json list = json::array();
  for (auto& l : layers) list.push_back(descriptorJson(l));
  return dump({{"schemaVersion", 2},
               {"mediaType", mediaType.cStr()},
               {"config", descriptorJson(config)},
               {"layers", kj::mv(list)}});
}

}  // namespace ctrd::oci
