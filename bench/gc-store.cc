// gc-store ADDRESS IMAGES BLOBS_PER_IMAGE: builds a store of IMAGES images in namespace "bench",
// each a manifest labelled (as a pull labels it) for its config and layers, BLOBS_PER_IMAGE
// blobs in all; then times garbage collection twice: over the whole store with nothing to
// free, and after half the images were removed. Meanwhile it calls `images list` back to back
// and reports the longest any call waited. A measurement tool for bench/gc.sh, not a test.
#include <client/client.h>
#include <common/errors.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

namespace {

int64_t monoNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

kj::String writeBlob(ctrd::DaemonClient& client, ctrd::schema::Content::Client store,
                     kj::StringPtr data, capnp::List<ctrd::schema::Label>::Reader labels = {}) {
  static int ref = 0;
  auto open = store.writerRequest();
  open.setRef(kj::str("gc-bench-", ref++));
  auto writer = open.send().getWriter();
  auto write = writer.writeRequest();
  write.setData(data.asBytes());
  write.send().wait(client.waitScope());
  auto commit = writer.commitRequest();
  commit.setSize(data.size());
  commit.setLabels(labels);
  return kj::str(commit.send().wait(client.waitScope()).getDigest());
}

void collect(ctrd::DaemonClient& client, ctrd::schema::Images::Client images, const char* what) {
  bool done = false;
  int64_t started = monoNanos();
  capnp::Response<ctrd::schema::Containerd::CollectGarbageResults>* report = nullptr;
  kj::Maybe<capnp::Response<ctrd::schema::Containerd::CollectGarbageResults>> result;
  auto gc = client.containerd()
                .collectGarbageRequest()
                .send()
                .then([&](auto r) {
                  result = kj::mv(r);
                  done = true;
                })
                .eagerlyEvaluate(nullptr);
  int64_t longest = 0;
  uint32_t calls = 0;
  while (!done) {
    int64_t t0 = monoNanos();
    images.listRequest().send().wait(client.waitScope());
    longest = kj::max(longest, monoNanos() - t0);
    calls++;
  }
  gc.wait(client.waitScope());
  int64_t wall = monoNanos() - started;
  auto r = KJ_ASSERT_NONNULL(result).getReport();
  (void)report;
  printf("%-34s %8.1f ms  (daemon: %.1f ms; removed %u blob records, %u blobs, %u snapshots)\n",
         what, wall / 1e6, r.getNanoseconds() / 1e6, r.getBlobs(), r.getBlobsFreed(),
         r.getSnapshots());
  printf("%-34s %8.2f ms  (longest step in the daemon: %.2f ms; %u calls during it)\n",
         "  longest wait of an API call", longest / 1e6, r.getLongestPause() / 1e6, calls);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: gc-store ADDRESS IMAGES BLOBS_PER_IMAGE\n");
    return 2;
  }
  int imagesCount = atoi(argv[2]);
  int perImage = atoi(argv[3]);
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
                ctrd::DaemonClient client(argv[1]);
                auto ns = client.ns("bench");
                auto store = ns.contentRequest().send().getStore();
                auto images = ns.imagesRequest().send().getImages();
                int64_t t0 = monoNanos();
                for (int i = 0; i < imagesCount; i++) {
                  capnp::MallocMessageBuilder message;
                  auto labels = message.initRoot<ctrd::schema::Image>().initLabels(perImage - 1);
                  for (int j = 0; j < perImage - 1; j++) {
                    auto digest = writeBlob(client, store, kj::str("image ", i, " blob ", j));
                    labels[j].setKey(j == 0 ? kj::str("containerd.io/gc.ref.content.config")
                                            : kj::str("containerd.io/gc.ref.content.l.", j - 1));
                    labels[j].setValue(digest);
                  }
                  auto manifest =
                      writeBlob(client, store, kj::str("manifest ", i), labels.asReader());
                  auto create = images.createRequest();
                  auto image = create.initImage();
                  image.setName(kj::str("bench/img-", i));
                  image.initTarget().setDigest(manifest);
                  image.getTarget().setMediaType("application/vnd.oci.image.manifest.v1+json");
                  image.getTarget().setSize(10);
                  create.send().wait(client.waitScope());
                }
                printf("%-34s %8.1f ms  (%d images, %d blobs)\n", "built the store",
                       (monoNanos() - t0) / 1e6, imagesCount, imagesCount * perImage);
                collect(client, images, "full GC, nothing to free");
                for (int i = 0; i < imagesCount; i += 2) {
                  auto rm = images.deleteRequest();
                  rm.setName(kj::str("bench/img-", i));
                  rm.send().wait(client.waitScope());
                }
                collect(client, images, "full GC after half the images went");
              })) {
    fprintf(stderr, "gc-store: %s\n", ctrd::errorMessage(*e).cStr());
    return 1;
  }
  return 0;
}
