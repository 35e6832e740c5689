// The content store as one namespace sees it: containerd-content's global blobs, filtered and
// labelled through meta.db. Blob data never passes through here: reads and copies hand fds
// straight through to containerd-content.
#pragma once

#include <schema/content.capnp.h>

#include "blob-deletions.h"
#include "metadata/store.h"
#include "supervisor.h"

namespace ctrd {

class NamespaceContent final : public schema::Content::Server {
public:
  NamespaceContent(kj::String ns, MetadataStore& metadata, ServiceProcess& content,
                   BlobDeletions& deletions, kj::Maybe<kj::String> lease = nullptr)
      : ns(kj::mv(ns)),
        metadata(metadata),
        content(content),
        deletions(deletions),
        lease(kj::mv(lease)) {}
  // With a lease, each blob committed through it is recorded in the lease as it is recorded.

  kj::Promise<void> info(InfoContext context) override;
  kj::Promise<void> list(ListContext context) override;
  kj::Promise<void> update(UpdateContext context) override;
  kj::Promise<void> delete_(DeleteContext context) override;
  kj::Promise<void> read(ReadContext context) override;
  kj::Promise<void> status(StatusContext context) override;
  kj::Promise<void> listStatuses(ListStatusesContext context) override;
  kj::Promise<void> abort(AbortContext context) override;
  kj::Promise<void> writer(WriterContext context) override;

private:
  kj::String ns;
  MetadataStore& metadata;
  ServiceProcess& content;
  BlobDeletions& deletions;
  kj::Maybe<kj::String> lease;

  ContentRecord require(kj::StringPtr digest);
  kj::String storeRef(kj::StringPtr ref);
};

}  // namespace ctrd
