// The distribution protocol for one repository (OCI distribution / Docker registry v2): resolve
// a reference to a descriptor, download manifests and blobs into ingests (push will join them),
// with retries across endpoints. HTTP is registry-transport's, authentication registry-auth's.
// Blocking; the server runs each call on a worker thread. Thread-safe: several downloads share
// one client and its cached tokens.
#pragma once

#include <kj/array.h>
#include <kj/function.h>
#include <kj/string.h>
#include <kj/time.h>
#include <kj/vector.h>
#include <oci/reference.h>
#include <stdint.h>

#include <atomic>

#include "ingest.h"
#include "registry-auth.h"
#include "registry-transport.h"

namespace ctrd {

struct RegistryDescriptor {
  kj::String mediaType;
  kj::String digest;
  int64_t size;
};

enum class PushOutcome {
  UPLOADED,
  EXISTED,  // the registry had it (a HEAD said so): nothing sent
  MOUNTED,  // taken from another repository of the same registry: nothing sent
};

class RegistryClient {
public:
  RegistryClient(oci::Reference reference, kj::Vector<RegistryEndpoint> endpoints,
                 kj::Maybe<RegistryCredential> credential);
  // An empty endpoint list means the reference's own host: HTTPS, or plain HTTP for
  // `plainHttp` and for localhost names; docker.io is served by registry-1.docker.io.
  static kj::Vector<RegistryEndpoint> defaultEndpoints(const oci::Reference& ref, bool plainHttp,
                                                       bool skipVerify);

  const oci::Reference& reference() const { return ref; }

  RegistryDescriptor resolve(const std::atomic<bool>& cancelled);
  // HEAD (then GET if the registry does not name the digest) of the reference's manifest.
  // `not found` when no endpoint has it; `not implemented` for schema 1.

  void download(const RegistryDescriptor& descriptor, Ingest& ingest,
                const std::atomic<bool>& cancelled);
  // Streams the manifest or blob into `ingest` after the bytes it already has (a Range request;
  // a registry that ignores it makes the ingest start over). Retries transient failures. Leaves
  // the ingest holding exactly `descriptor.size` bytes; committing (which checks the digest) is
  // the caller's. Transient failures are retried 5 times, 0.25 s apart at first, doubling.

  PushOutcome push(const RegistryDescriptor& descriptor, int fd, kj::StringPtr tag,
                   kj::StringPtr mountFrom, const std::atomic<bool>& cancelled,
                   kj::Function<void(int64_t sent)> onSent);
  // Uploads `descriptor`'s bytes, read from `fd`. A manifest or index goes to
  // manifests/<tag>, or manifests/<digest> without a tag (then skipped if a HEAD finds it). A
  // blob is skipped if a HEAD finds it, mounted from the repository `mountFrom` names on the
  // same registry when given and the registry agrees, else uploaded: POST for a session, then
  // (up to UPLOAD_CHUNK bytes) one PUT of every byte with the digest, which the registry
  // checks; a larger blob goes in PATCHes of UPLOAD_CHUNK bytes and is closed by a PUT with the
  // digest. Retried as downloads are; an upload cut off resumes after the last chunk the
  // registry acknowledged (asked with a GET of the session), or starts over when the registry
  // no longer knows the session.

  static constexpr int64_t UPLOAD_CHUNK = 16 << 20;

private:
  oci::Reference ref;
  kj::Vector<RegistryEndpoint> endpoints;
  RegistryAuth auth;

  static void checkStatus(const HttpResponse& response, kj::StringPtr subject,
                          const HttpRequest& request);
  // Not found, or an error naming the registry's own message; 5xx ones are worth a retry.
  RegistryDescriptor resolveAt(const RegistryEndpoint& endpoint,
                               const std::atomic<bool>& cancelled);
  void withRetries(kj::StringPtr subject, const std::atomic<bool>& cancelled,
                   kj::FunctionParam<bool(const RegistryEndpoint&)> attempt);

  PushOutcome pushOnce(const RegistryEndpoint& endpoint, const RegistryDescriptor& descriptor,
                       int fd, kj::StringPtr tag, kj::StringPtr mountFrom,
                       const std::atomic<bool>& cancelled, kj::Function<void(int64_t sent)>& onSent,
                       kj::Maybe<kj::String>& session);
  // `session`: the upload session an earlier attempt opened (its latest URL), to resume.
  int64_t sessionOffset(const RegistryEndpoint& endpoint, kj::Maybe<kj::String>& session,
                        kj::StringPtr subject, const std::atomic<bool>& cancelled);
  // How many bytes the registry holds in `session` (dropped when the registry forgot it).
  kj::String sessionUrl(const RegistryEndpoint& endpoint, kj::StringPtr location);
  void downloadOnce(const RegistryEndpoint& endpoint, const RegistryDescriptor& descriptor,
                    Ingest& ingest, const std::atomic<bool>& cancelled);
  kj::String objectUrl(const RegistryEndpoint& endpoint, kj::StringPtr kind,
                       kj::StringPtr tagOrDigest);
};

kj::StringPtr manifestAcceptHeader();

}  // namespace ctrd
