// The Distribution capability: registries (resolve, fetch into the blob store) and the image
// documents they sent, parsed here and handed on as Cap'n Proto structs. Registry calls run on
// worker threads so that the content process keeps serving while blobs stream in.
#pragma once

#include <kj/async.h>
#include <kj/timer.h>
#include <oci/manifest.h>
#include <schema/distribution.capnp.h>

#include "blob-store.h"
#include "registry-client.h"

namespace ctrd {

kj::Own<RegistryClient> newRegistryClient(kj::StringPtr reference,
                                          schema::ResolverConfig::Reader config);
// Throws `invalid argument` for a malformed reference or endpoint.

void fillPlatform(schema::Platform::Builder out, const oci::Platform& p);
void fillDescriptor(schema::Descriptor::Builder out, const oci::Descriptor& d);
oci::Descriptor descriptorFrom(schema::Descriptor::Reader d);
// Between the schema's descriptors and the parser's, platform included.
kj::Array<kj::byte> readDocument(BlobStore& store, kj::StringPtr digest, kj::StringPtr what);
// A stored index, manifest or config (`what` names it in errors), at most 4 MiB.

kj::String fetchIngestRef(kj::StringPtr owner, kj::StringPtr mediaType, kj::StringPtr digest);
// The ingest a fetch for `owner` writes into: "<owner>/<kind>-<digest>", kind one of index,
// manifest, config, layer (as `ctr content active` shows it).

class DistributionServer final : public schema::Distribution::Server {
public:
  DistributionServer(BlobStore& store, kj::Timer& timer) : store(store), timer(timer) {}

  kj::Promise<void> registry(RegistryContext context) override;
  kj::Promise<void> parse(ParseContext context) override;

private:
  BlobStore& store;
  kj::Timer& timer;
};

class RegistryServer final : public schema::Registry::Server {
public:
  RegistryServer(BlobStore& store, kj::Timer& timer, kj::Own<RegistryClient> client)
      : store(store), timer(timer), client(kj::mv(client)) {}

  kj::Promise<void> resolve(ResolveContext context) override;
  kj::Promise<void> fetch(FetchContext context) override;
  kj::Promise<void> push(PushContext context) override;

private:
  BlobStore& store;
  kj::Timer& timer;
  kj::Own<RegistryClient> client;
};

}  // namespace ctrd
