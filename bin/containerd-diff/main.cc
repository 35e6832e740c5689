// containerd-diff: applies layers beneath directory fds it is handed; the most confined process.
#include <common/service-main.h>

#include "server.h"

int main(int argc, char** argv) {
  return ctrd::serviceMain(argc, argv, ctrd::ServiceKind::DIFF,
                           [](ctrd::ServiceContext& c) -> capnp::Capability::Client {
                             return kj::heap<ctrd::DifferServer>(
                                 c.inUserNamespace ? ctrd::Devices::SKIP : ctrd::Devices::CREATE);
                           });
}
