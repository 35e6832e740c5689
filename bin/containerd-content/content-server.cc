#include "content-server.h"

#include <common/errors.h>
#include <common/identifiers.h>
#include <common/log.h>
#include <common/rpc.h>
#include <common/worker.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "distribution-server.h"
#include "image-archive.h"
#include "ingest.h"

namespace ctrd {

void fillStatus(schema::Status::Builder out, const IngestStatus& s) {
  out.setRef(s.ref);
  out.setOffset(s.offset);
  out.setTotal(s.total);
  out.setExpected(s.expected);
  out.setStartedAt(s.startedAt);
  out.setUpdatedAt(s.updatedAt);
}

namespace {

class BlobServer final : public schema::Blob::Server {
public:
  explicit BlobServer(kj::AutoCloseFd fd) : fd(kj::mv(fd)) {}

  kj::Maybe<int> getFd() override { return fd.get(); }

  kj::Promise<void> size(SizeContext context) override {
    struct stat st;
    KJ_SYSCALL(fstat(fd, &st));
    context.getResults().setSize(st.st_size);
    return kj::READY_NOW;
  }

  kj::Promise<void> read(ReadContext context) override {
    auto params = context.getParams();
    int64_t offset = params.getOffset();
    int64_t want = kj::min(params.getSize(), MAX_READ_CHUNK);
    if (offset < 0 || want < 0) {
      throwError(ErrorKind::INVALID_ARGUMENT, kj::str("read at ", offset, " of ", want, " bytes"));
    }
    auto buf = kj::heapArray<kj::byte>(want);
    size_t got = 0;
    while (got < buf.size()) {
      ssize_t n;
      KJ_SYSCALL(n = pread(fd, buf.begin() + got, buf.size() - got, offset + got));
      if (n == 0) break;
      got += n;
    }
    context.getResults().setData(buf.slice(0, got));
    return kj::READY_NOW;
  }

private:
  kj::AutoCloseFd fd;
};

class WriterServer final : public schema::Writer::Server {
public:
  explicit WriterServer(kj::Own<Ingest> ingest) : ingest(kj::mv(ingest)) {}

  kj::Promise<void> write(WriteContext context) override {
    requireIdle();
    ingest->append(context.getParams().getData());
    return kj::READY_NOW;
  }

  kj::Promise<void> copyFrom(CopyFromContext context) override {
    requireIdle();
    return receiveFd(context.getParams().getSource(), "copyFrom: the source")
        .then([this, context](kj::AutoCloseFd received) mutable -> kj::Promise<void> {
          requireIdle();
          // Reading, hashing and writing run on a thread of their own so that this process
          // keeps answering other calls (status, other writers, reads) while a large blob
          // streams in. A caller that goes away stops the copy before anything else happens.
          copying = true;
          return onWorker<int64_t>(
                     [this, source = kj::mv(received)](std::atomic<bool>& cancelled) mutable {
                       return ingest->appendFrom(source, cancelled);
                     })
              .attach(kj::defer([this]() { copying = false; }))
              .then(
                  [context](int64_t written) mutable { context.getResults().setWritten(written); });
        });
  }

  kj::Promise<void> status(StatusContext context) override {
    fillStatus(context.getResults().initStatus(), ingest->status());
    return kj::READY_NOW;
  }

  kj::Promise<void> commit(CommitContext context) override {
    requireIdle();
    auto params = context.getParams();
    auto committed = ingest->commit(params.getSize(), params.getDigest());
    auto results = context.getResults();
    results.setDigest(committed.digest);
    results.setSize(committed.size);
    results.setExisted(committed.existed);
    return kj::READY_NOW;
  }

  kj::Promise<void> abort(AbortContext) override {
    requireIdle();
    ingest->abort();
    return kj::READY_NOW;
  }

private:
  kj::Own<Ingest> ingest;
  bool copying = false;

  void requireIdle() {
    if (copying) {
      throwError(ErrorKind::UNAVAILABLE, "writer busy: a copy is still running");
    }
  }
};

}  // namespace

ContentStoreServer::ContentStoreServer(kj::Own<BlobStore> store, kj::Timer& timer)
    : ServiceInfoServer(profileFor(ServiceKind::CONTENT)),
      store(kj::mv(store)),
      distribution_(kj::heap<DistributionServer>(*this->store, timer)) {}

kj::Promise<void> ContentStoreServer::stat(StatContext context) {
  auto digest = context.getParams().getDigest();
  KJ_IF_MAYBE(st, store->tryStat(digest)) {
    context.getResults().setSize(st->size);
    context.getResults().setCreatedAt(st->createdAt);
    return kj::READY_NOW;
  }
  return makeError(ErrorKind::NOT_FOUND, kj::str("content digest ", digest));
}

kj::Promise<void> ContentStoreServer::list(ListContext context) {
  auto blobs = store->list();
  auto out = context.getResults().initInfos(blobs.size());
  for (size_t i = 0; i < blobs.size(); i++) {
    out[i].setDigest(blobs[i].digest);
    out[i].setSize(blobs[i].size);
    out[i].setCreatedAt(blobs[i].createdAt);
    out[i].setUpdatedAt(blobs[i].createdAt);
  }
  return kj::READY_NOW;
}

kj::Promise<void> ContentStoreServer::delete_(DeleteContext context) {
  store->remove(context.getParams().getDigest());
  return kj::READY_NOW;
}

kj::Promise<void> ContentStoreServer::read(ReadContext context) {
  context.getResults().setBlob(
      kj::heap<BlobServer>(store->openBlob(context.getParams().getDigest())));
  return kj::READY_NOW;
}

kj::Promise<void> ContentStoreServer::status(StatusContext context) {
  auto ref = context.getParams().getRef();
  KJ_IF_MAYBE(s, store->tryIngestStatus(ref)) {
    fillStatus(context.getResults().initStatus(), *s);
    return kj::READY_NOW;
  }
  return makeError(ErrorKind::NOT_FOUND, kj::str("ingest ref \"", ref, "\""));
}

kj::Promise<void> ContentStoreServer::listStatuses(ListStatusesContext context) {
  auto statuses = store->listIngests(context.getParams().getPrefix());
  auto out = context.getResults().initStatuses(statuses.size());
  for (size_t i = 0; i < statuses.size(); i++) fillStatus(out[i], statuses[i]);
  return kj::READY_NOW;
}

kj::Promise<void> ContentStoreServer::abort(AbortContext context) {
  store->abortIngest(context.getParams().getRef());
  return kj::READY_NOW;
}

kj::Promise<void> ContentStoreServer::writer(WriterContext context) {
  auto params = context.getParams();
  auto ingest =
      store->openIngest(params.getRef(), params.getExpectedDigest(), params.getExpectedSize());
  if (ingest->offset() > 0) {
    logInfo("resuming ingest ", params.getRef(), " at offset ", ingest->offset());
  }
  context.getResults().setWriter(kj::heap<WriterServer>(kj::mv(ingest)));
  return kj::READY_NOW;
}

kj::Promise<void> ContentStoreServer::exportArchive(ExportArchiveContext context) {
  auto params = context.getParams();
  auto images = KJ_MAP(i, params.getImages()) {
    return ArchiveImage{kj::str(i.getName()), kj::str(), descriptorFrom(i.getTarget()),
                        kj::str(i.getDockerManifest())};
  };
  auto blobs = KJ_MAP(b, params.getBlobs()) {
    return descriptorFrom(b);
  };
  return receiveFd(params.getSink(), "exportArchive: the sink")
      .then([this, context, images = kj::mv(images),
             blobs = kj::mv(blobs)](kj::AutoCloseFd sink) mutable {
        // The tar is written on a thread of its own: the sink may be a slow pipe.
        return onWorker<int64_t>([this, sink = kj::mv(sink), images = kj::mv(images),
                                  blobs = kj::mv(blobs)](std::atomic<bool>& cancelled) {
                 return ctrd::exportArchive(*store, sink, images, blobs, cancelled);
               })
            .then([context](int64_t size) mutable { context.getResults().setSize(size); });
      });
}

kj::Promise<void> ContentStoreServer::importArchive(ImportArchiveContext context) {
  auto params = context.getParams();
  validateIdentifier("namespace", params.getOwner());
  auto owner = kj::str(params.getOwner());
  return receiveFd(params.getSource(), "importArchive: the source")
      .then([this, context, owner = kj::mv(owner)](kj::AutoCloseFd source) mutable {
        return onWorker<ImportedArchive>([this, source = kj::mv(source), owner = kj::mv(owner)](
                                             std::atomic<bool>& cancelled) mutable {
                 return ctrd::importArchive(*store, source, owner, cancelled);
               })
            .then([context](ImportedArchive imported) mutable {
              auto results = context.getResults();
              auto images = results.initImages(imported.images.size());
              for (size_t i = 0; i < images.size(); i++) {
                auto& image = imported.images[i];
                images[i].setName(image.name);
                images[i].setRefName(image.refName);
                fillDescriptor(images[i].initTarget(), image.target);
              }
              auto blobs = results.initBlobs(imported.blobs.size());
              for (size_t i = 0; i < blobs.size(); i++) {
                blobs[i].setDigest(imported.blobs[i].digest);
                blobs[i].setSize(imported.blobs[i].size);
              }
            });
      });
}

kj::Promise<void> ContentStoreServer::distribution(DistributionContext context) {
  context.getResults().setDistribution(distribution_);
  return kj::READY_NOW;
}

}  // namespace ctrd
