// How a snapshot's info reads to people and to filters, the same in the snapshot service, in
// containerd's namespaced view of it and in ctr.
#pragma once

#include <kj/function.h>
#include <kj/string.h>
#include <schema/snapshots.capnp.h>

#include "filters.h"

namespace ctrd {

constexpr kj::StringPtr DEFAULT_SNAPSHOTTER = "overlayfs"_kj;
// The snapshotter a request that names none uses, as containerd's default on Linux.

constexpr kj::StringPtr SNAPSHOTTERS[] = {"overlayfs"_kj, "native"_kj};
// Every snapshotter containerd-snapshot serves.

inline kj::StringPtr snapshotterOrDefault(kj::StringPtr name) {
  return name.size() > 0 ? name : DEFAULT_SNAPSHOTTER;
}

kj::StringPtr kindName(schema::Kind kind);
// "Active", "View", "Committed", as ctr prints them.

using LabelLookup = kj::Function<kj::Maybe<kj::String>(kj::StringPtr key)>;

FieldLookup snapshotFields(kj::StringPtr name, kj::StringPtr parent, schema::Kind kind,
                           LabelLookup label);
// Fields for containerd's filters: name, parent, kind (in lower case: kind==committed) and
// labels.KEY. `name` and `parent` must outlive the lookup.

}  // namespace ctrd
