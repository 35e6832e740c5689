#include "distribution-server.h"

#include <common/errors.h>
#include <common/identifiers.h>
#include <common/log.h>
#include <common/worker.h>
#include <kj/debug.h>
#include <oci/manifest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "ingest.h"

namespace ctrd {

void fillPlatform(schema::Platform::Builder out, const oci::Platform& p) {
  out.setOs(p.os);
  out.setArchitecture(p.architecture);
  out.setVariant(p.variant);
}

void fillDescriptor(schema::Descriptor::Builder out, const oci::Descriptor& d) {
  out.setMediaType(d.mediaType);
  out.setDigest(d.digest);
  out.setSize(d.size);
  KJ_IF_MAYBE(p, d.platform) {
    fillPlatform(out.initPlatform(), *p);
  }
}

kj::Array<kj::byte> readDocument(BlobStore& store, kj::StringPtr digest, kj::StringPtr what) {
  auto fd = store.openBlob(digest);
  struct stat st;
  KJ_SYSCALL(fstat(fd, &st));
  if (st.st_size > int64_t(oci::MAX_DOCUMENT_SIZE)) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(digest, ": ", st.st_size, " bytes (at most 4 MiB for ", what, ")"));
  }
  auto bytes = kj::heapArray<kj::byte>(st.st_size);
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n;
    KJ_SYSCALL(n = pread(fd, bytes.begin() + got, bytes.size() - got, got));
    if (n == 0) break;
    got += n;
  }
  return kj::heapArray(bytes.slice(0, got));
}

oci::Descriptor descriptorFrom(schema::Descriptor::Reader d) {
  oci::Descriptor out{kj::str(d.getMediaType()), kj::str(d.getDigest()), d.getSize(), nullptr};
  if (d.hasPlatform() && d.getPlatform().getOs().size() > 0) {
    auto p = d.getPlatform();
    out.platform =
        oci::Platform{kj::str(p.getOs()), kj::str(p.getArchitecture()), kj::str(p.getVariant())};
  }
  return out;
}

namespace {

constexpr auto PROGRESS_EVERY = 100 * kj::MILLISECONDS;

void fillStrings(capnp::List<capnp::Text>::Builder out, const kj::Vector<kj::String>& strings) {
  for (size_t i = 0; i < strings.size(); i++) out.set(i, strings[i]);
}

void fillDocument(schema::ImageDocument::Builder out, kj::StringPtr mediaType,
                  kj::ArrayPtr<const kj::byte> bytes) {
  using namespace oci::mediatypes;
  if (mediaType == OCI_CONFIG || mediaType == DOCKER_CONFIG) {
    auto config = oci::parseConfig(bytes);
    auto c = out.initConfig();
    fillPlatform(c.initPlatform(), config.platform);
    fillStrings(c.initDiffIds(config.diffIds.size()), config.diffIds);
    fillStrings(c.initEnv(config.env.size()), config.env);
    fillStrings(c.initEntrypoint(config.entrypoint.size()), config.entrypoint);
    fillStrings(c.initCmd(config.cmd.size()), config.cmd);
    c.setWorkingDir(config.workingDir);
    c.setUser(config.user);
    c.setStopSignal(config.stopSignal);
    return;
  }
  switch (oci::kindOf(mediaType)) {
    case oci::DocumentKind::INDEX: {
      auto index = oci::parseIndex(bytes);
      auto i = out.initIndex();
      i.setMediaType(index.mediaType.size() > 0 ? index.mediaType.asPtr() : mediaType);
      auto list = i.initManifests(index.manifests.size());
      for (size_t n = 0; n < list.size(); n++) fillDescriptor(list[n], index.manifests[n]);
      return;
    }
    case oci::DocumentKind::MANIFEST: {
      auto manifest = oci::parseManifest(bytes);
      auto m = out.initManifest();
      m.setMediaType(manifest.mediaType.size() > 0 ? manifest.mediaType.asPtr() : mediaType);
      fillDescriptor(m.initConfig(), manifest.config);
      auto list = m.initLayers(manifest.layers.size());
      for (size_t n = 0; n < list.size(); n++) fillDescriptor(list[n], manifest.layers[n]);
      return;
    }
  }
}

kj::Promise<void> reportPosition(kj::Timer& timer, kj::Function<int64_t()>& position,
                                 schema::FetchProgress::Client progress, int64_t reported) {
  // While a download or upload runs: how far it is (an ingest's offset, the bytes sent),
  // whenever it moved, every 100 ms. Stops when the transfer settles (the promise is dropped)
  // or the listener goes away.
  return timer.afterDelay(PROGRESS_EVERY).then([&timer, &position, progress, reported]() mutable {
    int64_t offset = position();
    if (offset == reported) return reportPosition(timer, position, kj::mv(progress), reported);
    auto req = progress.updateRequest();
    req.setOffset(offset);
    return req.send().then([&timer, &position, progress, offset](auto) mutable {
      return reportPosition(timer, position, kj::mv(progress), offset);
    });
  });
}

kj::Promise<void> reportWhileRunning(kj::Timer& timer, kj::Function<int64_t()> position,
                                     schema::FetchProgress::Client progress) {
  // A listener that went away stops only the reports.
  auto owned = kj::heap(kj::mv(position));
  auto& ref = *owned;
  int64_t start = ref();
  return reportPosition(timer, ref, kj::mv(progress), start)
      .attach(kj::mv(owned))
      .catch_([](kj::Exception&&) -> kj::Promise<void> { return kj::NEVER_DONE; });
}

}  // namespace

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
    out.push = e.getPush();
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

kj::String fetchIngestRef(kj::StringPtr owner, kj::StringPtr mediaType, kj::StringPtr digest) {
  kj::StringPtr kind = "layer";
  if (oci::isManifestType(mediaType)) {
    kind = oci::kindOf(mediaType) == oci::DocumentKind::INDEX ? "index"_kj : "manifest"_kj;
  } else if (oci::isDocumentType(mediaType)) {
    kind = "config";
  }
  return kj::str(owner, "/", kind, "-", digest);
}

kj::Promise<void> DistributionServer::registry(RegistryContext context) {
  auto params = context.getParams();
  context.getResults().setRegistry(kj::heap<RegistryServer>(
      store, timer, newRegistryClient(params.getReference(), params.getConfig())));
  return kj::READY_NOW;
}

kj::Promise<void> DistributionServer::parse(ParseContext context) {
  auto params = context.getParams();
  auto digest = params.getDigest();
  auto mediaType = params.getMediaType();
  if (!oci::isDocumentType(mediaType)) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(digest, ": \"", mediaType, "\" is not an index, manifest or config"));
  }
  auto bytes = readDocument(store, digest, mediaType);
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                fillDocument(context.getResults().initDocument(), mediaType, bytes);
              })) {
    kj::throwFatalException(withContext(digest, *e));
  }
  return kj::READY_NOW;
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
  validateIdentifier("namespace", params.getOwner());
  if (d.size < 0) throwError(ErrorKind::INVALID_ARGUMENT, kj::str(d.digest, ": size ", d.size));
  if (oci::isDocumentType(d.mediaType) && d.size > int64_t(oci::MAX_DOCUMENT_SIZE)) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(d.digest, ": ", d.mediaType, " of ", d.size, " bytes (at most 4 MiB)"));
  }
  // Even when the store has these bytes already (for another namespace), they are downloaded and
  // verified: a namespace gains a blob only by supplying its bytes (containerd's isolated
  // policy). Knowing a digest proves nothing. Commit then keeps the stored copy.
  auto ingest =
      store.openIngest(fetchIngestRef(params.getOwner(), d.mediaType, d.digest), d.digest, d.size);
  if (ingest->offset() > 0) {
    logInfo("resuming download of ", d.digest, " at offset ", ingest->offset());
  }
  auto& ingestRef = *ingest;
  kj::Promise<void> reporting = kj::NEVER_DONE;
  if (params.hasProgress()) {
    reporting = reportWhileRunning(
        timer, [&ingestRef]() { return ingestRef.offset(); }, params.getProgress());
  }
  auto download =
      onWorker<Ingest::Committed>([this, d = kj::mv(d), &ingestRef](std::atomic<bool>& cancelled) {
        client->download(d, ingestRef, cancelled);
        try {
          return ingestRef.commit(d.size, d.digest);
        } catch (kj::Exception& e) {
          // A mismatch: these bytes are not the blob; resuming them would never be.
          ingestRef.abort();
          kj::throwFatalException(withContext(kj::str("fetch ", d.digest), e));
        }
      });
  return download.exclusiveJoin(reporting.then([]() -> Ingest::Committed { KJ_UNREACHABLE; }))
      .attach(kj::mv(ingest))
      .then([context](Ingest::Committed committed) mutable {
        context.getResults().setSize(committed.size);
        context.getResults().setExisted(committed.existed);
      });
}

kj::Promise<void> RegistryServer::push(PushContext context) {
  auto params = context.getParams();
  auto descriptor = params.getDescriptor();
  RegistryDescriptor d{kj::str(descriptor.getMediaType()), kj::str(descriptor.getDigest()),
                       descriptor.getSize()};
  validateDigest(d.digest);
  auto blob = store.openBlob(d.digest);
  struct stat st;
  KJ_SYSCALL(fstat(blob.get(), &st));
  if (st.st_size != d.size) {
    throwError(ErrorKind::FAILED_PRECONDITION, kj::str(d.digest, ": the descriptor says ", d.size,
                                                       " bytes, the store holds ", st.st_size));
  }
  auto sent = kj::heap<std::atomic<int64_t>>(0);
  auto& sentRef = *sent;
  kj::Promise<void> reporting = kj::NEVER_DONE;
  if (params.hasProgress()) {
    reporting = reportWhileRunning(
        timer, [&sentRef]() { return sentRef.load(std::memory_order_relaxed); },
        params.getProgress());
  }
  auto tag = kj::str(params.getTag());
  auto mountFrom = kj::str(params.getMountFrom());
  auto upload =
      onWorker<PushOutcome>([this, d = kj::mv(d), fd = blob.get(), &sentRef, tag = kj::mv(tag),
                             mountFrom = kj::mv(mountFrom)](std::atomic<bool>& cancelled) {
        return client->push(d, fd, tag, mountFrom, cancelled,
                            [&sentRef](int64_t n) { sentRef.store(n, std::memory_order_relaxed); });
      });
  return upload.exclusiveJoin(reporting.then([]() -> PushOutcome { KJ_UNREACHABLE; }))
      .attach(kj::mv(blob), kj::mv(sent))
      .then([context](PushOutcome outcome) mutable {
        using Out = schema::Registry::PushOutcome;
        context.getResults().setOutcome(outcome == PushOutcome::EXISTED   ? Out::EXISTED
                                        : outcome == PushOutcome::MOUNTED ? Out::MOUNTED
                                                                          : Out::UPLOADED);
      });
}

}  // namespace ctrd
