#include "content-api.h"

#include <common/clock.h>
#include <common/digest.h>
#include <common/errors.h>
#include <common/filters.h>
#include <common/identifiers.h>
#include <kj/debug.h>

namespace ctrd {

namespace {

void fillInfo(schema::Info::Builder out, const ContentRecord& r) {
  out.setDigest(r.digest);
  out.setSize(r.size);
  out.setCreatedAt(r.createdAt);
  out.setUpdatedAt(r.updatedAt);
  fillLabels(out.initLabels(r.labels.size()), r.labels);
}

FieldLookup contentFields(const ContentRecord& r) {
  return [&r](kj::ArrayPtr<const kj::String> path) -> kj::Maybe<kj::String> {
    if (path.size() == 1 && path[0] == "digest") return kj::str(r.digest);
    if (path.size() == 1 && path[0] == "size") return kj::str(r.size);
    if (path.size() >= 2 && path[0] == "labels") {
      auto key = kj::strArray(path.slice(1, path.size()), ".");
      KJ_IF_MAYBE(v, r.labels.find(key)) {
        return kj::str(*v);
      }
    }
    return nullptr;
  };
}

class NamespacedWriter final : public schema::Writer::Server {
  // Forwards to containerd-content's writer; on commit, records the blob for this namespace.
public:
  NamespacedWriter(schema::Writer::Client inner, kj::String ns, kj::String prefix,
                   MetadataStore& metadata, BlobDeletions& deletions, kj::Maybe<kj::String> lease)
      : inner(kj::mv(inner)),
        ns(kj::mv(ns)),
        prefix(kj::mv(prefix)),
        metadata(metadata),
        deletions(deletions),
        lease(kj::mv(lease)) {}

  kj::Promise<void> write(WriteContext context) override {
    auto req = inner.writeRequest();
    req.setData(context.getParams().getData());
    return req.send();
  }

  kj::Promise<void> copyFrom(CopyFromContext context) override {
    auto req = inner.copyFromRequest();
    req.setSource(context.getParams().getSource());
    return req.send().then([context](auto response) mutable {
      context.getResults().setWritten(response.getWritten());
    });
  }

  kj::Promise<void> status(StatusContext context) override {
    return inner.statusRequest().send().then([this, context](auto response) mutable {
      context.getResults().setStatus(response.getStatus());
      auto status = context.getResults().getStatus();
      status.setRef(kj::str(status.getRef().slice(prefix.size())));
    });
  }

  kj::Promise<void> commit(CommitContext context) override {
    auto params = context.getParams();
    auto labels = readLabels(params.getLabels());
    validateLabels(labels);
    auto req = inner.commitRequest();
    req.setSize(params.getSize());
    req.setDigest(params.getDigest());
    uint64_t since = deletions.issued();
    return req.send().then([this, context, labels = kj::mv(labels), since](auto response) mutable {
      auto digest = kj::str(response.getDigest());
      auto recorded = kj::str(digest);  // not in the call: its arguments have no order
      int64_t size = response.getSize();
      return deletions.record(
          kj::mv(recorded), since,
          [this, context, labels = kj::mv(labels), digest = kj::mv(digest), size]() mutable {
            metadata.write([&]() {
              // In the lease in the same write: no collection can come between.
              metadata.leases.hold(ns, lease, LeaseResource{kj::str("content"), kj::str(digest)});
              if (!metadata.content.add(ns, digest, size, kj::mv(labels))) {
                throwError(ErrorKind::ALREADY_EXISTS, kj::str("content ", digest));
              }
            });
            auto results = context.getResults();
            results.setDigest(digest);
            results.setSize(size);
          });
    });
  }

  kj::Promise<void> abort(AbortContext) override {
    return inner.abortRequest().send().ignoreResult();
  }

private:
  schema::Writer::Client inner;
  kj::String ns;
  kj::String prefix;
  MetadataStore& metadata;
  BlobDeletions& deletions;
  kj::Maybe<kj::String> lease;
};

}  // namespace

ContentRecord NamespaceContent::require(kj::StringPtr digest) {
  validateDigest(digest);
  KJ_IF_MAYBE(r, metadata.content.get(ns, digest)) {
    return kj::mv(*r);
  }
  throwError(ErrorKind::NOT_FOUND, kj::str("content digest ", digest));
}

kj::String NamespaceContent::storeRef(kj::StringPtr ref) {
  // Ingests of different namespaces never meet: a namespace name cannot contain '/'.
  validateRef(ref);
  return kj::str(ns, "/", ref);
}

kj::Promise<void> NamespaceContent::info(InfoContext context) {
  fillInfo(context.getResults().initInfo(), require(context.getParams().getDigest()));
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceContent::list(ListContext context) {
  auto filter = Filter::parse(context.getParams().getFilters());
  auto records = metadata.content.list(ns);
  kj::Vector<ContentRecord*> matched;
  for (auto& r : records) {
    auto fields = contentFields(r);
    if (filter.matches(fields)) matched.add(&r);
  }
  auto out = context.getResults().initInfos(matched.size());
  for (size_t i = 0; i < matched.size(); i++) fillInfo(out[i], *matched[i]);
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceContent::update(UpdateContext context) {
  auto params = context.getParams();
  auto record = require(params.getDigest());
  updateLabels(record.labels, readLabels(params.getLabels()), params.getFieldpaths(),
               kj::str("content info \"", record.digest, "\""));
  record.updatedAt = nowNanos();
  metadata.content.update(ns, record);
  fillInfo(context.getResults().initInfo(), record);
  return kj::READY_NOW;
}

kj::Promise<void> NamespaceContent::delete_(DeleteContext context) {
  auto digest = kj::str(context.getParams().getDigest());
  require(digest);
  metadata.content.remove(ns, digest);
  if (metadata.content.holders(digest) > 0) return kj::READY_NOW;
  // The last namespace let go: the bytes go too.
  return deletions.remove(digest);
}

kj::Promise<void> NamespaceContent::read(ReadContext context) {
  auto digest = kj::str(context.getParams().getDigest());
  require(digest);
  auto req = content.client<schema::ContentStore>().readRequest();
  req.setDigest(digest);
  return req.send().then(
      [context](auto response) mutable { context.getResults().setBlob(response.getBlob()); });
}

kj::Promise<void> NamespaceContent::status(StatusContext context) {
  auto ref = kj::str(context.getParams().getRef());
  auto refForError = kj::str(ref);
  auto req = content.client<schema::ContentStore>().statusRequest();
  req.setRef(storeRef(ref));
  return req.send().then(
      [context, ref = kj::mv(ref)](auto response) mutable -> kj::Promise<void> {
        context.getResults().setStatus(response.getStatus());
        context.getResults().getStatus().setRef(ref);
        return kj::READY_NOW;
      },
      [ref = kj::mv(refForError)](kj::Exception&& e) -> kj::Promise<void> {
        if (errorKind(e) == ErrorKind::NOT_FOUND) {
          return makeError(ErrorKind::NOT_FOUND, kj::str("ingest ref \"", ref, "\""));
        }
        return kj::mv(e);
      });
}

kj::Promise<void> NamespaceContent::listStatuses(ListStatusesContext context) {
  auto filter = Filter::parse(context.getParams().getFilters());
  auto prefix = kj::str(ns, "/");
  auto req = content.client<schema::ContentStore>().listStatusesRequest();
  req.setPrefix(prefix);
  return req.send().then(
      [context, prefix = kj::mv(prefix), filter = kj::mv(filter)](auto response) mutable {
        kj::Vector<schema::Status::Reader> matched;
        for (auto s : response.getStatuses()) {
          auto ref = kj::str(s.getRef().slice(prefix.size()));
          FieldLookup fields = [&](kj::ArrayPtr<const kj::String> path) -> kj::Maybe<kj::String> {
            if (path.size() == 1 && path[0] == "ref") return kj::str(ref);
            if (path.size() == 1 && path[0] == "expected") return kj::str(s.getExpected());
            return nullptr;
          };
          if (filter.matches(fields)) matched.add(s);
        }
        auto out = context.getResults().initStatuses(matched.size());
        for (size_t i = 0; i < matched.size(); i++) {
          out.setWithCaveats(i, matched[i]);
          out[i].setRef(kj::str(matched[i].getRef().slice(prefix.size())));
        }
      });
}

kj::Promise<void> NamespaceContent::abort(AbortContext context) {
  auto ref = kj::str(context.getParams().getRef());
  auto req = content.client<schema::ContentStore>().abortRequest();
  req.setRef(storeRef(ref));
  return req.send().ignoreResult().catch_(
      [ref = kj::mv(ref)](kj::Exception&& e) -> kj::Promise<void> {
        if (errorKind(e) == ErrorKind::NOT_FOUND) {
          return makeError(ErrorKind::NOT_FOUND, kj::str("ingest ref \"", ref, "\""));
        }
        return kj::mv(e);
      });
}

kj::Promise<void> NamespaceContent::writer(WriterContext context) {
  auto params = context.getParams();
  auto expected = params.getExpectedDigest();
  if (expected.size() > 0) {
    validateDigest(expected);
    if (metadata.content.get(ns, expected) != nullptr) {
      // Held from now, as if written under the lease.
      metadata.leases.hold(ns, lease, LeaseResource{kj::str("content"), kj::str(expected)});
      throwError(ErrorKind::ALREADY_EXISTS, kj::str("content ", expected));
    }
  }
  auto ref = storeRef(params.getRef());  // validates it
  metadata.leases.hold(ns, lease, LeaseResource{kj::str("ingests"), kj::str(params.getRef())});
  auto req = content.client<schema::ContentStore>().writerRequest();
  req.setRef(ref);
  req.setExpectedDigest(expected);
  req.setExpectedSize(params.getExpectedSize());
  return req.send().then([this, context](auto response) mutable {
    context.getResults().setWriter(kj::heap<NamespacedWriter>(
        response.getWriter(), kj::str(ns), kj::str(ns, "/"), metadata, deletions,
        lease.map([](const kj::String& l) { return kj::str(l); })));
  });
}

}  // namespace ctrd
