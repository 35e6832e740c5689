#include "registry-client.h"

#include <arpa/inet.h>
#include <common/digest.h>
#include <common/errors.h>
#include <common/log.h>
#include <common/version.h>
#include <curl/curl.h>
#include <kj/debug.h>
#include <oci/image.h>
#include <oci/manifest.h>
#include <openssl/evp.h>
#include <time.h>

#include <curlpp/Easy.hpp>
#include <curlpp/Exception.hpp>
#include <curlpp/Infos.hpp>
#include <curlpp/Options.hpp>
#include <list>
#include <nlohmann/json.hpp>
#include <string>

namespace ctrd {
namespace {

constexpr size_t ERROR_BODY_LIMIT = 64 << 10;
constexpr size_t TOKEN_RESPONSE_LIMIT = 1 << 20;
constexpr long BUFFER_SIZE = 512 << 10;
constexpr kj::Duration DEFAULT_TOKEN_LIFETIME = 60 * kj::SECONDS;
constexpr unsigned ATTEMPTS = 5;
constexpr kj::Duration FIRST_RETRY_DELAY = 250 * kj::MILLISECONDS;  // doubles after each

kj::TimePoint monotonicNow() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return kj::origin<kj::TimePoint>() + ts.tv_sec * kj::SECONDS + ts.tv_nsec * kj::NANOSECONDS;
}

kj::String hostOf(kj::StringPtr url) {
  // "https://host:port/v2" -> "host:port"
  kj::StringPtr rest = url;
  for (kj::StringPtr scheme : {"https://"_kj, "http://"_kj}) {
    if (url.startsWith(scheme)) rest = url.slice(scheme.size());
  }
  KJ_IF_MAYBE(slash, rest.findFirst('/')) {
    return kj::heapString(rest.slice(0, *slash));
  }
  return kj::str(rest);
}

kj::String base64(kj::ArrayPtr<const kj::byte> bytes) {
  auto out = kj::heapArray<char>(4 * ((bytes.size() + 2) / 3) + 1);
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.begin()), bytes.begin(), bytes.size());
  return kj::heapString(out.begin(), n);
}

kj::String urlEscape(kj::StringPtr s) {
  char* escaped = curl_easy_escape(nullptr, s.cStr(), s.size());
  KJ_ASSERT(escaped != nullptr);
  auto out = kj::str(escaped);
  curl_free(escaped);
  return out;
}

kj::String lowerCase(kj::StringPtr s) {
  auto out = kj::str(s);
  for (char& c : out) c = tolower(static_cast<unsigned char>(c));
  return out;
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

kj::String registryErrorMessage(kj::StringPtr body) {
  // {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}
  try {
    auto json = nlohmann::json::parse(body.begin(), body.end());
    auto& errors = json.at("errors");
    if (errors.is_array() && !errors.empty()) {
      auto& e = errors[0];
      std::string code = e.value("code", "");
      std::string message = e.value("message", "");
      return kj::str(lowerCase(code.c_str()), ": ", message.c_str());
    }
  } catch (const std::exception&) {
  }
  return kj::str("");
}

bool transientStatus(long status) {
  return status >= 500 || status == 429 || status == 408;
}

bool transientCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

class TransientError {
  // A failure worth retrying: the network, or the registry's 5xx.
public:
  explicit TransientError(kj::Exception e) : exception(kj::mv(e)) {}
  kj::Exception exception;
};

}  // namespace

bool isLocalhost(kj::StringPtr domain) {
  auto host = kj::str(domain);
  if (host.startsWith("[")) {
    KJ_IF_MAYBE(close, host.findFirst(']')) {
      host = kj::str(host.slice(1, *close));
    }
  } else KJ_IF_MAYBE(colon, host.findFirst(':')) {
    host = kj::str(host.slice(0, *colon));
  }
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8, as an address: "127.evil.example" is a name like any other.
  struct in_addr address;
  return inet_pton(AF_INET, host.cStr(), &address) == 1 && (ntohl(address.s_addr) >> 24) == 127;
}

kj::StringPtr manifestAcceptHeader() {
  static const kj::String accept = kj::str(
      "Accept: ", oci::mediatypes::OCI_INDEX, ", ", oci::mediatypes::OCI_MANIFEST, ", ",
      oci::mediatypes::DOCKER_LIST, ", ", oci::mediatypes::DOCKER_MANIFEST, ", ",
      oci::mediatypes::DOCKER_SCHEMA1_SIGNED, ", ", oci::mediatypes::DOCKER_SCHEMA1, ", */*");
  return accept;
}

struct RegistryClient::Request {
  kj::StringPtr method;  // "GET" or "HEAD"
  kj::String url;
  kj::Vector<kj::String> headers;
  kj::Function<void(kj::ArrayPtr<const kj::byte> data)> sink;
  // Called with the body of a 2xx answer, after its headers are known.
  kj::Function<void(long status)> onHeaders = [](long) {};
};

struct RegistryClient::Response {
  long status = 0;
  kj::String contentType;
  kj::String digest;  // Docker-Content-Digest
  int64_t contentLength = -1;
  kj::String contentRange;
  kj::String wwwAuthenticate;
  kj::String errorBody;
};

RegistryClient::RegistryClient(oci::Reference reference,
                               kj::Vector<RegistryEndpoint> endpointsParam,
                               kj::Maybe<RegistryCredential> credential)
    : ref(kj::mv(reference)), endpoints(kj::mv(endpointsParam)), credential(kj::mv(credential)) {
  KJ_REQUIRE(endpoints.size() > 0, "a registry client needs an endpoint");
}

kj::Vector<RegistryEndpoint> RegistryClient::defaultEndpoints(const oci::Reference& ref,
                                                              bool plainHttp, bool skipVerify) {
  kj::Vector<RegistryEndpoint> out;
  RegistryEndpoint e;
  auto host = oci::registryHost(ref.domain);
  bool http = plainHttp || isLocalhost(ref.domain);
  e.url = kj::str(http ? "http://" : "https://", host, "/v2");
  e.skipVerify = skipVerify;
  out.add(kj::mv(e));
  return out;
}

kj::String RegistryClient::objectUrl(const RegistryEndpoint& endpoint, kj::StringPtr kind,
                                     kj::StringPtr tagOrDigest) {
  return kj::str(endpoint.url, "/", ref.path, "/", kind, "/", tagOrDigest);
}

kj::Maybe<kj::String> RegistryClient::cachedAuthorization(kj::StringPtr endpointUrl) {
  auto locked = tokens.lockExclusive();
  KJ_IF_MAYBE(t, locked->find(endpointUrl)) {
    if (t->expires > monotonicNow()) return kj::str(t->authorization);
  }
  return nullptr;
}

RegistryClient::Response RegistryClient::perform(const RegistryEndpoint& endpoint, Request& request,
                                                 kj::Maybe<kj::StringPtr> authorization,
                                                 const std::atomic<bool>& cancelled) {
  Response response;
  curlpp::Easy easy;
  using namespace curlpp::options;
  easy.setOpt(Url(request.url.cStr()));
  easy.setOpt(FollowLocation(true));
  easy.setOpt(MaxRedirs(10));
  // HTTP(S) only, redirects included (no file://, no other protocol libcurl knows). A redirect
  // to another host, port or scheme drops the Authorization header (libcurl does so unless
  // told CURLOPT_UNRESTRICTED_AUTH, which is never set here).
  curl_easy_setopt(easy.getHandle(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy.getHandle(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  easy.setOpt(BufferSize(BUFFER_SIZE));
  easy.setOpt(ConnectTimeout(30));
  easy.setOpt(LowSpeedLimit(1));
  easy.setOpt(LowSpeedTime(30));  // a registry silent for 30 s is a timeout
  easy.setOpt(NoSignal(true));
  easy.setOpt(UserAgent("containerd-cpp/" CTRD_VERSION));
  if (request.method == "HEAD") easy.setOpt(NoBody(true));
  if (endpoint.skipVerify) {
    easy.setOpt(SslVerifyPeer(false));
    easy.setOpt(SslVerifyHost(0));
  }
  if (endpoint.caPem.size() > 0) {
    struct curl_blob blob = {const_cast<kj::byte*>(endpoint.caPem.begin()), endpoint.caPem.size(),
                             CURL_BLOB_COPY};
    curl_easy_setopt(easy.getHandle(), CURLOPT_CAINFO_BLOB, &blob);
  }
  std::list<std::string> headers;
  for (auto& h : request.headers) headers.push_back(h.cStr());
  for (auto& h : endpoint.headers) headers.push_back(h.cStr());
  KJ_IF_MAYBE(a, authorization) {
    // libcurl keeps a custom Authorization header from hosts a redirect leads to.
    headers.push_back(kj::str("Authorization: ", *a).cStr());
  }
  easy.setOpt(HttpHeader(headers));

  easy.setOpt(HeaderFunction([&](char* p, size_t size, size_t n) -> size_t {
    kj::StringPtr line(p, size * n);
    auto trimmed = kj::str(line);
    while (trimmed.size() > 0 && (trimmed.endsWith("\n") || trimmed.endsWith("\r"))) {
      trimmed = kj::str(trimmed.slice(0, trimmed.size() - 1));
    }
    if (trimmed.startsWith("HTTP/")) {
      // A new response (after a redirect or a 100): forget the previous one's headers.
      response = Response();
      KJ_IF_MAYBE(space, trimmed.findFirst(' ')) {
        response.status = strtol(trimmed.cStr() + *space + 1, nullptr, 10);
      }
    } else KJ_IF_MAYBE(colon, trimmed.findFirst(':')) {
      auto name = lowerCase(kj::str(trimmed.slice(0, *colon)).asPtr());
      size_t v = *colon + 1;
      while (v < trimmed.size() && trimmed[v] == ' ') v++;
      auto value = kj::str(trimmed.slice(v));
      if (name == "content-type") {
        response.contentType = kj::mv(value);
        KJ_IF_MAYBE(semi, response.contentType.findFirst(';')) {
          response.contentType = kj::str(response.contentType.slice(0, *semi));
        }
      } else if (name == "docker-content-digest") {
        response.digest = kj::mv(value);
      } else if (name == "content-length") {
        response.contentLength = strtoll(value.cStr(), nullptr, 10);
      } else if (name == "content-range") {
        response.contentRange = kj::mv(value);
      } else if (name == "www-authenticate") {
        response.wwwAuthenticate = kj::mv(value);
      }
    }
    return size * n;
  }));
  bool notified = false;
  kj::Vector<char> errorBody;
  easy.setOpt(WriteFunction([&](char* p, size_t size, size_t n) -> size_t {
    if (cancelled.load(std::memory_order_relaxed)) return 0;
    auto bytes = kj::arrayPtr(reinterpret_cast<const kj::byte*>(p), size * n);
    if (response.status >= 200 && response.status < 300) {
      KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                    if (!notified) {
                      notified = true;
                      request.onHeaders(response.status);
                    }
                    request.sink(bytes);
                  })) {
        curlpp::raiseException(std::runtime_error(errorMessage(*e).cStr()));
        return 0;
      }
    } else if (errorBody.size() < ERROR_BODY_LIMIT) {
      errorBody.addAll(bytes.begin(),
                       bytes.begin() + kj::min(bytes.size(), ERROR_BODY_LIMIT - errorBody.size()));
    }
    return size * n;
  }));

  try {
    easy.perform();
  } catch (const curlpp::LibcurlRuntimeError& e) {
    if (cancelled.load()) throwError(ErrorKind::UNAVAILABLE, kj::str(request.url, ": cancelled"));
    auto error =
        makeError(ErrorKind::UNKNOWN, kj::str(request.method, " ", request.url, ": ", e.what()));
    if (transientCurlError(e.whatCode())) throw TransientError(kj::mv(error));
    kj::throwFatalException(kj::mv(error));
  } catch (const std::runtime_error& e) {
    // What a sink threw, raised again by cURLpp with its message.
    throwError(ErrorKind::UNKNOWN, e.what());
  }
  if (!notified && response.status >= 200 && response.status < 300)
    request.onHeaders(response.status);
  errorBody.add('\0');
  response.errorBody = kj::String(errorBody.releaseAsArray());
  return response;
}

kj::String RegistryClient::credentialHost() const {
  // The credentials are for the reference's registry; Docker Hub's API lives at another name.
  return oci::registryHost(ref.domain);
}

kj::Maybe<const RegistryCredential&> RegistryClient::credentialFor(kj::StringPtr url) const {
  // Only the registry the credentials are for gets them: never a mirror, never another host.
  // (An http:// endpoint for that host exists only if the user configured it so.)
  KJ_IF_MAYBE(c, credential) {
    if (hostOf(url) == credentialHost()) return *c;
  }
  return nullptr;
}

kj::Maybe<const RegistryCredential&> RegistryClient::credentialForRealm(
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

RegistryClient::Token RegistryClient::authenticate(const RegistryEndpoint& endpoint,
                                                   kj::StringPtr header,
                                                   const std::atomic<bool>& cancelled) {
  auto challenge = parseChallenge(header);
  if (challenge.scheme == "basic") {
    KJ_IF_MAYBE(c, credentialFor(endpoint.url)) {
      return {kj::str("Basic ", base64(kj::str(c->username, ":", c->secret).asBytes())),
              monotonicNow() + 3600 * kj::SECONDS};
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
  Request request{"GET", kj::mv(url), {}, [&](kj::ArrayPtr<const kj::byte> data) {
                    if (body.size() + data.size() > TOKEN_RESPONSE_LIMIT) {
                      throwError(ErrorKind::INVALID_ARGUMENT,
                                 kj::str(ref.domain, ": token response larger than 1 MiB"));
                    }
                    body.addAll(data.asChars());
                  }};
  kj::Maybe<kj::String> basic;
  KJ_IF_MAYBE(c, credentialForRealm(endpoint, realm)) {
    basic = kj::str("Basic ", base64(kj::str(c->username, ":", c->secret).asBytes()));
  }
  RegistryEndpoint tokenEndpoint;
  tokenEndpoint.skipVerify = endpoint.skipVerify;
  tokenEndpoint.caPem = kj::heapArray(endpoint.caPem.asPtr());
  auto response = perform(tokenEndpoint, request,
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

RegistryClient::Response RegistryClient::send(const RegistryEndpoint& endpoint, Request& request,
                                              const std::atomic<bool>& cancelled) {
  auto cached = cachedAuthorization(endpoint.url);
  auto response = perform(endpoint, request,
                          cached.map([](kj::String& s) -> kj::StringPtr { return s; }), cancelled);
  if (response.status != 401 || response.wwwAuthenticate.size() == 0) return response;
  auto token = authenticate(endpoint, response.wwwAuthenticate, cancelled);
  auto authorization = kj::str(token.authorization);
  {
    auto locked = tokens.lockExclusive();
    locked->upsert(kj::str(endpoint.url), kj::mv(token),
                   [](Token& old, Token&& fresh) { old = kj::mv(fresh); });
  }
  response = perform(endpoint, request, authorization.asPtr(), cancelled);
  if (response.status == 401 || response.status == 403) {
    auto message = registryErrorMessage(response.errorBody);
    throwError(ErrorKind::UNKNOWN,
               kj::str(ref.domain, ": unauthorized: the registry refused ",
                       credential == nullptr ? "anonymous access" : "the credentials", " (HTTP ",
                       response.status, message.size() > 0 ? ": " : "", message, ")"));
  }
  return response;
}

RegistryDescriptor RegistryClient::resolveAt(const RegistryEndpoint& endpoint,
                                             const std::atomic<bool>& cancelled) {
  auto name = ref.toString();
  kj::StringPtr object;
  KJ_IF_MAYBE(d, ref.digest) {
    object = *d;
  } else {
    object = KJ_ASSERT_NONNULL(ref.tag);
  }
  Request head{
      "HEAD", objectUrl(endpoint, "manifests", object), {}, [](kj::ArrayPtr<const kj::byte>) {}};
  head.headers.add(kj::str(manifestAcceptHeader()));
  auto response = send(endpoint, head, cancelled);
  checkStatus(response, name, head);
  auto mediaType = kj::mv(response.contentType);
  oci::kindOf(mediaType);  // schema 1 and unknown types stop here
  auto digest = kj::mv(response.digest);
  int64_t size = response.contentLength;
  KJ_IF_MAYBE(pinned, ref.digest) {
    if (digest.size() > 0 && digest != *pinned) {
      throwError(ErrorKind::FAILED_PRECONDITION, kj::str(name, ": the registry names it ", digest));
    }
    digest = kj::str(*pinned);
  }
  if (digest.size() == 0 || size < 0) {
    // Some registries name no digest on HEAD: read the manifest and hash it.
    kj::Vector<kj::byte> body;
    Request get{"GET", kj::str(head.url), {}, [&](kj::ArrayPtr<const kj::byte> data) {
                  if (body.size() + data.size() > oci::MAX_DOCUMENT_SIZE) {
                    throwError(ErrorKind::INVALID_ARGUMENT,
                               kj::str(name, ": manifest larger than 4 MiB"));
                  }
                  body.addAll(data);
                }};
    get.headers.add(kj::str(manifestAcceptHeader()));
    checkStatus(send(endpoint, get, cancelled), name, get);
    digest = kj::str(SHA256_PREFIX, sha256Hex(body));
    size = body.size();
  }
  validateDigest(digest);
  if (size > int64_t(oci::MAX_DOCUMENT_SIZE)) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(name, ": manifest of ", size, " bytes (at most 4 MiB)"));
  }
  return {kj::mv(mediaType), kj::mv(digest), size};
}

void RegistryClient::checkStatus(const Response& response, kj::StringPtr subject,
                                 const Request& request) {
  if (response.status >= 200 && response.status < 300) return;
  if (response.status == 404) throwError(ErrorKind::NOT_FOUND, subject);
  auto message = registryErrorMessage(response.errorBody);
  auto error = makeError(ErrorKind::UNKNOWN,
                         kj::str(subject, ": ", request.method, " ", request.url, " answered HTTP ",
                                 response.status, message.size() > 0 ? ": " : "", message));
  if (transientStatus(response.status)) throw TransientError(kj::mv(error));
  kj::throwFatalException(kj::mv(error));
}

RegistryDescriptor RegistryClient::resolve(const std::atomic<bool>& cancelled) {
  kj::Maybe<RegistryDescriptor> result;
  withRetries(ref.toString(), cancelled, [&](const RegistryEndpoint& endpoint) {
    if (!endpoint.resolve) return false;
    result = resolveAt(endpoint, cancelled);
    return true;
  });
  return KJ_ASSERT_NONNULL(kj::mv(result));
}

void RegistryClient::downloadOnce(const RegistryEndpoint& endpoint,
                                  const RegistryDescriptor& descriptor, Ingest& ingest,
                                  const std::atomic<bool>& cancelled) {
  bool manifest = oci::isManifestType(descriptor.mediaType);
  int64_t from = ingest.offset();
  if (from > descriptor.size) {
    ingest.reset();
    from = 0;
  }
  if (from == descriptor.size) return;

  kj::Maybe<IngestAppender> appender;
  Request request{"GET",
                  objectUrl(endpoint, manifest ? "manifests" : "blobs", descriptor.digest),
                  {},
                  [&](kj::ArrayPtr<const kj::byte> data) {
                    auto& a = KJ_ASSERT_NONNULL(appender);
                    if (a.accepted() + int64_t(data.size()) > descriptor.size) {
                      throwError(ErrorKind::FAILED_PRECONDITION,
                                 kj::str(descriptor.digest, ": the registry sent more than ",
                                         descriptor.size, " bytes"));
                    }
                    a.write(data);
                  }};
  request.onHeaders = [&](long status) {
    if (status == 200 && ingest.offset() > 0) {
      // The registry ignored the Range: start over.
      logInfo("registry ignored the range request for ", descriptor.digest, "; starting over");
      ingest.reset();
    }
    // Smaller than a local copy's: the network, not the disk, sets the pace, and several
    // downloads run at once.
    appender.emplace(ingest, IngestAppender::Buffers{4, 512 << 10});
  };
  if (manifest) request.headers.add(kj::str(manifestAcceptHeader()));
  if (from > 0) request.headers.add(kj::str("Range: bytes=", from, "-"));

  auto response = send(endpoint, request, cancelled);
  KJ_IF_MAYBE(a, appender) {
    a->finish();
  }
  if (response.status == 416 && from > 0) {
    // Nothing after what we have: either it is all there, or the ingest is not a prefix.
    ingest.reset();
    throw TransientError(
        makeError(ErrorKind::UNKNOWN, kj::str(descriptor.digest, ": range not satisfiable")));
  }
  checkStatus(response, kj::str(ref.name(), "@", descriptor.digest), request);
  if (response.status == 206 && !response.contentRange.startsWith(kj::str("bytes ", from, "-"))) {
    ingest.reset();
    throw TransientError(makeError(
        ErrorKind::UNKNOWN, kj::str(descriptor.digest, ": content range \"", response.contentRange,
                                    "\" does not start at ", from)));
  }
  if (ingest.offset() != descriptor.size) {
    throw TransientError(
        makeError(ErrorKind::UNKNOWN, kj::str(descriptor.digest, ": connection closed after ",
                                              ingest.offset(), " of ", descriptor.size, " bytes")));
  }
}

void RegistryClient::withRetries(kj::StringPtr subject, const std::atomic<bool>& cancelled,
                                 kj::FunctionParam<bool(const RegistryEndpoint&)> attempt) {
  // Each round tries the endpoints in order (mirrors first); `attempt` answers false for an
  // endpoint that may not serve it. Not found on one endpoint moves to the next; only failures
  // of the network or a 5xx start another round, after a backoff.
  auto delay = FIRST_RETRY_DELAY;
  kj::Maybe<kj::Exception> lastError;
  for (unsigned round = 0; round < ATTEMPTS; round++) {
    if (round > 0) {
      auto until = monotonicNow() + delay;
      while (monotonicNow() < until && !cancelled.load()) {
        struct timespec slice = {0, 20 * 1000 * 1000};
        nanosleep(&slice, nullptr);
      }
      delay = delay * 2;
      logInfo("retrying ", subject, " (attempt ", round + 1, " of ", ATTEMPTS, ")");
    }
    if (cancelled.load()) throwError(ErrorKind::UNAVAILABLE, kj::str(subject, ": cancelled"));
    bool transient = false;
    bool tried = false;
    for (auto& endpoint : endpoints) {
      try {
        if (attempt(endpoint)) return;
        continue;
      } catch (TransientError& e) {
        logWarn(errorMessage(e.exception));
        lastError = kj::mv(e.exception);
        transient = true;
      } catch (kj::Exception& e) {
        if (errorKind(e) != ErrorKind::NOT_FOUND) throw;
        lastError = kj::mv(e);
      }
      tried = true;
    }
    if (!tried) throwError(ErrorKind::NOT_FOUND, kj::str(subject, ": no endpoint may serve it"));
    if (!transient) break;
  }
  auto& e = KJ_ASSERT_NONNULL(lastError);
  if (errorKind(e) == ErrorKind::NOT_FOUND) kj::throwFatalException(kj::mv(e));
  throwError(errorKind(e), kj::str(errorMessage(e), " (gave up after ", ATTEMPTS, " attempts)"));
}

void RegistryClient::download(const RegistryDescriptor& descriptor, Ingest& ingest,
                              const std::atomic<bool>& cancelled) {
  validateDigest(descriptor.digest);
  withRetries(descriptor.digest, cancelled, [&](const RegistryEndpoint& endpoint) {
    if (!endpoint.pull) return false;
    downloadOnce(endpoint, descriptor, ingest, cancelled);
    return true;
  });
}

}  // namespace ctrd
