// apply-layers ADDRESS SNAPSHOTTER DIGEST...: prepare, apply and commit each layer in order (the
// unpack half of a pull), already in the content store; prints the wall time, uncompressed bytes
// and layers. A measurement tool for bench/apply-layers.sh, not a test.
#include <client/client.h>
#include <common/errors.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: apply-layers ADDRESS SNAPSHOTTER DIGEST...\n");
    return 2;
  }
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                ctrd::DaemonClient client(argv[1]);
                auto ns = client.ns("default");
                auto snapshotsReq = ns.snapshotsRequest();
                snapshotsReq.setSnapshotter(argv[2]);
                auto snapshots = snapshotsReq.send().getSnapshots();
                auto diff = ns.diffRequest().send().getDiff();
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                kj::String parent = kj::str("");
                int64_t bytes = 0;
                for (int i = 3; i < argc; i++) {
                  auto key = kj::str("bench-active-", i);
                  auto name = kj::str("bench-layer-", i);
                  auto prepare = snapshots.prepareRequest();
                  prepare.setKey(key);
                  prepare.setParent(parent);
                  prepare.send().wait(client.waitScope());
                  auto apply = diff.applyRequest();
                  auto layer = apply.initLayer();
                  layer.setMediaType("application/vnd.oci.image.layer.v1.tar+gzip");
                  layer.setDigest(argv[i]);
                  apply.setSnapshotter(argv[2]);
                  apply.setKey(key);
                  auto applied = apply.send().wait(client.waitScope());
                  bytes += applied.getApplied().getSize();
                  auto commit = snapshots.commitRequest();
                  commit.setName(name);
                  commit.setKey(key);
                  commit.send().wait(client.waitScope());
                  parent = kj::mv(name);
                }
                clock_gettime(CLOCK_MONOTONIC, &t1);
                double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
                printf("%.3f %lld %d\n", seconds, static_cast<long long>(bytes), argc - 3);
              })) {
    fprintf(stderr, "apply-layers: %s\n", ctrd::errorMessage(*e).cStr());
    return 1;
  }
  return 0;
}
