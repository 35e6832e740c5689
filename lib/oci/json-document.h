// The JSON helpers every parser of untrusted image documents shares (manifest.cc, archive.cc):
// a size and nesting cap before the parser runs, typed fields that name what is wrong.
// Internal to the oci-documents library.
#pragma once

#include <kj/string.h>
#include <kj/vector.h>

#include <nlohmann/json.hpp>

#include "manifest.h"

namespace ctrd::oci::documents {

using nlohmann::json;

[[noreturn]] void bad(kj::StringPtr what, kj::StringPtr why);
// `invalid argument: <what>: <why>`.
json parseDocument(kj::ArrayPtr<const kj::byte> bytes, kj::StringPtr what, bool list = false);
// At most MAX_DOCUMENT_SIZE bytes and MAX_NESTING levels; an object (or, with `list`, a list).
kj::String stringField(const json& obj, const char* key, kj::StringPtr what, bool required);
kj::Vector<kj::String> stringList(const json& obj, const char* key, kj::StringPtr what);
Descriptor descriptor(const json& d, kj::StringPtr what);

}  // namespace ctrd::oci::documents
