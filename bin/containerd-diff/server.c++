#include "server.h"

#include <common/errors.h>
#include <common/log.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <unistd.h>

#include "layer-applier.h"
#include "layer-stream.h"

namespace ctrd {
namespace {

kj::Promise<int> requireFd(capnp::Capability::Client cap, kj::StringPtr what) {
  return cap.getFd().then([what = kj::str(what)](kj::Maybe<int> fd) -> int {
    KJ_IF_MAYBE(f, fd) {
      int mine;
      KJ_SYSCALL(mine = fcntl(*f, F_DUPFD_CLOEXEC, 3));
      return mine;
    }
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str(what, " carries no file descriptor"));
  });
}

}  // namespace

kj::Promise<void> DifferServer::apply(ApplyContext context) {
  auto params = context.getParams();
  auto fds = kj::heapArrayBuilder<kj::Promise<int>>(2 + params.getParents().size());
  fds.add(requireFd(params.getBlob(), "the layer"));
  fds.add(requireFd(params.getTarget(), "the target directory"));
  for (auto p : params.getParents()) fds.add(requireFd(p, "a parent directory"));
  return kj::joinPromises(fds.finish()).then([context](kj::Array<int> received) mutable {
    auto owned = KJ_MAP(fd, received) {
      return kj::AutoCloseFd(fd);
    };
    auto params = context.getParams();
    auto layer = params.getLayer();
    auto parentFds = KJ_MAP(fd, owned.slice(2, owned.size()))->int {
      return fd.get();
    };
    auto style = params.getWhiteouts() == schema::Differ::Whiteouts::OVERLAY
                     ? WhiteoutStyle::OVERLAY
                     : WhiteoutStyle::DELETE;
    LayerStream stream(owned[0], compressionForMediaType(layer.getMediaType()),
                       layer.getMediaType());
    LayerApplier applier(owned[1], parentFds, style);
    auto done = applier.apply(stream);
    auto results = context.getResults();
    auto applied = results.initApplied();
    applied.setMediaType("application/vnd.oci.image.layer.v1.tar");
    applied.setDigest(done.digest);
    applied.setSize(done.size);
    results.setEntries(applier.entries());
    logDebug("applied ", layer.getDigest(), ": ", applier.entries(), " entries, diff id ",
             done.digest);
  });
}

}  // namespace ctrd
