// HTTP for the registry client: one request on a libcurl easy handle (HTTP and HTTPS only,
// redirects included; bounded error bodies; the headers the protocol needs, parsed), and which
// failures are worth a retry. Blocking; each call has its own handle, so threads may share it.
#pragma once

#include <kj/array.h>
#include <kj/function.h>
#include <kj/string.h>
#include <kj/time.h>
#include <kj/vector.h>
#include <stdint.h>

#include <atomic>

namespace ctrd {

struct RegistryEndpoint {
  kj::String url;  // API base, "https://host/v2"
  bool pull = true;
  bool resolve = true;
  bool push = true;
  bool skipVerify = false;
  kj::Array<kj::byte> caPem;
  kj::Vector<kj::String> headers;  // "Name: value"
};

struct HttpRequest {
  kj::StringPtr method;  // "GET", "HEAD", "POST", "PUT" or "PATCH"
  kj::String url;
  kj::Vector<kj::String> headers;
  kj::Function<void(kj::ArrayPtr<const kj::byte> data)> sink;
  // Called with the body of a 2xx answer, after its headers are known.
  kj::Function<void(long status)> onHeaders = [](long) {};
  int bodyFd = -1;         // POST, PUT and PATCH: the body, read with pread (each attempt anew)
  int64_t bodyOffset = 0;  // where in bodyFd the body starts
  int64_t bodySize = 0;    // how many bytes from there
  kj::Function<void(int64_t sent)> onSent = [](int64_t) {};
};

struct HttpResponse {
  long status = 0;
  kj::String contentType;
  kj::String digest;  // Docker-Content-Digest
  int64_t contentLength = -1;
  kj::String contentRange;
  kj::String wwwAuthenticate;
  kj::String location;  // an upload session's URL, as the registry gave it
  kj::String range;     // an upload session's "Range: 0-LAST", the bytes the registry holds
  kj::String errorBody;
};

HttpResponse performRequest(const RegistryEndpoint& endpoint, HttpRequest& request,
                            kj::Maybe<kj::StringPtr> authorization,
                            const std::atomic<bool>& cancelled);
// One request to `endpoint`'s host. A failure of the network (refused, reset, timed out) is
// `unavailable`, worth a retry; what the sink throws, and anything else, `unknown`.

bool transientStatus(long status);
// 5xx, 429 and 408: worth a retry.

kj::String registryErrorMessage(kj::StringPtr body);
// The first of a registry's {"errors":[{"code","message"}]}, "code: message"; empty if none.

kj::TimePoint monotonicNow();
kj::String hostOf(kj::StringPtr url);  // "https://host:port/v2" -> "host:port"
kj::String urlEscape(kj::StringPtr s);
kj::String lowerCase(kj::StringPtr s);

bool isLocalhost(kj::StringPtr domain);
// "localhost", "::1" or an address in 127.0.0.0/8, with or without a port: reached over plain
// HTTP by default. A name that merely starts with "127." is not.

}  // namespace ctrd
