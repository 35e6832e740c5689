#include "registry-auth.h"

#include <common/errors.h>
#include <kj/debug.h>
#include <oci/image.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>
#include <string>

namespace ctrd {
namespace {

constexpr size_t TOKEN_RESPONSE_LIMIT = 1 << 20;
constexpr kj::Duration DEFAULT_TOKEN_LIFETIME = 60 * kj::SECONDS;

kj::String base64(kj::ArrayPtr<const kj::byte> bytes) {
  auto out = kj::heapArray<char>(4 * ((bytes.size() + 2) / 3) + 1);
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.begin()), bytes.begin(), bytes.size());
  return kj::heapString(out.begin(), n);
}

struct Challenge {
  kj::String scheme;  // lower case: "bearer", "basic"
  kj::HashMap<kj::String, kj::String> params;
};

Challenge parseChallenge(kj::StringPtr header) {
  // `Bearer realm="https://auth",service="registry",scope="repository:x:pull"`
  Challenge c;
  size_t i = 0;
  while (i < header.size() && header[i] != ' ') i++;
  c.scheme = lowerCase(kj::str(header.slice(0, i)));
  while (i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ',')) i++;
    size_t keyStart = i;
    while (i < header.size() && header[i] != '=' && header[i] != ',') i++;
    auto key = lowerCase(kj::str(header.slice(keyStart, i)).asPtr());
    if (i >= header.size() || header[i] != '=') continue;
    i++;
    kj::Vector<char> value;
    if (i < header.size() && header[i] == '"') {
      for (i++; i < header.size() && header[i] != '"'; i++) {
        if (header[i] == '\\' && i + 1 < header.size()) i++;
        value.add(header[i]);
      }
      i++;
    } else {
      while (i < header.size() && header[i] != ',') value.add(header[i++]);
    }
    value.add('\0');
    c.params.upsert(kj::mv(key), kj::String(value.releaseAsArray()),
                    [](kj::String&, kj::String&&) {});
  }
  return c;
}

}  // namespace

kj::String basicAuthorization(const RegistryCredential& c) {
  return kj::str("Basic ", base64(kj::str(c.username, ":", c.secret).asBytes()));
}

kj::Maybe<kj::String> RegistryAuth::cachedAuthorization(kj::StringPtr endpointUrl) {
  auto locked = tokens.lockExclusive();
  KJ_IF_MAYBE(t, locked->find(endpointUrl)) {
    if (t->expires > monotonicNow()) return kj::str(t->authorization);
  }
  return nullptr;
}

kj::String RegistryAuth::credentialHost() const {
  // The credentials are for the reference's registry; Docker Hub's API lives at another name.
  return oci::registryHost(ref.domain);
}

kj::Maybe<const RegistryCredential&> RegistryAuth::credentialFor(kj::StringPtr url) const {
  // Only the registry the credentials are for gets them: never a mirror, never another host.
  // (An http:// endpoint for that host exists only if the user configured it so.)
  KJ_IF_MAYBE(c, credential) {
    if (hostOf(url) == credentialHost()) return *c;
  }
  return nullptr;
}

kj::Maybe<const RegistryCredential&> RegistryAuth::credentialForRealm(
    const RegistryEndpoint& endpoint, kj::StringPtr realm) const {
  // A token server on the registry's own host (same scheme, or HTTPS), or Docker Hub's own.
  if (credentialFor(endpoint.url) == nullptr) return nullptr;
  auto host = hostOf(realm);
  bool sameHost = host == hostOf(endpoint.url) &&
                  (realm.startsWith("https://") || endpoint.url.startsWith("http://"));
  bool hubAuth =
      ref.domain == "docker.io" && host == "auth.docker.io" && realm.startsWith("https://");
  if (!sameHost && !hubAuth) return nullptr;
  return credential;
}

RegistryAuth::Token RegistryAuth::authenticate(const RegistryEndpoint& endpoint,
                                               kj::StringPtr header,
                                               const std::atomic<bool>& cancelled) {
  auto challenge = parseChallenge(header);
  if (challenge.scheme == "basic") {
    KJ_IF_MAYBE(c, credentialFor(endpoint.url)) {
      return {basicAuthorization(*c), monotonicNow() + 3600 * kj::SECONDS};
    }
    if (credential != nullptr) {
      throwError(ErrorKind::UNKNOWN, kj::str(hostOf(endpoint.url),
                                             ": unauthorized: basic authentication required; the "
                                             "credentials for ",
                                             credentialHost(), " are not sent to another host"));
    }
    throwError(ErrorKind::UNKNOWN,
               kj::str(ref.domain,
                       ": unauthorized: basic authentication required (no credentials "
                       "given: --user, or a docker config.json)"));
  }
  if (challenge.scheme != "bearer") {
    throwError(ErrorKind::NOT_IMPLEMENTED,
               kj::str(ref.domain, ": authentication scheme \"", challenge.scheme, "\""));
  }
  kj::StringPtr realm;
  KJ_IF_MAYBE(r, challenge.params.find("realm"_kj)) {
    realm = *r;
  } else {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(ref.domain, ": bearer challenge without a realm: ", header));
  }
  if (!realm.startsWith("https://") && !realm.startsWith("http://")) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str(ref.domain, ": token realm ", realm));
  }
  auto scope = kj::str("repository:", ref.path, ":pull");
  KJ_IF_MAYBE(s, challenge.params.find("scope"_kj)) {
    scope = kj::str(*s);
  }
  auto url =
      kj::str(realm, realm.findFirst('?') == nullptr ? "?" : "&", "scope=", urlEscape(scope));
  KJ_IF_MAYBE(service, challenge.params.find("service"_kj)) {
    url = kj::str(url, "&service=", urlEscape(*service));
  }
  kj::Vector<char> body;
  HttpRequest request{"GET", kj::mv(url), {}, [&](kj::ArrayPtr<const kj::byte> data) {
                        if (body.size() + data.size() > TOKEN_RESPONSE_LIMIT) {
                          throwError(ErrorKind::INVALID_ARGUMENT,
                                     kj::str(ref.domain, ": token response larger than 1 MiB"));
                        }
                        body.addAll(data.asChars());
                      }};
  kj::Maybe<kj::String> basic;
  KJ_IF_MAYBE(c, credentialForRealm(endpoint, realm)) {
    basic = basicAuthorization(*c);
  }
  RegistryEndpoint tokenEndpoint;
  tokenEndpoint.skipVerify = endpoint.skipVerify;
  tokenEndpoint.caPem = kj::heapArray(endpoint.caPem.asPtr());
  auto response =
      performRequest(tokenEndpoint, request,
                     basic.map([](kj::String& s) -> kj::StringPtr { return s; }), cancelled);
  if (response.status == 401 || response.status == 403) {
    throwError(ErrorKind::UNKNOWN,
               kj::str(ref.domain, ": unauthorized: the token server refused the ",
                       basic == nullptr ? "anonymous request" : "credentials", " (HTTP ",
                       response.status, ")"));
  }
  if (response.status != 200) {
    throwError(ErrorKind::UNKNOWN, kj::str(ref.domain, ": token server answered HTTP ",
                                           response.status, " for ", request.url));
  }
  std::string token;
  int64_t expiresIn = 0;
  try {
    auto json = nlohmann::json::parse(body.begin(), body.end());
    if (json.contains("token") && json["token"].is_string()) token = json["token"];
    if (token.empty() && json.contains("access_token") && json["access_token"].is_string()) {
      token = json["access_token"];
    }
    if (json.contains("expires_in") && json["expires_in"].is_number_integer()) {
      expiresIn = json["expires_in"];
    }
  } catch (const std::exception& e) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(ref.domain, ": token response is not JSON: ", e.what()));
  }
  if (token.empty()) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str(ref.domain, ": token response has no token"));
  }
  // Renewed a little early, so that a token never expires between cache and use.
  auto lifetime = expiresIn > 10 ? (expiresIn - 5) * kj::SECONDS : DEFAULT_TOKEN_LIFETIME;
  return {kj::str("Bearer ", token.c_str()), monotonicNow() + lifetime};
}

HttpResponse RegistryAuth::send(const RegistryEndpoint& endpoint, HttpRequest& request,
                                const std::atomic<bool>& cancelled) {
  auto cached = cachedAuthorization(endpoint.url);
  auto response = performRequest(
      endpoint, request, cached.map([](kj::String& s) -> kj::StringPtr { return s; }), cancelled);
  if (response.status != 401 || response.wwwAuthenticate.size() == 0) return response;
  auto token = authenticate(endpoint, response.wwwAuthenticate, cancelled);
  auto authorization = kj::str(token.authorization);
  {
    auto locked = tokens.lockExclusive();
    locked->upsert(kj::str(endpoint.url), kj::mv(token),
                   [](Token& old, Token&& fresh) { old = kj::mv(fresh); });
  }
  response = performRequest(endpoint, request, authorization.asPtr(), cancelled);
  if (response.status == 401 || response.status == 403) {
    auto message = registryErrorMessage(response.errorBody);
    throwError(ErrorKind::UNKNOWN,
               kj::str(ref.domain, ": unauthorized: the registry refused ",
                       credential == nullptr ? "anonymous access" : "the credentials", " (HTTP ",
                       response.status, message.size() > 0 ? ": " : "", message, ")"));
  }
  return response;
}

}  // namespace ctrd
