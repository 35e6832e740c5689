#include "manifest.h"

#include <common/digest.h>
#include <common/errors.h>

#include "json-document.h"

namespace ctrd::oci {
namespace documents {

[[noreturn]] void bad(kj::StringPtr what, kj::StringPtr why) {
  throwError(ErrorKind::INVALID_ARGUMENT, kj::str(what, ": ", why));
}

json parseDocument(kj::ArrayPtr<const kj::byte> bytes, kj::StringPtr what, bool list) {
  if (bytes.size() > MAX_DOCUMENT_SIZE) {
    bad(what, kj::str("larger than ", MAX_DOCUMENT_SIZE, " bytes"));
  }
  // The parser recurses per level: bound the depth before it runs, or a document of brackets
  // would exhaust the stack.
  size_t depth = 0;
  bool inString = false, escaped = false;
  for (kj::byte c : bytes) {
    if (inString) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        inString = false;
      }
    } else if (c == '"') {
      inString = true;
    } else if (c == '{' || c == '[') {
      if (++depth > MAX_NESTING) bad(what, kj::str("nested deeper than ", MAX_NESTING, " levels"));
    } else if ((c == '}' || c == ']') && depth > 0) {
      depth--;
    }
  }
  auto doc = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (doc.is_discarded()) bad(what, "not valid JSON");
  if (list ? !doc.is_array() : !doc.is_object()) {
    bad(what, list ? "not a JSON list" : "not a JSON object");
  }
  return doc;
}

kj::String stringField(const json& obj, const char* key, kj::StringPtr what, bool required) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) bad(what, kj::str("missing \"", key, "\""));
    return kj::str();
  }
  if (!it->is_string()) bad(what, kj::str("\"", key, "\" is not a string"));
  return kj::str(it->get<std::string>().c_str());
}

kj::Vector<kj::String> stringList(const json& obj, const char* key, kj::StringPtr what) {
  kj::Vector<kj::String> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) bad(what, kj::str("\"", key, "\" is not a list"));
  for (auto& v : *it) {
    if (!v.is_string()) bad(what, kj::str("\"", key, "\" holds a non-string"));
    out.add(kj::str(v.get<std::string>().c_str()));
  }
  return out;
}

Descriptor descriptor(const json& d, kj::StringPtr what) {
  if (!d.is_object()) bad(what, "a descriptor is not an object");
  Descriptor out{stringField(d, "mediaType", what, true), stringField(d, "digest", what, true), 0,
                 nullptr};
  if (!isValidDigest(out.digest)) bad(what, kj::str("invalid digest \"", out.digest, "\""));
  auto size = d.find("size");
  if (size == d.end() || !size->is_number_integer() || size->get<int64_t>() < 0) {
    bad(what, kj::str("descriptor ", out.digest, ": size missing or negative"));
  }
  out.size = size->get<int64_t>();
  auto platform = d.find("platform");
  if (platform != d.end() && platform->is_object()) {
    out.platform = Platform{stringField(*platform, "os", what, true),
                            stringField(*platform, "architecture", what, true),
                            stringField(*platform, "variant", what, false)};
  }
  return out;
}

}  // namespace documents

namespace {

using namespace documents;

void checkSchemaVersion(const json& doc, kj::StringPtr what) {
  auto v = doc.find("schemaVersion");
  if (v == doc.end() || !v->is_number_integer()) bad(what, "missing schemaVersion");
  if (v->get<int64_t>() == 1) {
    throwError(ErrorKind::NOT_IMPLEMENTED, "Docker schema 1 manifests are not supported");
  }
  if (v->get<int64_t>() != 2) bad(what, kj::str("schemaVersion ", v->get<int64_t>()));
}

}  // namespace

Index parseIndex(kj::ArrayPtr<const kj::byte> bytes) {
  auto doc = parseDocument(bytes, "index");
  checkSchemaVersion(doc, "index");
  Index out{stringField(doc, "mediaType", "index", false), {}};
  auto manifests = doc.find("manifests");
  if (manifests == doc.end() || !manifests->is_array()) bad("index", "missing \"manifests\"");
  for (auto& m : *manifests) out.manifests.add(descriptor(m, "index"));
  return out;
}

Manifest parseManifest(kj::ArrayPtr<const kj::byte> bytes) {
  auto doc = parseDocument(bytes, "manifest");
  checkSchemaVersion(doc, "manifest");
  auto config = doc.find("config");
  if (config == doc.end()) bad("manifest", "missing \"config\"");
  Manifest out{
      stringField(doc, "mediaType", "manifest", false), descriptor(*config, "manifest"), {}};
  auto layers = doc.find("layers");
  if (layers == doc.end() || !layers->is_array()) bad("manifest", "missing \"layers\"");
  for (auto& l : *layers) out.layers.add(descriptor(l, "manifest"));
  return out;
}

ImageConfig parseConfig(kj::ArrayPtr<const kj::byte> bytes) {
  auto doc = parseDocument(bytes, "image config");
  ImageConfig out{Platform{stringField(doc, "os", "image config", true),
                           stringField(doc, "architecture", "image config", true),
                           stringField(doc, "variant", "image config", false)},
                  {},
                  {},
                  {},
                  {},
                  kj::str(),
                  kj::str()};
  auto rootfs = doc.find("rootfs");
  if (rootfs == doc.end() || !rootfs->is_object()) bad("image config", "missing \"rootfs\"");
  out.diffIds = stringList(*rootfs, "diff_ids", "image config");
  for (auto& d : out.diffIds) {
    if (!isValidDigest(d)) bad("image config", kj::str("invalid diff id \"", d, "\""));
  }
  auto config = doc.find("config");
  if (config != doc.end() && config->is_object()) {
    out.env = stringList(*config, "Env", "image config");
    out.entrypoint = stringList(*config, "Entrypoint", "image config");
    out.cmd = stringList(*config, "Cmd", "image config");
    out.workingDir = stringField(*config, "WorkingDir", "image config", false);
    out.user = stringField(*config, "User", "image config", false);
    out.stopSignal = stringField(*config, "StopSignal", "image config", false);
  }
  return out;
}

}  // namespace ctrd::oci
