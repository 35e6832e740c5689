// A registry client for one repository (OCI distribution / Docker registry v2): resolve a
// reference to a descriptor, download manifests and blobs into ingests. Blocking, built on
// cURLpp; the server runs each call on a worker thread. Thread-safe: several downloads share one
// client and its cached tokens.
#pragma once

#include <kj/array.h>
#include <kj/function.h>
#include <kj/map.h>
#include <kj/mutex.h>
#include <kj/string.h>
#include <kj/time.h>
#include <kj/vector.h>
#include <oci/reference.h>
#include <stdint.h>

#include <atomic>

#include "blob-store.h"

namespace ctrd {

struct RegistryEndpoint {
  kj::String url;  // API base, "https://host/v2"
  bool pull = true;
  bool resolve = true;
  bool skipVerify = false;
  kj::Array<kj::byte> caPem;
  kj::Vector<kj::String> headers;  // "Name: value"
};

struct RegistryCredential {
  kj::String username;
  kj::String secret;
};

struct RegistryDescriptor {
  kj::String mediaType;
  kj::String digest;
  int64_t size;
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

private:
  oci::Reference ref;
  kj::Vector<RegistryEndpoint> endpoints;
  kj::Maybe<RegistryCredential> credential;

  struct Token {
    kj::String authorization;  // the whole header value: "Bearer ...", "Basic ..."
    kj::TimePoint expires;
  };
  kj::MutexGuarded<kj::HashMap<kj::String, Token>> tokens;
  // By endpoint: what to send before being asked, learned from the last challenge.

  struct Response;
  struct Request;
  Response send(const RegistryEndpoint& endpoint, Request& request,
                const std::atomic<bool>& cancelled);
  // One request with authentication: answers a 401 challenge once (bearer token or basic).
  Response perform(const RegistryEndpoint& endpoint, Request& request,
                   kj::Maybe<kj::StringPtr> authorization, const std::atomic<bool>& cancelled);
  kj::String credentialHost() const;
  kj::Maybe<const RegistryCredential&> credentialFor(kj::StringPtr url) const;
  // The credentials, if `url` is on the host they are for.
  kj::Maybe<const RegistryCredential&> credentialForRealm(const RegistryEndpoint& endpoint,
                                                          kj::StringPtr realm) const;
  // The credentials, if a token realm that `endpoint` named may have them.
  Token authenticate(const RegistryEndpoint& endpoint, kj::StringPtr challenge,
                     const std::atomic<bool>& cancelled);
  static void checkStatus(const Response& response, kj::StringPtr subject, const Request& request);
  // Not found, or an error naming the registry's own message; 5xx ones are worth a retry.
  RegistryDescriptor resolveAt(const RegistryEndpoint& endpoint,
                               const std::atomic<bool>& cancelled);
  void withRetries(kj::StringPtr subject, const std::atomic<bool>& cancelled,
                   kj::FunctionParam<bool(const RegistryEndpoint&)> attempt);
  kj::Maybe<kj::String> cachedAuthorization(kj::StringPtr endpointUrl);

  void downloadOnce(const RegistryEndpoint& endpoint, const RegistryDescriptor& descriptor,
                    Ingest& ingest, const std::atomic<bool>& cancelled);
  kj::String objectUrl(const RegistryEndpoint& endpoint, kj::StringPtr kind,
                       kj::StringPtr tagOrDigest);
};

kj::StringPtr manifestAcceptHeader();

bool isLocalhost(kj::StringPtr domain);
// "localhost", "::1" or an address in 127.0.0.0/8, with or without a port: reached over plain
// HTTP by default. A name that merely starts with "127." is not.

}  // namespace ctrd
