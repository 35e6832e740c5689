#include "store.h"

#include <common/log.h>
#include <kj/debug.h>

namespace ctrd {

MetadataStore::MetadataStore(kj::StringPtr path)
    : namespaces(*this), content(*this), images(*this), containers(*this), leases(*this), db(path) {
  content.createTables();
  images.createTables();
  containers.createTables();
  leases.createTables();
  namespaces.createTables();  // last: it records the namespaces the others hold
}

void MetadataStore::onCommit(kj::Function<void(kj::ArrayPtr<const Change>)> listener) {
  listeners.add(kj::mv(listener));
}

void MetadataStore::changed(kj::StringPtr ns, kj::StringPtr topic, kj::StringPtr subject) {
  KJ_REQUIRE(depth > 0, "a metadata write outside MetadataStore::write()");
  pending.add(Change{kj::str(ns), topic, kj::str(subject)});
}

MetadataStore::Scope::Scope(MetadataStore& store) : store(store) {
  if (store.depth == 0) transaction.emplace(store.db);
  store.depth++;
}

void MetadataStore::Scope::commit() {
  committed = true;
  if (store.depth > 1) return;  // the outermost scope commits
  KJ_ASSERT_NONNULL(transaction).commit();
}

MetadataStore::Scope::~Scope() noexcept(false) {
  store.depth--;
  if (store.depth > 0) return;
  auto changes = kj::mv(store.pending);
  store.pending = {};
  transaction = nullptr;  // rolls back unless committed
  if (committed) store.generation_++;
  if (!committed || changes.size() == 0) return;
  for (auto& listener : store.listeners) {
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { listener(changes); })) {
      logWarn("a metadata listener failed: ", e->getDescription());
    }
  }
}

}  // namespace ctrd
