// containerd-content's RPC face: the global ContentStore, its Writers and Blobs, and the
// Distribution capability beside it.
#pragma once

#include <common/service-main.h>
#include <kj/async.h>
#include <schema/content.capnp.h>

#include "blob-store.h"

namespace ctrd {

class ContentStoreServer final : public schema::ContentStore::Server, public ServiceInfoServer {
public:
  ContentStoreServer(kj::Own<BlobStore> store, kj::Timer& timer);

  kj::Promise<void> stat(StatContext context) override;
  kj::Promise<void> list(ListContext context) override;
  kj::Promise<void> delete_(DeleteContext context) override;
  kj::Promise<void> read(ReadContext context) override;
  kj::Promise<void> status(StatusContext context) override;
  kj::Promise<void> listStatuses(ListStatusesContext context) override;
  kj::Promise<void> abort(AbortContext context) override;
  kj::Promise<void> writer(WriterContext context) override;
  kj::Promise<void> distribution(DistributionContext context) override;
  kj::Promise<void> exportArchive(ExportArchiveContext context) override;
  kj::Promise<void> importArchive(ImportArchiveContext context) override;

private:
  kj::Own<BlobStore> store;
  schema::Distribution::Client distribution_;
};

void fillStatus(schema::Status::Builder out, const IngestStatus& status);

constexpr int64_t MAX_READ_CHUNK = 1 << 20;

}  // namespace ctrd
