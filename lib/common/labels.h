// Labels: containerd's key/value annotations on blobs, snapshots, images and containers.
#pragma once

#include <capnp/list.h>
#include <kj/map.h>
#include <kj/string.h>
#include <schema/types.capnp.h>

namespace ctrd {

using Labels = kj::TreeMap<kj::String, kj::String>;

void setLabel(Labels& labels, kj::String key, kj::String value);
// Adds or replaces.

void validateLabels(const Labels& labels);
// containerd's limit: a key and its value take at most 4096 bytes together.

Labels readLabels(capnp::List<schema::Label>::Reader list);
void fillLabels(capnp::List<schema::Label>::Builder out, const Labels& labels);

kj::String encodeLabels(const Labels& labels);
Labels decodeLabels(kj::StringPtr json);
// As stored in a database column: a JSON object.

void updateLabels(Labels& labels, const Labels& given, capnp::List<capnp::Text>::Reader fieldpaths,
                  kj::StringPtr subject);
// containerd's Update with a field mask: no paths or "labels" replaces them all, "labels.KEY"
// sets or (with an empty or missing value) removes one key. Any other path is an
// `invalid argument` naming `subject`.
void updateLabels(Labels& labels, const Labels& given, kj::ArrayPtr<const kj::String> fieldpaths,
                  kj::StringPtr subject);
// The same, for a service whose own field paths ("target", "spec") were taken out first.

}  // namespace ctrd
