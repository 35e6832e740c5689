#include "diff-api.h"

#include <common/digest.h>
#include <common/errors.h>

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
    return req.send().then(
        [context](auto r) mutable { context.getResults().setApplied(r.getApplied()); });
  });
}

}  // namespace ctrd
