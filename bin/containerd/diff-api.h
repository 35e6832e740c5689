// Applying layers for one namespace: its blob (an fd from containerd-content) onto its snapshot
// (directory fds from containerd-snapshot), by containerd-diff. Only capabilities pass through
// here, never bytes or paths.
#pragma once

#include <schema/diff.capnp.h>
#include <schema/snapshots.capnp.h>

#include "blob-deletions.h"
#include "metadata/store.h"
#include "supervisor.h"

namespace ctrd {

struct Backends;

class NamespaceDiff final : public schema::Diff::Server {
public:
  NamespaceDiff(kj::String ns, Backends& backends, kj::Maybe<kj::String> lease = nullptr)
      : ns(kj::mv(ns)), backends(backends), lease(kj::mv(lease)) {}
  // With a lease, the blob a diff commits is recorded in it.

  kj::Promise<void> apply(ApplyContext context) override;
  kj::Promise<void> diff(DiffContext context) override;
  kj::Promise<void> inherit(InheritContext context) override;

private:
  struct Writable {
    capnp::Response<schema::Snapshots::WritableDirResults> dirs;
    schema::Differ::Whiteouts whiteouts;  // as the snapshotter's traits say
  };
  kj::Promise<Writable> writable(kj::StringPtr snapshotter, kj::StringPtr key);

  kj::String ns;
  Backends& backends;
  kj::Maybe<kj::String> lease;
};

}  // namespace ctrd
