// containerd-tasks: tasks and shim management: serves its identity for now; running containers
// arrives with the run issue.
#include <common/service-main.h>

int main(int argc, char** argv) {
  return ctrd::serviceMain(argc, argv, ctrd::ServiceKind::TASKS,
                           [](ctrd::ServiceContext& context) -> capnp::Capability::Client {
                             return kj::heap<ctrd::ServiceInfoServer>(context.profile);
                           });
}
