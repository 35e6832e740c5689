// containerd's filter syntax for List calls:
//   labels."containerd.io/gc.root"    present
//   digest==sha256:...,labels.a!=b   a comma means and
//   name~=^docker.io/                ~= matches a regular expression
// Several filter strings mean or. A field path is dot-separated; a part may be quoted.
#pragma once

#include <capnp/list.h>
#include <kj/array.h>
#include <kj/function.h>
#include <kj/string.h>

namespace ctrd {

using FieldLookup = kj::Function<kj::Maybe<kj::String>(kj::ArrayPtr<const kj::String> fieldpath)>;
// The value of a field of the object being tested, or null when it has none.

class Filter {
public:
  static Filter parse(kj::ArrayPtr<const kj::StringPtr> filters);
  static Filter parse(capnp::List<capnp::Text>::Reader filters);
  // Throws `invalid argument` naming the filter and the position of the mistake.

  bool matches(FieldLookup& lookup) const;
  // True for every object when there are no filters.

  struct Selector;  // defined in filters.cc

  Filter(kj::Array<kj::Array<Selector>> alternatives);
  Filter(Filter&&);
  ~Filter() noexcept(false);

private:
  kj::Array<kj::Array<Selector>> alternatives;
};

}  // namespace ctrd
