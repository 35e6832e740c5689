// containerd-tasks: each task's bundle and rootfs mount, one detached containerd-shim per task,
// and the way back to the running shims after a restart.
#include <common/service-main.h>

#include "task-runtime.h"

int main(int argc, char** argv) {
  return ctrd::serviceMain(argc, argv, ctrd::ServiceKind::TASKS,
                           [](ctrd::ServiceContext& context) -> capnp::Capability::Client {
                             return kj::heap<ctrd::TaskRuntimeServer>(context);
                           });
}
