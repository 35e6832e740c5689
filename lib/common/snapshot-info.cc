#include "snapshot-info.h"

#include <ctype.h>

namespace ctrd {

kj::StringPtr kindName(schema::Kind kind) {
  switch (kind) {
    case schema::Kind::VIEW:
      return "View";
    case schema::Kind::ACTIVE:
      return "Active";
    case schema::Kind::COMMITTED:
      return "Committed";
    default:
      return "Unknown";
  }
}

FieldLookup snapshotFields(kj::StringPtr name, kj::StringPtr parent, schema::Kind kind,
                           LabelLookup label) {
  return [name, parent, kind, label = kj::mv(label)](
             kj::ArrayPtr<const kj::String> path) mutable -> kj::Maybe<kj::String> {
    if (path.size() == 1 && path[0] == "name") return kj::str(name);
    if (path.size() == 1 && path[0] == "parent") return kj::str(parent);
    if (path.size() == 1 && path[0] == "kind") {
      auto k = kj::str(kindName(kind));
      for (char& c : k) c = tolower(static_cast<unsigned char>(c));
      return kj::mv(k);
    }
    if (path.size() >= 2 && path[0] == "labels") {
      return label(kj::strArray(path.slice(1, path.size()), "."));
    }
    return nullptr;
  };
}

}  // namespace ctrd
