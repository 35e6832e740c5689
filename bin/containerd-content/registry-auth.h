// Registry authentication for one repository: answers a 401 challenge (a bearer token from the
// realm the registry names, or basic), caches what it learned per endpoint, and gives the
// user's credentials only to the host they are for (and to a token realm on that host, or
// Docker Hub's own). Thread-safe.
#pragma once

#include <kj/map.h>
#include <kj/mutex.h>
#include <oci/reference.h>

#include "registry-transport.h"

namespace ctrd {

struct RegistryCredential {
  kj::String username;
  kj::String secret;
};

kj::String basicAuthorization(const RegistryCredential& credential);
// "Basic <base64 of user:secret>"

class RegistryAuth {
public:
  RegistryAuth(const oci::Reference& ref, kj::Maybe<RegistryCredential> credential)
      : ref(ref), credential(kj::mv(credential)) {}

  HttpResponse send(const RegistryEndpoint& endpoint, HttpRequest& request,
                    const std::atomic<bool>& cancelled);
  // `request` with what the last challenge asked for; on a 401, answers the challenge once and
  // sends it again. A refusal after that is an error naming the registry.

private:
  const oci::Reference& ref;
  kj::Maybe<RegistryCredential> credential;

  struct Token {
    kj::String authorization;  // the whole header value: "Bearer ...", "Basic ..."
    kj::TimePoint expires;
  };
  kj::MutexGuarded<kj::HashMap<kj::String, Token>> tokens;
  // By endpoint: what to send before being asked, learned from the last challenge.

  kj::Maybe<kj::String> cachedAuthorization(kj::StringPtr endpointUrl);
  kj::String credentialHost() const;
  kj::Maybe<const RegistryCredential&> credentialFor(kj::StringPtr url) const;
  // The credentials, if `url` is on the host they are for.
  kj::Maybe<const RegistryCredential&> credentialForRealm(const RegistryEndpoint& endpoint,
                                                          kj::StringPtr realm) const;
  // The credentials, if a token realm that `endpoint` named may have them.
  Token authenticate(const RegistryEndpoint& endpoint, kj::StringPtr challenge,
                     const std::atomic<bool>& cancelled);
};

}  // namespace ctrd
