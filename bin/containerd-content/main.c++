// containerd-content: blob store and registry client: serves its identity for now; the store
// arrives with the content issue.
#include <common/service-main.h>

int main(int argc, char** argv) {
  return ctrd::serviceMain(argc, argv, ctrd::ServiceKind::CONTENT,
                           [](ctrd::ServiceContext& context) -> capnp::Capability::Client {
                             return kj::heap<ctrd::ServiceInfoServer>(context.profile);
                           });
}
