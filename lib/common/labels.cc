#include "labels.h"

#include <kj/vector.h>
#include <string.h>

#include <nlohmann/json.hpp>

#include "errors.h"

namespace ctrd {

constexpr size_t MAX_LABEL_SIZE = 4096;

void setLabel(Labels& labels, kj::String key, kj::String value) {
  labels.upsert(kj::mv(key), kj::mv(value), [](kj::String& existing, kj::String&& replacement) {
    existing = kj::mv(replacement);
  });
}

void validateLabels(const Labels& labels) {
  for (auto& e : labels) {
    if (e.key.size() == 0) throwError(ErrorKind::INVALID_ARGUMENT, "label key must not be empty");
    if (e.key.size() + e.value.size() > MAX_LABEL_SIZE) {
      throwError(ErrorKind::INVALID_ARGUMENT,
                 kj::str("label key and value greater than maximum size (", MAX_LABEL_SIZE,
                         " bytes), key: ", e.key.slice(0, kj::min(e.key.size(), size_t(64)))));
    }
  }
}

Labels readLabels(capnp::List<schema::Label>::Reader list) {
  Labels out;
  for (auto l : list) setLabel(out, kj::str(l.getKey()), kj::str(l.getValue()));
  return out;
}

void fillLabels(capnp::List<schema::Label>::Builder out, const Labels& labels) {
  size_t i = 0;
  for (auto& e : labels) {
    out[i].setKey(e.key);
    out[i].setValue(e.value);
    i++;
  }
}

kj::String encodeLabels(const Labels& labels) {
  nlohmann::json j = nlohmann::json::object();
  for (auto& e : labels) j[e.key.cStr()] = e.value.cStr();
  return kj::str(j.dump().c_str());
}

Labels decodeLabels(kj::StringPtr text) {
  Labels out;
  auto j = nlohmann::json::parse(text.cStr(), nullptr, false);
  if (!j.is_object()) return out;
  for (auto& [k, v] : j.items()) {
    if (v.is_string()) setLabel(out, kj::str(k.c_str()), kj::str(v.get<std::string>().c_str()));
  }
  return out;
}

void updateLabels(Labels& labels, const Labels& given, capnp::List<capnp::Text>::Reader fieldpaths,
                  kj::StringPtr subject) {
  auto paths = KJ_MAP(p, fieldpaths) {
    return kj::str(p);
  };
  updateLabels(labels, given, paths.asPtr(), subject);
}

void updateLabels(Labels& labels, const Labels& given, kj::ArrayPtr<const kj::String> fieldpaths,
                  kj::StringPtr subject) {
  auto copy = [](const Labels& from) {
    Labels out;
    for (auto& e : from) setLabel(out, kj::str(e.key), kj::str(e.value));
    return out;
  };
  if (fieldpaths.size() == 0) labels = copy(given);
  for (auto& path : fieldpaths) {
    if (path == "labels") {
      labels = copy(given);
    } else if (path.startsWith("labels.")) {
      auto key = kj::str(path.slice(strlen("labels.")));
      KJ_IF_MAYBE(v, given.find(key)) {
        if (v->size() > 0) {
          setLabel(labels, kj::mv(key), kj::str(*v));
          continue;
        }
      }
      labels.erase(key);
    } else {
      throwError(ErrorKind::INVALID_ARGUMENT,
                 kj::str("cannot update \"", path, "\" field on ", subject));
    }
  }
  kj::Vector<kj::String> empty;
  for (auto& e : labels) {
    if (e.value.size() == 0) empty.add(kj::str(e.key));
  }
  for (auto& k : empty) labels.erase(k);
  validateLabels(labels);
}

}  // namespace ctrd
