#include "diff-api.h"

#include <common/clock.h>
#include <common/digest.h>
#include <common/errors.h>
#include <common/labels.h>
#include <kj/debug.h>

#include "content-api.h"
#include "snapshots-api.h"

namespace ctrd {

kj::Promise<void> NamespaceDiff::apply(ApplyContext context) {
  auto params = context.getParams();
  auto layer = params.getLayer();
  validateDigest(layer.getDigest());
  if (metadata.tryGetContent(ns, layer.getDigest()) == nullptr) {
    throwError(ErrorKind::NOT_FOUND, kj::str("content digest ", layer.getDigest()));
  }
  auto read = content.client<schema::ContentStore>().readRequest();
  read.setDigest(layer.getDigest());
  auto blob = read.send().getBlob();

  auto snapshotter = params.getSnapshotter().size() > 0 ? params.getSnapshotter() : "overlayfs"_kj;
  auto writable = namespaceSnapshots(ns, snapshotter, snapshots).writableDirRequest();
  writable.setKey(params.getKey());
  return writable.send().then([this, context, blob = kj::mv(blob),
                               overlay = snapshotter == "overlayfs"](auto dirs) mutable {
    auto req = differ.client<schema::Differ>().applyRequest();
    req.setLayer(context.getParams().getLayer());
    req.setBlob(kj::mv(blob));
    req.setTarget(dirs.getDir());
    req.setParents(dirs.getParents());
    req.setWhiteouts(overlay ? schema::Differ::Whiteouts::OVERLAY
                             : schema::Differ::Whiteouts::DELETE);
    return req.send().then([context](auto r) mutable {
      context.getResults().setApplied(r.getApplied());
      context.getResults().setImplicitDirs(r.getImplicitDirs());
    });
  });
}

kj::Promise<void> NamespaceDiff::inherit(InheritContext context) {
  auto params = context.getParams();
  auto snapshotter = params.getSnapshotter().size() > 0 ? params.getSnapshotter() : "overlayfs"_kj;
  auto writable = namespaceSnapshots(ns, snapshotter, snapshots).writableDirRequest();
  writable.setKey(params.getKey());
  return writable.send().then([this, context](auto dirs) mutable {
    auto req = differ.client<schema::Differ>().inheritRequest();
    req.setTarget(dirs.getDir());
    req.setParents(dirs.getParents());
    req.setPaths(context.getParams().getPaths());
    return req.send().ignoreResult();
  });
}

kj::Promise<void> NamespaceDiff::diff(DiffContext context) {
  auto params = context.getParams();
  auto snapshotter =
      kj::str(params.getSnapshotter().size() > 0 ? params.getSnapshotter() : "overlayfs"_kj);
  bool overlay = snapshotter == "overlayfs";
  auto writable = namespaceSnapshots(ns, snapshotter, snapshots).writableDirRequest();
  writable.setKey(params.getKey());
  // The layer is committed into this namespace's content store, as any ingest would be.
  schema::Content::Client store =
      kj::heap<NamespaceContent>(kj::str(ns), metadata, content, deletions);
  auto open = store.writerRequest();
  open.setRef(params.getRef().size() > 0 ? kj::str(params.getRef())
                                         : kj::str("diff-", params.getKey(), "-", nowNanos()));
  auto writer = open.send().getWriter();
  return writable.send().then([this, context, overlay, writer](auto dirs) mutable {
    auto params = context.getParams();
    auto req = differ.client<schema::Differ>().diffRequest();
    req.setUpper(dirs.getDir());
    if (!overlay && dirs.getParents().size() > 0) req.setLower(dirs.getParents()[0]);
    req.setWhiteouts(overlay ? schema::Differ::Whiteouts::OVERLAY
                             : schema::Differ::Whiteouts::DELETE);
    req.setMediaType(params.getMediaType());
    req.setWriter(writer);
    return req.send().then([this, context](auto r) mutable {
      auto descriptor = r.getDescriptor();
      auto extra = readLabels(context.getParams().getLabels());
      if (extra.size() > 0) {
        auto record = KJ_ASSERT_NONNULL(metadata.tryGetContent(ns, descriptor.getDigest()));
        for (auto& e : extra) setLabel(record.labels, kj::str(e.key), kj::str(e.value));
        metadata.putContent(ns, record);
      }
      context.getResults().setDescriptor(descriptor);
    });
  });
}

}  // namespace ctrd
