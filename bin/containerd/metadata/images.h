// The images table: each namespace's image names and the descriptor each points at.
#pragma once

#include <common/labels.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

namespace ctrd {

class MetadataStore;

struct ImageRecord {
  kj::String name;
  kj::String mediaType;  // of the target
  kj::String digest;
  int64_t size;
  Labels labels;
  int64_t createdAt;
  int64_t updatedAt;
};

class ImageTable {
public:
  explicit ImageTable(MetadataStore& store) : store(store) {}
  void createTables();

  kj::Maybe<ImageRecord> get(kj::StringPtr ns, kj::StringPtr name);
  kj::Vector<ImageRecord> list(kj::StringPtr ns);

  bool insert(kj::StringPtr ns, const ImageRecord& record);
  // False (and nothing written) when the name is taken.
  void update(kj::StringPtr ns, const ImageRecord& record);
  // Replaces the target and labels of an image the namespace has.
  void record(kj::StringPtr ns, kj::StringPtr name, kj::StringPtr mediaType, kj::StringPtr digest,
              int64_t size);
  // What a pull does: points `name` at the target, keeping its labels and creation time when
  // the image exists.
  bool remove(kj::StringPtr ns, kj::StringPtr name);

private:
  MetadataStore& store;
};

}  // namespace ctrd
