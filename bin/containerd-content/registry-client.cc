#include "registry-client.h"

#include <common/digest.h>
#include <common/errors.h>
#include <common/log.h>
#include <kj/debug.h>
#include <oci/image.h>
#include <oci/manifest.h>
#include <stdlib.h>
#include <time.h>

namespace ctrd {
namespace {

constexpr unsigned ATTEMPTS = 5;
constexpr kj::Duration FIRST_RETRY_DELAY = 250 * kj::MILLISECONDS;  // doubles after each

}  // namespace

kj::StringPtr manifestAcceptHeader() {
  static const kj::String accept = kj::str(
      "Accept: ", oci::mediatypes::OCI_INDEX, ", ", oci::mediatypes::OCI_MANIFEST, ", ",
      oci::mediatypes::DOCKER_LIST, ", ", oci::mediatypes::DOCKER_MANIFEST, ", ",
      oci::mediatypes::DOCKER_SCHEMA1_SIGNED, ", ", oci::mediatypes::DOCKER_SCHEMA1, ", */*");
  return accept;
}

RegistryClient::RegistryClient(oci::Reference reference,
                               kj::Vector<RegistryEndpoint> endpointsParam,
                               kj::Maybe<RegistryCredential> credential)
    : ref(kj::mv(reference)), endpoints(kj::mv(endpointsParam)), auth(ref, kj::mv(credential)) {
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

RegistryDescriptor RegistryClient::resolveAt(const RegistryEndpoint& endpoint,
                                             const std::atomic<bool>& cancelled) {
  auto name = ref.toString();
  kj::StringPtr object;
  KJ_IF_MAYBE(d, ref.digest) {
    object = *d;
  } else {
    object = KJ_ASSERT_NONNULL(ref.tag);
  }
  HttpRequest head{
      "HEAD", objectUrl(endpoint, "manifests", object), {}, [](kj::ArrayPtr<const kj::byte>) {}};
  head.headers.add(kj::str(manifestAcceptHeader()));
  auto response = auth.send(endpoint, head, cancelled);
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
    HttpRequest get{"GET", kj::str(head.url), {}, [&](kj::ArrayPtr<const kj::byte> data) {
                      if (body.size() + data.size() > oci::MAX_DOCUMENT_SIZE) {
                        throwError(ErrorKind::INVALID_ARGUMENT,
                                   kj::str(name, ": manifest larger than 4 MiB"));
                      }
                      body.addAll(data);
                    }};
    get.headers.add(kj::str(manifestAcceptHeader()));
    checkStatus(auth.send(endpoint, get, cancelled), name, get);
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

void RegistryClient::checkStatus(const HttpResponse& response, kj::StringPtr subject,
                                 const HttpRequest& request) {
  if (response.status >= 200 && response.status < 300) return;
  if (response.status == 404) throwError(ErrorKind::NOT_FOUND, subject);
  auto message = registryErrorMessage(response.errorBody);
  throwError(transientStatus(response.status) ? ErrorKind::UNAVAILABLE : ErrorKind::UNKNOWN,
             kj::str(subject, ": ", request.method, " ", request.url, " answered HTTP ",
                     response.status, message.size() > 0 ? ": " : "", message));
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
  HttpRequest request{"GET",
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

  auto response = auth.send(endpoint, request, cancelled);
  KJ_IF_MAYBE(a, appender) {
    a->finish();
  }
  if (response.status == 416 && from > 0) {
    // Nothing after what we have: either it is all there, or the ingest is not a prefix.
    ingest.reset();
    throwError(ErrorKind::UNAVAILABLE, kj::str(descriptor.digest, ": range not satisfiable"));
  }
  checkStatus(response, kj::str(ref.name(), "@", descriptor.digest), request);
  if (response.status == 206 && !response.contentRange.startsWith(kj::str("bytes ", from, "-"))) {
    ingest.reset();
    throwError(ErrorKind::UNAVAILABLE,
               kj::str(descriptor.digest, ": content range \"", response.contentRange,
                       "\" does not start at ", from));
  }
  if (ingest.offset() != descriptor.size) {
    throwError(ErrorKind::UNAVAILABLE, kj::str(descriptor.digest, ": connection closed after ",
                                               ingest.offset(), " of ", descriptor.size, " bytes"));
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
      } catch (kj::Exception& e) {
        // `unavailable`: the network, or the registry's 5xx.
        if (errorKind(e) == ErrorKind::UNAVAILABLE && !cancelled.load()) {
          logWarn(errorMessage(e));
          transient = true;
        } else if (errorKind(e) != ErrorKind::NOT_FOUND) {
          throw;
        }
        lastError = kj::mv(e);
      }
      tried = true;
    }
    if (!tried) throwError(ErrorKind::NOT_FOUND, kj::str(subject, ": no endpoint may serve it"));
    if (!transient) break;
  }
  auto& e = KJ_ASSERT_NONNULL(lastError);
  if (errorKind(e) == ErrorKind::NOT_FOUND) kj::throwFatalException(kj::mv(e));
  throwError(errorKind(e), kj::str(errorSubject(e), " (gave up after ", ATTEMPTS, " attempts)"));
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

kj::String RegistryClient::sessionUrl(const RegistryEndpoint& endpoint, kj::StringPtr location) {
  // Location may be a whole URL or a path on the registry's host.
  if (location.startsWith("http://") || location.startsWith("https://")) return kj::str(location);
  if (!location.startsWith("/")) {
    throwError(ErrorKind::UNKNOWN, kj::str(ref.domain, ": upload location \"", location, "\""));
  }
  auto schemeEnd = KJ_ASSERT_NONNULL(endpoint.url.findFirst(':')) + 3;
  size_t hostEnd = schemeEnd;
  while (hostEnd < endpoint.url.size() && endpoint.url[hostEnd] != '/') hostEnd++;
  return kj::str(endpoint.url.slice(0, hostEnd), location);
}

PushOutcome RegistryClient::pushOnce(const RegistryEndpoint& endpoint,
                                     const RegistryDescriptor& descriptor, int fd,
                                     kj::StringPtr tag, kj::StringPtr mountFrom,
                                     const std::atomic<bool>& cancelled,
                                     kj::Function<void(int64_t sent)>& onSent,
                                     kj::Maybe<kj::String>& session) {
  bool manifest = oci::isManifestType(descriptor.mediaType);
  auto subject = kj::str(ref.name(), "@", descriptor.digest);
  auto noBody = [](kj::ArrayPtr<const kj::byte>) {};
  auto exists = [&](kj::StringPtr kind) {
    HttpRequest head{"HEAD", objectUrl(endpoint, kind, descriptor.digest), {}, noBody};
    if (manifest) head.headers.add(kj::str(manifestAcceptHeader()));
    auto response = auth.send(endpoint, head, cancelled);
    if (response.status == 404) return false;
    checkStatus(response, subject, head);
    return true;
  };
  auto put = [&](kj::String url, kj::StringPtr contentType, int64_t from, int64_t size) {
    HttpRequest request{"PUT", kj::mv(url), {}, noBody};
    request.headers.add(kj::str("Content-Type: ", contentType));
    request.bodyFd = fd;
    request.bodyOffset = from;
    request.bodySize = size;
    request.onSent = [&](int64_t sent) { onSent(sent); };
    auto response = auth.send(endpoint, request, cancelled);
    checkStatus(response, subject, request);
    if (response.digest.size() > 0 && response.digest != descriptor.digest) {
      throwError(ErrorKind::UNKNOWN,
                 kj::str(subject, ": the registry stored it as ", response.digest));
    }
  };
  if (manifest) {
    if (tag.size() == 0 && exists("manifests")) return PushOutcome::EXISTED;
    put(objectUrl(endpoint, "manifests", tag.size() > 0 ? tag : descriptor.digest),
        descriptor.mediaType, 0, descriptor.size);
    return PushOutcome::UPLOADED;
  }
  if (exists("blobs")) return PushOutcome::EXISTED;
  int64_t offset = sessionOffset(endpoint, session, subject, cancelled);
  if (session == nullptr) {
    auto uploads = kj::str(endpoint.url, "/", ref.path, "/blobs/uploads/");
    if (mountFrom.size() > 0 && mountFrom != ref.path) {
      // A digest is [a-z0-9:] only (validated): sent unescaped, as containerd does.
      uploads = kj::str(uploads, "?mount=", descriptor.digest, "&from=", urlEscape(mountFrom));
    }
    HttpRequest post{"POST", kj::mv(uploads), {}, noBody};
    auto started = auth.send(endpoint, post, cancelled);
    if (started.status == 201) return PushOutcome::MOUNTED;
    checkStatus(started, subject, post);
    if (started.location.size() == 0) {
      throwError(ErrorKind::UNKNOWN, kj::str(subject, ": the registry named no upload location"));
    }
    session = sessionUrl(endpoint, started.location);
  }
  auto withDigest = [&](kj::StringPtr url) {
    return kj::str(url, url.findFirst('?') == nullptr ? "?" : "&",
                   "digest=", urlEscape(descriptor.digest));
  };
  if (descriptor.size <= UPLOAD_CHUNK && offset == 0) {
    put(withDigest(KJ_ASSERT_NONNULL(session)), "application/octet-stream", 0, descriptor.size);
    session = nullptr;
    return PushOutcome::UPLOADED;
  }
  while (offset < descriptor.size) {
    // A chunk at a time, each answered with the session's next URL: cut off, the next attempt
    // resumes after the last chunk the registry acknowledged.
    int64_t size = kj::min(UPLOAD_CHUNK, descriptor.size - offset);
    HttpRequest patch{"PATCH", kj::str(KJ_ASSERT_NONNULL(session)), {}, noBody};
    patch.headers.add(kj::str("Content-Type: application/octet-stream"));
    patch.headers.add(kj::str("Content-Range: ", offset, "-", offset + size - 1));
    patch.bodyFd = fd;
    patch.bodyOffset = offset;
    patch.bodySize = size;
    patch.onSent = [&, offset](int64_t sent) { onSent(offset + sent); };
    auto response = auth.send(endpoint, patch, cancelled);
    if (response.status == 416 || response.status == 404) {
      // The session holds other bytes than we thought, or is gone: a new one, from byte 0.
      session = nullptr;
      throwError(ErrorKind::UNAVAILABLE, kj::str(subject, ": upload session lost"));
    }
    checkStatus(response, subject, patch);
    if (response.location.size() > 0) session = sessionUrl(endpoint, response.location);
    offset += size;
  }
  put(withDigest(KJ_ASSERT_NONNULL(session)), "application/octet-stream", 0, 0);
  session = nullptr;
  return PushOutcome::UPLOADED;
}

int64_t RegistryClient::sessionOffset(const RegistryEndpoint& endpoint,
                                      kj::Maybe<kj::String>& session, kj::StringPtr subject,
                                      const std::atomic<bool>& cancelled) {
  KJ_IF_MAYBE(url, session) {
    // Only a session on this endpoint's host is this endpoint's to resume.
    auto origin = sessionUrl(endpoint, "/");
    if (!url->startsWith(origin)) {
      session = nullptr;
      return 0;
    }
    HttpRequest status{"GET", kj::str(*url), {}, [](kj::ArrayPtr<const kj::byte>) {}};
    auto response = auth.send(endpoint, status, cancelled);
    if (response.status == 204 && response.range.startsWith("0-")) {
      // "0-LAST": the registry holds bytes 0 through LAST (distribution says "0-0" for none).
      int64_t last = strtoll(response.range.cStr() + 2, nullptr, 10);
      int64_t offset = last > 0 ? last + 1 : 0;
      if (response.location.size() > 0) session = sessionUrl(endpoint, response.location);
      logInfo(subject, ": resuming the upload at byte ", offset);
      return offset;
    }
    if (response.status >= 500) checkStatus(response, subject, status);
    // Forgotten, or refused (a registry that stored part of a chunk before it died no longer
    // matches the session's state): a new session, from the first byte.
    logInfo(subject, ": the upload session is gone (", response.status, "); starting over");
    session = nullptr;
  }
  return 0;
}

PushOutcome RegistryClient::push(const RegistryDescriptor& descriptor, int fd, kj::StringPtr tag,
                                 kj::StringPtr mountFrom, const std::atomic<bool>& cancelled,
                                 kj::Function<void(int64_t sent)> onSent) {
  validateDigest(descriptor.digest);
  PushOutcome outcome = PushOutcome::UPLOADED;
  kj::Maybe<kj::String> session;
  withRetries(descriptor.digest, cancelled, [&](const RegistryEndpoint& endpoint) {
    if (!endpoint.push) return false;
    outcome = pushOnce(endpoint, descriptor, fd, tag, mountFrom, cancelled, onSent, session);
    return true;
  });
  return outcome;
}

}  // namespace ctrd
