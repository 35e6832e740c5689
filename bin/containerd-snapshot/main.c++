// containerd-snapshot: overlayfs and native snapshotters: serves its identity for now; snapshots
// arrive with the snapshots issue.
#include <common/service-main.h>

int main(int argc, char** argv) {
  return ctrd::serviceMain(argc, argv, ctrd::ServiceKind::SNAPSHOT,
                           [](ctrd::ServiceContext& context) -> capnp::Capability::Client {
                             return kj::heap<ctrd::ServiceInfoServer>(context.profile);
                           });
}
