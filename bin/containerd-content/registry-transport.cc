#include "registry-transport.h"

#include <arpa/inet.h>
#include <common/errors.h>
#include <common/version.h>
#include <curl/curl.h>
#include <errno.h>
#include <kj/debug.h>
#include <time.h>
#include <unistd.h>

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
constexpr long BUFFER_SIZE = 512 << 10;

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

}  // namespace

bool transientStatus(long status) {
  return status >= 500 || status == 429 || status == 408;
}

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

HttpResponse performRequest(const RegistryEndpoint& endpoint, HttpRequest& request,
                            kj::Maybe<kj::StringPtr> authorization,
                            const std::atomic<bool>& cancelled) {
  HttpResponse response;
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
  int64_t sent = 0;
  bool withBody = request.method == "PUT" || request.method == "POST" || request.method == "PATCH";
  if (withBody) {
    // The body from an fd, never through memory: pread from where this attempt is.
    curl_easy_setopt(easy.getHandle(), CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy.getHandle(), CURLOPT_CUSTOMREQUEST, request.method.cStr());
    curl_easy_setopt(easy.getHandle(), CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(request.bodySize));
    easy.setOpt(ReadFunction([&](char* p, size_t size, size_t n) -> size_t {
      if (cancelled.load(std::memory_order_relaxed)) return CURL_READFUNC_ABORT;
      if (request.bodyFd < 0 || sent >= request.bodySize) return 0;
      size_t want = size_t(kj::min(int64_t(size * n), request.bodySize - sent));
      ssize_t got;
      do {
        got = pread(request.bodyFd, p, want, request.bodyOffset + sent);
      } while (got < 0 && errno == EINTR);
      if (got <= 0) return CURL_READFUNC_ABORT;
      sent += got;
      request.onSent(sent);
      return size_t(got);
    }));
  }
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
  // No "Expect: 100-continue" round trip before a body.
  if (withBody) headers.push_back("Expect:");
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
      response = HttpResponse();
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
      } else if (name == "location") {
        response.location = kj::mv(value);
      } else if (name == "range") {
        response.range = kj::mv(value);
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
    // A failure of the network is worth a retry: `unavailable`.
    throwError(transientCurlError(e.whatCode()) ? ErrorKind::UNAVAILABLE : ErrorKind::UNKNOWN,
               kj::str(request.method, " ", request.url, ": ", e.what()));
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

}  // namespace ctrd
