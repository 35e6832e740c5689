#include "diff-api.h"

#include <common/clock.h>
#include <common/digest.h>
#include <common/errors.h>
#include <common/labels.h>
#include <kj/debug.h>

#include "api.h"
#include "content-api.h"
#include "snapshots-api.h"

namespace ctrd {

kj::Promise<NamespaceDiff::Writable> NamespaceDiff::writable(kj::StringPtr snapshotter,
                                                             kj::StringPtr key) {
  // The directories and how the snapshotter lays them out, asked at once.
  auto client = namespaceSnapshots(backends, ns, snapshotter, lease);
  auto traits = client.traitsRequest().send();
  auto req = client.writableDirRequest();
  req.setKey(key);
  return req.send().then([traits = kj::mv(traits)](auto dirs) mutable {
    return traits.then([dirs = kj::mv(dirs)](auto t) mutable {
      return Writable{kj::mv(dirs), t.getTraits().getLayered() ? schema::Differ::Whiteouts::OVERLAY
                                                               : schema::Differ::Whiteouts::DELETE};
    });
  });
}

kj::Promise<void> NamespaceDiff::apply(ApplyContext context) {
  auto params = context.getParams();
  auto layer = params.getLayer();
  validateDigest(layer.getDigest());
  if (backends.metadata.content.get(ns, layer.getDigest()) == nullptr) {
    throwError(ErrorKind::NOT_FOUND, kj::str("content digest ", layer.getDigest()));
  }
  auto read = backends.service(ServiceKind::CONTENT).client<schema::ContentStore>().readRequest();
  read.setDigest(layer.getDigest());
  auto blob = read.send().getBlob();

  return writable(params.getSnapshotter(), params.getKey())
      .then([this, context, blob = kj::mv(blob)](Writable w) mutable {
        auto req = backends.service(ServiceKind::DIFF).client<schema::Differ>().applyRequest();
        req.setLayer(context.getParams().getLayer());
        req.setBlob(kj::mv(blob));
        req.setTarget(w.dirs.getDir());
        req.setParents(w.dirs.getParents());
        req.setWhiteouts(w.whiteouts);
        return req.send().then([context](auto r) mutable {
          context.getResults().setApplied(r.getApplied());
          context.getResults().setImplicitDirs(r.getImplicitDirs());
        });
      });
}

kj::Promise<void> NamespaceDiff::inherit(InheritContext context) {
  auto params = context.getParams();
  return writable(params.getSnapshotter(), params.getKey())
      .then([this, context](Writable w) mutable {
        auto req = backends.service(ServiceKind::DIFF).client<schema::Differ>().inheritRequest();
        req.setTarget(w.dirs.getDir());
        req.setParents(w.dirs.getParents());
        req.setPaths(context.getParams().getPaths());
        return req.send().ignoreResult();
      });
}

kj::Promise<void> NamespaceDiff::diff(DiffContext context) {
  auto params = context.getParams();
  auto dirs = writable(params.getSnapshotter(), params.getKey());
  // The layer is committed into this namespace's content store, as any ingest would be.
  schema::Content::Client store = kj::heap<NamespaceContent>(
      kj::str(ns), backends.metadata, backends.service(ServiceKind::CONTENT), backends.deletions,
      lease.map([](const kj::String& l) { return kj::str(l); }));
  auto open = store.writerRequest();
  open.setRef(params.getRef().size() > 0 ? kj::str(params.getRef())
                                         : kj::str("diff-", params.getKey(), "-", nowNanos()));
  auto writer = open.send().getWriter();
  return dirs.then([this, context, writer](Writable w) mutable {
    auto params = context.getParams();
    auto req = backends.service(ServiceKind::DIFF).client<schema::Differ>().diffRequest();
    req.setUpper(w.dirs.getDir());
    if (w.whiteouts == schema::Differ::Whiteouts::DELETE && w.dirs.getParents().size() > 0) {
      req.setLower(w.dirs.getParents()[0]);
    }
    req.setWhiteouts(w.whiteouts);
    req.setMediaType(params.getMediaType());
    req.setWriter(writer);
    return req.send().then([this, context](auto r) mutable {
      auto descriptor = r.getDescriptor();
      auto extra = readLabels(context.getParams().getLabels());
      if (extra.size() > 0) {
        backends.metadata.content.mergeLabels(ns, descriptor.getDigest(), extra);
      }
      context.getResults().setDescriptor(descriptor);
    });
  });
}

}  // namespace ctrd
