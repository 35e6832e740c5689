// containerd-shim: the per-container process that runs runc, holds stdio and reaps the container.
// Running containers arrives with the run issue; until then it says so instead of pretending.
#include <common/version.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char** argv) {
  if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
    printf("containerd-shim %s %s\n", CTRD_VERSION, CTRD_REVISION);
    return 0;
  }
  fprintf(stderr, "containerd-shim: running containers is not implemented yet\n");
  return 2;
}
