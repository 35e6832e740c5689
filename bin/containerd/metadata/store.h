// meta.db: what each namespace holds, owned by the supervisor alone. One table per kind, each
// written only by its own class (namespaces.h, content.h, images.h, containers.h, leases.h),
// all through the one transaction rule here: every write runs in a transaction, and what it
// changed is handed to the listeners only after it commits (events hook in there; garbage
// collection watches generation()). Snapshot records stay with containerd-snapshot (see README.md).
#pragma once

#include <common/sqlite.h>
#include <kj/function.h>
#include <kj/string.h>
#include <kj/vector.h>

#include <type_traits>

#include "containers.h"
#include "content.h"
#include "images.h"
#include "leases.h"
#include "namespaces.h"

namespace ctrd {

struct Change {
  kj::String ns;
  kj::StringPtr topic;  // containerd's event topic: "/content/create", "/images/update", ...
  kj::String subject;   // the digest, name or id it is about
};

class MetadataStore {
public:
  explicit MetadataStore(kj::StringPtr path);
  KJ_DISALLOW_COPY(MetadataStore);

  NamespaceTable namespaces;
  ContentTable content;
  ImageTable images;
  ContainerTable containers;
  LeaseTable leases;

  void onCommit(kj::Function<void(kj::ArrayPtr<const Change>)> listener);
  // Called after each committed write that changed something, with what it changed.

  template <typename Func>
  auto write(Func&& func) -> decltype(func()) {
    // Runs `func` in a transaction (or in the one already open: writes nest). Rolled back, and
    // nothing reported, if it throws.
    Scope scope(*this);
    if constexpr (std::is_void_v<decltype(func())>) {
      func();
      scope.commit();
    } else {
      auto result = func();
      scope.commit();
      return result;
    }
  }

  void changed(kj::StringPtr ns, kj::StringPtr topic, kj::StringPtr subject);
  // For the tables, inside write(): records what will be reported after commit.

  Database& database() { return db; }

  uint64_t generation() const { return generation_; }
  // Counts committed writes: whoever read the tables outside a write (garbage collection's
  // mark) knows from it whether what it read still holds.

private:
  class Scope {
  public:
    explicit Scope(MetadataStore& store);
    ~Scope() noexcept(false);
    void commit();

  private:
    MetadataStore& store;
    kj::Maybe<Transaction> transaction;  // the outermost scope's
    bool committed = false;
  };

  Database db;
  uint32_t depth = 0;
  uint64_t generation_ = 0;
  kj::Vector<Change> pending;
  kj::Vector<kj::Function<void(kj::ArrayPtr<const Change>)>> listeners;
};

}  // namespace ctrd
