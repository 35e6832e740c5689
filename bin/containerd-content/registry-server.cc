#include "registry-server.h"

#include <common/errors.h>
#include <common/log.h>
#include <common/worker.h>
#include <kj/debug.h>
#include <kj/thread.h>
#include <oci/manifest.h>

#include <atomic>

namespace ctrd {

kj::Own<RegistryClient> newRegistryClient(kj::StringPtr reference,
                                          schema::ResolverConfig::Reader config) {
  auto ref = oci::parseReference(reference);
  kj::Vector<RegistryEndpoint> endpoints;
  for (auto e : config.getEndpoints()) {
    RegistryEndpoint out;
    out.url = kj::str(e.getUrl());
    while (out.url.endsWith("/")) out.url = kj::str(out.url.slice(0, out.url.size() - 1));
    if (!out.url.startsWith("https://") && !out.url.startsWith("http://")) {
      throwError(ErrorKind::INVALID_ARGUMENT, kj::str("registry endpoint \"", e.getUrl(), "\""));
    }
    out.pull = e.getPull();
    out.resolve = e.getResolve();
    out.skipVerify = e.getSkipVerify() || config.getSkipVerify();
    out.caPem = kj::heapArray(e.getCaPem());
    for (auto h : e.getHeaders()) {
      // A line break would smuggle a header (or a request) of the sender's choosing.
      for (kj::StringPtr part : {h.getKey(), h.getValue()}) {
        if (part.findFirst('\r') != nullptr || part.findFirst('\n') != nullptr) {
          throwError(ErrorKind::INVALID_ARGUMENT,
                     kj::str("registry header \"", h.getKey(), "\": a line break in it"));
        }
      }
      out.headers.add(kj::str(h.getKey(), ": ", h.getValue()));
    }
    endpoints.add(kj::mv(out));
  }
  if (endpoints.size() == 0) {
    endpoints =
        RegistryClient::defaultEndpoints(ref, config.getPlainHttp(), config.getSkipVerify());
  }
  kj::Maybe<RegistryCredential> credential;
  for (auto c : config.getCredentials()) {
    if (c.getHost() == ref.domain) {
      credential = RegistryCredential{kj::str(c.getUsername()), kj::str(c.getSecret())};
    }
  }
  return kj::heap<RegistryClient>(kj::mv(ref), kj::mv(endpoints), kj::mv(credential));
}

kj::Promise<void> RegistryServer::resolve(ResolveContext context) {
  return onWorker<RegistryDescriptor>(
             [this](std::atomic<bool>& cancelled) { return client->resolve(cancelled); })
      .then([this, context](RegistryDescriptor d) mutable {
        auto results = context.getResults();
        results.setName(client->reference().toString());
        auto out = results.initDescriptor();
        out.setMediaType(d.mediaType);
        out.setDigest(d.digest);
        out.setSize(d.size);
      });
}

kj::Promise<void> RegistryServer::fetch(FetchContext context) {
  auto params = context.getParams();
  auto descriptor = params.getDescriptor();
  RegistryDescriptor d{kj::str(descriptor.getMediaType()), kj::str(descriptor.getDigest()),
                       descriptor.getSize()};
  validateDigest(d.digest);
  if (d.size < 0) throwError(ErrorKind::INVALID_ARGUMENT, kj::str(d.digest, ": size ", d.size));
  if (oci::isDocumentType(d.mediaType) && d.size > int64_t(oci::MAX_DOCUMENT_SIZE)) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(d.digest, ": ", d.mediaType, " of ", d.size, " bytes (at most 4 MiB)"));
  }
  // Even when the store has these bytes already (for another namespace), they are downloaded and
  // verified: a namespace gains a blob only by supplying its bytes (containerd's isolated
  // policy). Knowing a digest proves nothing. Commit then keeps the stored copy.
  auto ingest = store.openIngest(params.getRef(), d.digest, d.size);
  if (ingest->offset() > 0) {
    logInfo("resuming download of ", d.digest, " at offset ", ingest->offset());
  }
  auto& ingestRef = *ingest;
  return onWorker<Ingest::Committed>(
             [this, d = kj::mv(d), &ingestRef](std::atomic<bool>& cancelled) {
               client->download(d, ingestRef, cancelled);
               try {
                 return ingestRef.commit(d.size, d.digest);
               } catch (kj::Exception& e) {
                 // A mismatch: these bytes are not the blob; resuming them would never be.
                 ingestRef.abort();
                 kj::throwFatalException(withContext(kj::str("fetch ", d.digest), e));
               }
             })
      .attach(kj::mv(ingest))
      .then([context](Ingest::Committed committed) mutable {
        context.getResults().setSize(committed.size);
        context.getResults().setExisted(committed.existed);
      });
}

}  // namespace ctrd
