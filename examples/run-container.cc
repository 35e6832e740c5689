// The client library's whole flow, as containerd's getting-started example does it in Go:
// pull an image, make a container from it (its spec from the image's config, its own
// snapshot), run its task with our stdio, stop it with SIGTERM, wait, clean up, and exit with
// the container's status.
//
//   run-container [--kill-after SECONDS] ADDRESS IMAGE ID [COMMAND [ARG...]]
//
// SIGTERM goes to the task after SECONDS (default 3), unless it has ended by then. As in any
// container, an init process that installs no handler for SIGTERM does not die of it.
#include <client/containerd.h>
#include <common/errors.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int killAfter = 3;
  int first = 1;
  if (argc > 2 && strcmp(argv[1], "--kill-after") == 0) {
    killAfter = atoi(argv[2]);
    first = 3;
  }
  if (argc - first < 3) {
    fprintf(stderr, "usage: %s [--kill-after SECONDS] ADDRESS IMAGE ID [COMMAND [ARG...]]\n",
            argv[0]);
    return 2;
  }
  const char* address = argv[first];
  const char* ref = argv[first + 1];
  const char* id = argv[first + 2];
  int status = 0;
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                ctrd::Client client(address, "example");
                auto image = client.pull(ref);

                ctrd::ContainerOptions options;
                for (int i = first + 3; i < argc; i++) options.spec.args.add(kj::str(argv[i]));
                auto container = client.newContainer(id, image, kj::mv(options));

                auto task = container.newTask(ctrd::Stdio::inherit());
                task.start();
                fprintf(stderr, "task %s started, pid %u\n", id, task.pid());
                sleep(killAfter);
                KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { task.kill(SIGTERM); })) {
                  // It ended on its own: "process already finished".
                  if (ctrd::errorKind(*e) != ctrd::ErrorKind::NOT_FOUND) {
                    kj::throwFatalException(kj::mv(*e));
                  }
                }
                status = task.wait();
                task.remove();
                container.remove();
                fprintf(stderr, "task %s exited with status %d\n", id, status);
              })) {
    fprintf(stderr, "run-container: %s\n", e->getDescription().cStr());
    return 1;
  }
  return status;
}
