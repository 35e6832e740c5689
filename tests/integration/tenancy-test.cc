// One tenant against another, method by method: every method of the namespace-bound Content,
// Images, Containers, Leases, Snapshots, Diff and Tasks interfaces (and Namespace.withLease and
// Namespace.events) is called by "evil" (a fresh namespace per case) with the digest, ref, name,
// key or id that "victim" uses, and must neither see, change nor gain anything of the victim's.
// The table lists each method once: EveryMethodHasACase fails for a method added to these
// interfaces without a case here. The victim has a blob held by an image and by a lease, an
// ingest in progress, a committed and an active snapshot, and a container with a running task,
// which must all stay as they were.
#include <capnp/schema.h>
#include <client/client.h>
#include <client/containerd.h>
#include <common/errors.h>
#include <common/rpc.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <set>
#include <string>

#include "harness.h"

namespace ctrd::test {
namespace {

constexpr const char* SECRET = "the victim's blob\n";
constexpr const char* IMAGE = "registry.example/victim/app:1";
constexpr const char* CONTAINER = "victim-app";
constexpr const char* INGEST = "victim-upload";
constexpr const char* LEASE = "victim-lease";
constexpr const char* BASE = "victim-base";
constexpr const char* WORK = "victim-work";

class TenancyTest : public testing::Test {
public:  // for the cases in the table
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the daemon runs as root";
    ASSERT_TRUE(daemon.start()) << daemon.log();
    ASSERT_EQ(daemon.ctr({"-n", "victim", "content", "ingest", "r1"}, SECRET).status, 0);
    digest = daemon.ctr({"-n", "victim", "content", "ls", "-q"}).out;
    while (!digest.empty() && digest.back() == '\n') digest.pop_back();
    ASSERT_EQ(digest.rfind("sha256:", 0), 0u) << digest;
    client = std::make_unique<DaemonClient>(daemon.socket().c_str());
    // An ingest in progress, an image and a container of the victim's.
    auto writer = content("victim").writerRequest();
    writer.setRef(INGEST);
    auto w = writer.send().getWriter();
    auto write = w.writeRequest();
    write.setData(kj::StringPtr("half of it").asBytes());
    write.send().wait(client->waitScope());
    auto create = images("victim").createRequest();
    auto image = create.initImage();
    image.setName(IMAGE);
    image.initTarget().setDigest(digest);
    image.getTarget().setMediaType("application/vnd.oci.image.manifest.v1+json");
    image.getTarget().setSize(strlen(SECRET));
    create.send().wait(client->waitScope());
    run({"/bin/mkdir", "-p", rootfs.path() + "/bin"});
    run({"/bin/cp", "/bin/busybox", rootfs.path() + "/bin/busybox"});
    run({"/bin/ln", "-s", "busybox", rootfs.path() + "/bin/sleep"});
    ASSERT_EQ(daemon
                  .ctr({"-n", "victim", "containers", "create", "--rootfs", rootfs.path(),
                        CONTAINER, "sleep", "600"})
                  .status,
              0);
    auto started = daemon.ctr({"-n", "victim", "tasks", "start", "-d", CONTAINER});
    ASSERT_EQ(started.status, 0) << started.err;
    ASSERT_EQ(daemon.ctr({"-n", "victim", "snapshots", "prepare", "b"}).status, 0);
    ASSERT_EQ(daemon.ctr({"-n", "victim", "snapshots", "commit", BASE, "b"}).status, 0);
    ASSERT_EQ(daemon.ctr({"-n", "victim", "snapshots", "prepare", WORK, BASE}).status, 0);
    ASSERT_EQ(daemon.ctr({"-n", "victim", "leases", "create", "--id", LEASE}).status, 0);
    auto add = leases("victim").addResourceRequest();
    add.setId(LEASE);
    add.initResource().setType("content");
    add.getResource().setId(digest);
    add.send().wait(client->waitScope());
  }

  void TearDown() override {
    if (!client) return;
    // Whatever the other tenant tried, the victim's things are as they were.
    EXPECT_EQ(daemon.ctr({"-n", "victim", "content", "get", digest}).out, SECRET);
    auto info = content("victim").infoRequest();
    info.setDigest(digest);
    EXPECT_EQ(info.send().wait(client->waitScope()).getInfo().getLabels().size(), 0u);
    auto status = content("victim").statusRequest();
    status.setRef(INGEST);
    EXPECT_EQ(status.send().wait(client->waitScope()).getStatus().getOffset(), 10);
    auto image = images("victim").getRequest();
    image.setName(IMAGE);
    auto got = image.send().wait(client->waitScope()).getImage();
    EXPECT_EQ(got.getTarget().getDigest(), digest);
    EXPECT_EQ(got.getLabels().size(), 0u);
    auto container = containers("victim").getRequest();
    container.setId(CONTAINER);
    auto c = container.send().wait(client->waitScope()).getContainer();
    EXPECT_EQ(c.getLabels().size(), 0u);
    EXPECT_EQ(c.getImage(), "");
    auto tasksLs = daemon.ctr({"-n", "victim", "tasks", "ls"});
    EXPECT_NE(tasksLs.out.find("RUNNING"), std::string::npos) << tasksLs.out;
    auto snapshotsLs = daemon.ctr({"-n", "victim", "snapshots", "ls"});
    EXPECT_NE(snapshotsLs.out.find(BASE), std::string::npos) << snapshotsLs.out;
    EXPECT_NE(snapshotsLs.out.find(WORK), std::string::npos) << snapshotsLs.out;
    auto stat = snapshots("victim").statRequest();
    stat.setKey(BASE);
    for (auto l : stat.send().wait(client->waitScope()).getInfo().getLabels()) {
      EXPECT_NE(l.getKey(), "stolen");
    }
    daemon.ctr({"-n", "victim", "tasks", "kill", "-s", "KILL", CONTAINER});
    daemon.ctr({"-n", "victim", "tasks", "wait", CONTAINER});
    daemon.ctr({"-n", "victim", "tasks", "rm", CONTAINER});
    removeNamespaceCgroups("victim");
    auto held = leases("victim").listResourcesRequest();
    held.setId(LEASE);
    auto resources = held.send().wait(client->waitScope()).getResources();
    ASSERT_EQ(resources.size(), 1u);
    EXPECT_EQ(resources[0].getId(), digest);
  }

  schema::Content::Client content(kj::StringPtr ns) {
    return client->ns(ns).contentRequest().send().getStore();
  }
  schema::Images::Client images(kj::StringPtr ns) {
    return client->ns(ns).imagesRequest().send().getImages();
  }
  schema::Containers::Client containers(kj::StringPtr ns) {
    return client->ns(ns).containersRequest().send().getContainers();
  }
  schema::Leases::Client leases(kj::StringPtr ns) {
    return client->ns(ns).leasesRequest().send().getLeases();
  }
  schema::Snapshots::Client snapshots(kj::StringPtr ns) {
    auto req = client->ns(ns).snapshotsRequest();
    req.setSnapshotter("overlayfs");
    return req.send().getSnapshots();
  }
  schema::Diff::Client diff(kj::StringPtr ns) {
    return client->ns(ns).diffRequest().send().getDiff();
  }
  schema::Tasks::Client tasks(kj::StringPtr ns) {
    return client->ns(ns).tasksRequest().send().getTasks();
  }

  template <typename Request>
  void expectRefused(Request&& request) {
    // Any error: a method this daemon does not implement yet refuses everyone alike.
    EXPECT_NE(kj::runCatchingExceptions([&]() { request.send().wait(client->waitScope()); }),
              nullptr);
  }

  template <typename Request>
  void expectNotFound(Request&& request) {
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { request.send().wait(client->waitScope()); })) {
      EXPECT_EQ(errorKind(*e), ErrorKind::NOT_FOUND) << e->getDescription().cStr();
    } else {
      ADD_FAILURE() << "the call succeeded";
    }
  }

  bool evilHoldsTheBlob(kj::StringPtr ns) {
    auto info = content(ns).infoRequest();
    info.setDigest(digest);
    return kj::runCatchingExceptions([&]() { info.send().wait(client->waitScope()); }) == nullptr;
  }

  Daemon daemon;
  TempDir rootfs;
  std::string digest;
  std::unique_ptr<DaemonClient> client;
};

using Case = std::function<void(TenancyTest&, kj::StringPtr evil)>;

// interface -> method -> what "evil" tries.
std::map<std::string, std::map<std::string, Case>> cases() {
  std::map<std::string, std::map<std::string, Case>> t;
  auto& content = t["Content"];
  content["info"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.content(evil).infoRequest();
    req.setDigest(f.digest);
    f.expectNotFound(req);
  };
  content["list"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto r = f.content(evil).listRequest().send().wait(f.client->waitScope());
    EXPECT_EQ(r.getInfos().size(), 0u);
  };
  content["update"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.content(evil).updateRequest();
    req.setDigest(f.digest);
    auto l = req.initLabels(1);
    l[0].setKey("stolen");
    l[0].setValue("yes");
    req.initFieldpaths(1).set(0, "labels.stolen");
    f.expectNotFound(req);
  };
  content["delete"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.content(evil).deleteRequest();
    req.setDigest(f.digest);
    f.expectNotFound(req);
  };
  content["read"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.content(evil).readRequest();
    req.setDigest(f.digest);
    f.expectNotFound(req);
  };
  content["status"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.content(evil).statusRequest();
    req.setRef(INGEST);
    f.expectNotFound(req);
  };
  content["listStatuses"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto r = f.content(evil).listStatusesRequest().send().wait(f.client->waitScope());
    EXPECT_EQ(r.getStatuses().size(), 0u);
  };
  content["abort"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.content(evil).abortRequest();
    req.setRef(INGEST);
    f.expectNotFound(req);
  };
  content["writer"] = [](TenancyTest& f, kj::StringPtr evil) {
    // The same ref is a fresh ingest of evil's own: none of the victim's bytes.
    auto req = f.content(evil).writerRequest();
    req.setRef(INGEST);
    auto writer = req.send().getWriter();
    auto status = writer.statusRequest().send().wait(f.client->waitScope());
    EXPECT_EQ(status.getStatus().getOffset(), 0);
  };

  auto& images = t["Images"];
  images["get"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.images(evil).getRequest();
    req.setName(IMAGE);
    f.expectNotFound(req);
  };
  images["list"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto r = f.images(evil).listRequest().send().wait(f.client->waitScope());
    EXPECT_EQ(r.getImages().size(), 0u);
  };
  images["create"] = [](TenancyTest& f, kj::StringPtr evil) {
    // A record of its own by the same name, even aimed at the victim's digest, gains no blob.
    auto req = f.images(evil).createRequest();
    auto image = req.initImage();
    image.setName(IMAGE);
    image.initTarget().setDigest(f.digest);
    image.getTarget().setMediaType("application/vnd.oci.image.manifest.v1+json");
    image.getTarget().setSize(strlen(SECRET));
    kj::runCatchingExceptions([&]() { req.send().wait(f.client->waitScope()); });
    EXPECT_FALSE(f.evilHoldsTheBlob(evil));
    auto read = f.content(evil).readRequest();
    read.setDigest(f.digest);
    f.expectNotFound(read);
  };
  images["update"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.images(evil).updateRequest();
    auto image = req.initImage();
    image.setName(IMAGE);
    auto l = image.initLabels(1);
    l[0].setKey("stolen");
    l[0].setValue("yes");
    req.initFieldpaths(1).set(0, "labels.stolen");
    f.expectNotFound(req);
  };
  images["delete"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.images(evil).deleteRequest();
    req.setName(IMAGE);
    f.expectNotFound(req);
  };
  images["pull"] = [](TenancyTest& f, kj::StringPtr evil) {
    // The victim's image name from a registry that is not there: nothing is recorded or gained.
    auto req = f.images(evil).pullRequest();
    req.setRef(kj::str("127.0.0.1:", freePort(), "/victim/app:1"));
    req.initOptions();
    EXPECT_NE(kj::runCatchingExceptions([&]() { req.send().wait(f.client->waitScope()); }),
              nullptr);
    auto r = f.images(evil).listRequest().send().wait(f.client->waitScope());
    EXPECT_EQ(r.getImages().size(), 0u);
    EXPECT_FALSE(f.evilHoldsTheBlob(evil));
  };
  images["push"] = [](TenancyTest& f, kj::StringPtr evil) {
    // The victim's image name, pushed to a registry nobody serves: `not found` before any
    // network (a network error would tell that the image exists).
    auto req = f.images(evil).pushRequest();
    req.setRemote(kj::str("127.0.0.1:", freePort(), "/stolen:1"));
    req.setLocal(IMAGE);
    req.initOptions();
    f.expectNotFound(req);
  };
  images["pushObject"] = [](TenancyTest& f, kj::StringPtr evil) {
    // The victim's blob, by its digest: not this namespace's, so `not found`, and nothing read.
    auto req = f.images(evil).pushObjectRequest();
    req.setRemote(kj::str("127.0.0.1:", freePort(), "/stolen"));
    req.initDescriptor().setDigest(f.digest);
    req.initOptions();
    f.expectNotFound(req);
  };
  images["export"] = [](TenancyTest& f, kj::StringPtr evil) {
    // The victim's image name: `not found`, and not a byte of it in the archive.
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    kj::AutoCloseFd readEnd(fds[0]);
    auto req = f.images(evil).exportRequest();
    req.initNames(1).set(0, IMAGE);
    req.initOptions();
    req.setSink(kj::heap<FdServer<schema::Sink>>(kj::AutoCloseFd(fds[1])));
    f.expectNotFound(req);
    char byte;
    EXPECT_EQ(read(readEnd, &byte, 1), -1);
  };
  images["import"] = [](TenancyTest& f, kj::StringPtr evil) {
    // An archive whose index names the victim's blob without holding it: knowing a digest gains
    // nothing (`not found`), and the victim's image is untouched (TearDown).
    TempDir layout;
    writeFile(layout.path() + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    writeFile(layout.path() + "/index.json",
              std::string(R"({"schemaVersion":2,"manifests":[{"mediaType":)") +
                  R"("application/vnd.oci.image.manifest.v1+json","digest":")" + f.digest +
                  R"(","size":)" + std::to_string(strlen(SECRET)) +
                  R"(,"annotations":{"io.containerd.image.name":")" + IMAGE + R"("}}]})");
    auto tar = layout.path() + "/archive.tar";
    ASSERT_EQ(run({"/bin/tar", "-cf", tar, "-C", layout.path(), "oci-layout", "index.json"}).status,
              0);
    auto req = f.images(evil).importRequest();
    req.setSource(kj::heap<FdServer<schema::Source>>(kj::AutoCloseFd(open(tar.c_str(), O_RDONLY))));
    req.initOptions().setUnpack(true);
    f.expectNotFound(req);
    EXPECT_FALSE(f.evilHoldsTheBlob(evil));
    auto r = f.images(evil).listRequest().send().wait(f.client->waitScope());
    EXPECT_EQ(r.getImages().size(), 0u);
  };
  images["usage"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.images(evil).usageRequest();
    req.setName(IMAGE);
    f.expectNotFound(req);
  };

  auto& containers = t["Containers"];
  containers["get"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.containers(evil).getRequest();
    req.setId(CONTAINER);
    f.expectNotFound(req);
  };
  containers["list"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto r = f.containers(evil).listRequest().send().wait(f.client->waitScope());
    EXPECT_EQ(r.getContainers().size(), 0u);
  };
  containers["create"] = [](TenancyTest& f, kj::StringPtr evil) {
    // Its own container by the same id, claiming the victim's image: the victim's is untouched.
    auto req = f.containers(evil).createRequest();
    auto c = req.initContainer();
    c.setId(CONTAINER);
    c.setImage(IMAGE);
    c.setSpec(kj::StringPtr("{}").asBytes());
    kj::runCatchingExceptions([&]() { req.send().wait(f.client->waitScope()); });
    auto del = f.containers(evil).deleteRequest();
    del.setId(CONTAINER);
    kj::runCatchingExceptions([&]() { del.send().wait(f.client->waitScope()); });
  };
  containers["update"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.containers(evil).updateRequest();
    auto c = req.initContainer();
    c.setId(CONTAINER);
    auto l = c.initLabels(1);
    l[0].setKey("stolen");
    l[0].setValue("yes");
    req.initFieldpaths(1).set(0, "labels.stolen");
    f.expectNotFound(req);
  };
  containers["delete"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.containers(evil).deleteRequest();
    req.setId(CONTAINER);
    f.expectNotFound(req);
  };
  auto& leases = t["Leases"];
  leases["create"] = [](TenancyTest& f, kj::StringPtr evil) {
    // The same id is evil's own lease: it holds nothing of the victim's.
    auto req = f.leases(evil).createRequest();
    req.setId(LEASE);
    req.send().wait(f.client->waitScope());
    auto list = f.leases(evil).listResourcesRequest();
    list.setId(LEASE);
    EXPECT_EQ(list.send().wait(f.client->waitScope()).getResources().size(), 0u);
  };
  leases["delete"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.leases(evil).deleteRequest();
    req.setId(LEASE);
    req.setSync(true);
    f.expectNotFound(req);
  };
  leases["list"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto r = f.leases(evil).listRequest().send().wait(f.client->waitScope());
    EXPECT_EQ(r.getLeases().size(), 0u);
  };
  leases["addResource"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.leases(evil).addResourceRequest();
    req.setId(LEASE);
    req.initResource().setType("content");
    req.getResource().setId(f.digest);
    f.expectNotFound(req);
  };
  leases["deleteResource"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.leases(evil).deleteResourceRequest();
    req.setId(LEASE);
    req.initResource().setType("content");
    req.getResource().setId(f.digest);
    f.expectNotFound(req);
  };
  leases["listResources"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.leases(evil).listResourcesRequest();
    req.setId(LEASE);
    f.expectNotFound(req);
  };
  auto& snapshots = t["Snapshots"];
  auto snapshotCase = [](auto makeRequest) {
    return [makeRequest](TenancyTest& f, kj::StringPtr evil) {
      auto req = makeRequest(f.snapshots(evil));
      f.expectNotFound(req);
    };
  };
  snapshots["prepare"] = snapshotCase([](schema::Snapshots::Client s) {
    auto req = s.prepareRequest();
    req.setKey("on-victims");
    req.setParent(BASE);
    return req;
  });
  snapshots["view"] = snapshotCase([](schema::Snapshots::Client s) {
    auto req = s.viewRequest();
    req.setKey("view-of-victims");
    req.setParent(BASE);
    return req;
  });
  snapshots["mounts"] = snapshotCase([](schema::Snapshots::Client s) {
    auto req = s.mountsRequest();
    req.setKey(WORK);
    return req;
  });
  snapshots["commit"] = snapshotCase([](schema::Snapshots::Client s) {
    auto req = s.commitRequest();
    req.setName("stolen");
    req.setKey(WORK);
    return req;
  });
  snapshots["remove"] = snapshotCase([](schema::Snapshots::Client s) {
    auto req = s.removeRequest();
    req.setKey(WORK);
    return req;
  });
  snapshots["stat"] = snapshotCase([](schema::Snapshots::Client s) {
    auto req = s.statRequest();
    req.setKey(BASE);
    return req;
  });
  snapshots["update"] = snapshotCase([](schema::Snapshots::Client s) {
    auto req = s.updateRequest();
    req.setKey(BASE);
    auto l = req.initLabels(1);
    l[0].setKey("stolen");
    l[0].setValue("yes");
    req.initFieldpaths(1).set(0, "labels.stolen");
    return req;
  });
  snapshots["usage"] = snapshotCase([](schema::Snapshots::Client s) {
    auto req = s.usageRequest();
    req.setKey(WORK);
    return req;
  });
  snapshots["writableDir"] = snapshotCase([](schema::Snapshots::Client s) {
    auto req = s.writableDirRequest();
    req.setKey(WORK);
    return req;
  });
  snapshots["rebase"] = snapshotCase([](schema::Snapshots::Client s) {
    auto req = s.rebaseRequest();
    req.setKey(WORK);
    req.setParent(BASE);
    return req;
  });
  snapshots["list"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto r = f.snapshots(evil).listRequest().send().wait(f.client->waitScope());
    EXPECT_EQ(r.getInfos().size(), 0u);
  };
  snapshots["cleanup"] = [](TenancyTest& f, kj::StringPtr evil) {
    // Harmless to anyone's records (TearDown finds the victim's).
    f.snapshots(evil).cleanupRequest().send().wait(f.client->waitScope());
  };
  snapshots["traits"] = [](TenancyTest& f, kj::StringPtr evil) {
    // The snapshotter's own, the same for everyone.
    f.snapshots(evil).traitsRequest().send().wait(f.client->waitScope());
  };
  auto& diff = t["Diff"];
  diff["apply"] = [](TenancyTest& f, kj::StringPtr evil) {
    // The victim's blob as a layer into evil's own snapshot: evil does not hold the blob.
    auto prepare = f.snapshots(evil).prepareRequest();
    prepare.setKey("mine");
    prepare.send().wait(f.client->waitScope());
    auto req = f.diff(evil).applyRequest();
    req.initLayer().setDigest(f.digest);
    req.getLayer().setMediaType("application/vnd.oci.image.layer.v1.tar");
    req.getLayer().setSize(strlen(SECRET));
    req.setSnapshotter("overlayfs");
    req.setKey("mine");
    f.expectNotFound(req);
  };
  diff["diff"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.diff(evil).diffRequest();
    req.setSnapshotter("overlayfs");
    req.setKey(WORK);
    f.expectNotFound(req);
  };
  diff["inherit"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.diff(evil).inheritRequest();
    req.setSnapshotter("overlayfs");
    req.setKey(WORK);
    req.initPaths(1).set(0, "etc");
    f.expectNotFound(req);
  };
  auto& tasks = t["Tasks"];
  auto taskCase = [](auto fill) {
    // The victim's container id, through evil's tasks service.
    return [fill](TenancyTest& f, kj::StringPtr evil) {
      auto req = fill(f.tasks(evil));
      f.expectNotFound(req);
    };
  };
#define TASK_CASE(method, ...)                            \
  tasks[#method] = taskCase([](schema::Tasks::Client c) { \
    auto req = c.method##Request();                       \
    req.setContainerId(CONTAINER);                        \
    __VA_ARGS__;                                          \
    return req;                                           \
  })
  TASK_CASE(create);
  TASK_CASE(start);
  TASK_CASE(delete);
  TASK_CASE(get);
  TASK_CASE(kill, req.setSignal(9), req.setAll(true));
  TASK_CASE(exec, req.setExecId("evil-exec"),
            req.initSpec().setJson(kj::StringPtr("{\"args\":[\"sleep\",\"1\"]}").asBytes()));
  TASK_CASE(resizePty, req.setWidth(1), req.setHeight(1));
  TASK_CASE(closeIo);
  TASK_CASE(pause);
  TASK_CASE(resume);
  TASK_CASE(pids);
  TASK_CASE(update, req.setResources(kj::StringPtr("{\"pids\":{\"limit\":1}}").asBytes()));
  TASK_CASE(wait);
  TASK_CASE(metrics);
  TASK_CASE(attach);
#undef TASK_CASE
  tasks["list"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto r = f.tasks(evil).listRequest().send().wait(f.client->waitScope());
    EXPECT_EQ(r.getTasks().size(), 0u);
  };
  tasks["checkpoint"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.tasks(evil).checkpointRequest();
    req.setContainerId(CONTAINER);
    f.expectRefused(req);
  };
  auto& ns = t["Namespace"];
  ns["withLease"] = [](TenancyTest& f, kj::StringPtr evil) {
    auto req = f.client->ns(evil).withLeaseRequest();
    req.setId(LEASE);
    f.expectNotFound(req);
  };
  ns["events"] = [](TenancyTest& f, kj::StringPtr evil) {
    // What evil subscribes to through its namespace is its own: the victim's change is not.
    auto events = f.client->ns(evil).eventsRequest().send().getEvents();
    EventStream stream(*f.client, kj::mv(events), {});
    auto copy = std::string(IMAGE) + "-copy";
    ASSERT_EQ(f.daemon.ctr({"-n", "victim", "images", "tag", IMAGE, copy}).status, 0);
    ASSERT_EQ(f.daemon.ctr({"-n", "victim", "images", "rm", copy}).status, 0);
    EXPECT_EQ(stream.next(300 * kj::MILLISECONDS), nullptr);
    // Nor can it publish into the victim's.
    auto publish = f.client->ns(evil).eventsRequest().send().getEvents().publishRequest();
    publish.setNamespace("victim");
    publish.setTopic("/evil/said");
    f.expectNotFound(publish);
  };
  return t;
}

template <typename Interface>
std::set<std::string> methodsOf() {
  std::set<std::string> out;
  for (auto m : capnp::Schema::from<Interface>().getMethods()) {
    out.insert(m.getProto().getName().cStr());
  }
  return out;
}

TEST(Tenancy, EveryMethodHasACase) {
  auto table = cases();
  std::map<std::string, std::set<std::string>> interfaces = {
      {"Content", methodsOf<schema::Content>()},       {"Images", methodsOf<schema::Images>()},
      {"Containers", methodsOf<schema::Containers>()}, {"Leases", methodsOf<schema::Leases>()},
      {"Snapshots", methodsOf<schema::Snapshots>()},   {"Diff", methodsOf<schema::Diff>()},
      {"Tasks", methodsOf<schema::Tasks>()},
  };
  // Of Namespace, the methods that take an id of their own (the others hand out the
  // interfaces above, or its name).
  EXPECT_EQ(table["Namespace"].size(), 2u);
  for (auto& [name, methods] : interfaces) {
    std::set<std::string> covered;
    for (auto& [method, run] : table[name]) covered.insert(method);
    EXPECT_EQ(covered, methods) << name << ": a method without a case, or a case without a method";
  }
}

TEST_F(TenancyTest, NoMethodGivesOneTenantAnythingOfAnothers) {
  int n = 0;
  for (auto& [interface, methods] : cases()) {
    for (auto& [method, run] : methods) {
      SCOPED_TRACE(interface + "." + method);
      auto evil = kj::str("evil-", n++);
      run(*this, evil);
      EXPECT_FALSE(evilHoldsTheBlob(evil));
    }
  }
}

}  // namespace
}  // namespace ctrd::test
