// containerd-diff: layer apply and diff: serves its identity for now; apply and diff arrive with
// the diff issue.
#include <common/service-main.h>

int main(int argc, char** argv) {
  return ctrd::serviceMain(argc, argv, ctrd::ServiceKind::DIFF,
                           [](ctrd::ServiceContext& context) -> capnp::Capability::Client {
                             return kj::heap<ctrd::ServiceInfoServer>(context.profile);
                           });
}
