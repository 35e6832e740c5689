// The Registry capability: one repository's registry client, its calls run on worker threads so
// that the content process keeps serving while blobs stream in.
#pragma once

#include <kj/async.h>
#include <schema/distribution.capnp.h>

#include "blob-store.h"
#include "registry-client.h"

namespace ctrd {

kj::Own<RegistryClient> newRegistryClient(kj::StringPtr reference,
                                          schema::ResolverConfig::Reader config);
// Throws `invalid argument` for a malformed reference or endpoint.

class RegistryServer final : public schema::Registry::Server {
public:
  RegistryServer(BlobStore& store, kj::Own<RegistryClient> client)
      : store(store), client(kj::mv(client)) {}

  kj::Promise<void> resolve(ResolveContext context) override;
  kj::Promise<void> fetch(FetchContext context) override;

private:
  BlobStore& store;
  kj::Own<RegistryClient> client;
};

}  // namespace ctrd
