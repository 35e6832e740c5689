// containerd-snapshot: the overlayfs and native snapshotters.
#include <common/service-main.h>
#include <kj/debug.h>

#include "server.h"

int main(int argc, char** argv) {
  return ctrd::serviceMain(argc, argv, ctrd::ServiceKind::SNAPSHOT,
                           [](ctrd::ServiceContext& context) -> capnp::Capability::Client {
                             auto root = kj::mv(KJ_ASSERT_NONNULL(context.root));
                             context.root = nullptr;
                             return kj::heap<ctrd::SnapshotStoreServer>(kj::mv(root),
                                                                        context.rootPath);
                           });
}
