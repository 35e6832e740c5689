// `ctr images pull` against a real registry (Debian's docker-registry on 127.0.0.1), through the
// real daemon and services: images, platforms, auth, corrupt and interrupted downloads,
// concurrent pulls, and unpacks compared with real containerd's.
#include <client/client.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "harness.h"
#include "registry.h"

namespace ctrd::test {
namespace {

std::string randomBytes(size_t n) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string out(n, '\0');
  in.read(out.data(), n);
  return out;
}

std::string mountOptions(const std::string& target) {
  // The per-mount options of the (last) mount at `target`.
  std::string found;
  for (auto& m : mounts()) {
    if (m.mountPoint == target) found = m.options;
  }
  return found;
}

class PullTest : public ::testing::Test {
protected:
  void SetUp() override {
    if (!Registry::available()) GTEST_SKIP() << "docker-registry is not installed";
    ASSERT_TRUE(daemon.start()) << daemon.log();
    target = work.path() + "/mnt";
    mkdir(target.c_str(), 0755);
  }

  void TearDown() override {
    if (mounted) umount2(target.c_str(), MNT_DETACH);
  }

  Result ctr(const std::vector<std::string>& args) { return daemon.ctr(args); }

  Result pull(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"images", "pull"};
    argv.insert(argv.end(), args.begin(), args.end());
    return ctr(argv);
  }

  std::string mountImage(const std::string& ref, const std::vector<std::string>& flags = {}) {
    // The image's rootfs, read-only, at `target`; returns `ls -R`-like proof via callers.
    std::vector<std::string> argv = {"images", "mount"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(ref);
    argv.push_back(target);
    auto r = ctr(argv);
    EXPECT_EQ(r.status, 0) << r.err;
    mounted = r.status == 0;
    return r.out;
  }

  void unmountImage(const std::vector<std::string>& flags = {}) {
    std::vector<std::string> argv = {"images", "unmount", "--rm"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(target);
    auto r = ctr(argv);
    EXPECT_EQ(r.status, 0) << r.err;
    mounted = false;
  }

  nlohmann::json manifest(const Registry& registry, const std::string& repoAndTag) {
    auto colon = repoAndTag.rfind(':');
    auto r = run({"/usr/bin/curl", "-sf", "-H",
                  "Accept: application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json",
                  "http://" + registry.address() + "/v2/" + repoAndTag.substr(0, colon) +
                      "/manifests/" + repoAndTag.substr(colon + 1)});
    EXPECT_EQ(r.status, 0);
    return nlohmann::json::parse(r.out);
  }

  std::string layerDir(const std::string& name, const std::map<std::string, std::string>& files) {
    auto dir = work.path() + "/" + name;
    for (auto& [path, content] : files) {
      auto full = dir + "/" + path;
      run({"/bin/mkdir", "-p", full.substr(0, full.rfind('/'))});
      writeFile(full, content);
    }
    return dir;
  }

  Daemon daemon;
  TempDir work;
  std::string target;
  bool mounted = false;
};

TEST_F(PullTest, OneLayerImagePullsUnpacksAndLists) {
  Registry registry;
  ASSERT_TRUE(registry.up());
  auto digest = registry.push({"busybox", "busybox:latest"});
  auto ref = registry.address() + "/busybox:latest";

  auto r = pull({"--print-chainid", ref});
  ASSERT_EQ(r.status, 0) << r.err << daemon.log();
  EXPECT_NE(r.out.find("unpacking linux/amd64 " + digest + "..."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("image chain ID: sha256:"), std::string::npos) << r.out;
  // Not a terminal: no progress table.
  EXPECT_EQ(r.out.find("elapsed:"), std::string::npos) << r.out;

  auto ls = ctr({"images", "ls"});
  ASSERT_EQ(ls.status, 0) << ls.err;
  EXPECT_TRUE(std::regex_search(
      ls.out, std::regex(ref + " +application/vnd.oci.image.manifest.v1\\+json +" + digest +
                         " +[0-9.]+ (KiB|MiB) +linux/amd64 +-")))
      << ls.out;
  auto check = ctr({"images", "check"});
  EXPECT_NE(check.out.find("complete (3/3)"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find(" true"), std::string::npos) << check.out;

  // The blobs carry containerd's labels: the manifest holds its config and layer, the layer
  // its diff ID, the config the unpacked snapshot.
  auto content = ctr({"content", "ls"});
  EXPECT_EQ(
      count(content.out, "containerd.io/distribution.source." + registry.address() + "=busybox"),
      3u)
      << content.out;
  EXPECT_NE(content.out.find("containerd.io/gc.ref.content.l.0=sha256:"), std::string::npos);
  EXPECT_NE(content.out.find("containerd.io/uncompressed=sha256:"), std::string::npos);
  EXPECT_NE(content.out.find("containerd.io/gc.ref.snapshot.overlayfs=sha256:"), std::string::npos);

  mountImage(ref);
  EXPECT_EQ(readFile(target + "/bin/busybox"), readFile("/bin/busybox"));
  char link[256] = {};
  ASSERT_GT(readlink((target + "/bin/sh").c_str(), link, sizeof(link) - 1), 0);
  EXPECT_STREQ(link, "/bin/busybox");
  // An image's setuid bits and device nodes mean nothing on the host.
  auto options = mountOptions(target);
  EXPECT_NE(options.find("nosuid"), std::string::npos) << options;
  EXPECT_NE(options.find("nodev"), std::string::npos) << options;
  unmountImage();

  // Pulled again: nothing new is downloaded or applied, and the image is the same.
  r = pull({ref});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(ctr({"images", "ls", "-q"}).out, ref + "\n");

  // Tag, remove.
  ASSERT_EQ(ctr({"images", "tag", ref, "copy:1"}).status, 0);
  auto taken = ctr({"images", "tag", ref, "copy:1"});
  EXPECT_NE(taken.status, 0);
  EXPECT_NE(taken.err.find("image \"copy:1\": already exists"), std::string::npos) << taken.err;
  EXPECT_EQ(ctr({"images", "tag", "--force", ref, "copy:1"}).status, 0);
  EXPECT_EQ(ctr({"images", "ls", "-q"}).out, ref + "\ncopy:1\n");
  EXPECT_EQ(ctr({"images", "rm", "copy:1", ref}).status, 0);
  EXPECT_EQ(ctr({"images", "ls", "-q"}).out, "");
  auto gone = ctr({"images", "rm", "copy:1"});
  EXPECT_NE(gone.status, 0);
  EXPECT_NE(gone.err.find("image \"copy:1\": not found"), std::string::npos) << gone.err;
}

TEST_F(PullTest, ManyLayersApplyInOrderUnderTheirChainIds) {
  Registry registry;
  ASSERT_TRUE(registry.up());
  std::vector<std::string> args = {"image", "layers:1", "--docker"};
  for (auto& l : {layerDir("l0", {{"a/file", "0"}, {"b/x", "x"}, {"keep", "k"}}),
                  layerDir("l1", {{"a/file", "1"}}), layerDir("l2", {{"b/.wh.x", ""}}),
                  layerDir("l3", {{"c/new", "c"}}), layerDir("l4", {{"a/file", "4"}})}) {
    args.push_back("--layer");
    args.push_back(l);
  }
  registry.push(args);
  auto ref = registry.address() + "/layers:1";
  auto r = pull({"--print-chainid", ref});
  ASSERT_EQ(r.status, 0) << r.err << daemon.log();

  // Five committed snapshots, each the parent of the next, the top one the image's chain ID.
  auto snapshots = ctr({"snapshots", "ls"});
  EXPECT_EQ(count(snapshots.out, "Committed"), 5u) << snapshots.out;
  std::smatch chain;
  ASSERT_TRUE(std::regex_search(r.out, chain, std::regex("image chain ID: (sha256:[0-9a-f]{64})")));
  EXPECT_NE(snapshots.out.find(chain[1].str()), std::string::npos);

  mountImage(ref);
  EXPECT_EQ(readFile(target + "/a/file"), "4");
  EXPECT_EQ(readFile(target + "/keep"), "k");
  EXPECT_EQ(readFile(target + "/c/new"), "c");
  EXPECT_NE(access((target + "/b").c_str(), F_OK), -1);
  EXPECT_EQ(access((target + "/b/x").c_str(), F_OK), -1) << "whited out in layer 2";
  unmountImage();

  auto ls = ctr({"images", "ls"});
  EXPECT_NE(ls.out.find("application/vnd.docker.distribution.manifest.v2+json"), std::string::npos)
      << ls.out;
}

TEST_F(PullTest, ImplicitDirectoriesShowTheLowerLayersOwnerAndMode) {
  // Layer 1 names d/sub/file but not d: d keeps layer 0's owner and mode, as overlay shows them,
  // although layer 1 was applied on its own (in parallel) and stacked afterwards.
  Registry registry;
  ASSERT_TRUE(registry.up());
  auto script =
      "import io, sys, tarfile\n"
      "def add(t, name, kind, mode, uid, data=b''):\n"
      "    i = tarfile.TarInfo(name); i.type = kind; i.mode = mode; i.uid = i.gid = uid\n"
      "    i.size = len(data); i.mtime = 1704067200\n"
      "    t.addfile(i, io.BytesIO(data) if data else None)\n"
      "with tarfile.open(sys.argv[1], 'w') as t:\n"
      "    add(t, 'd', tarfile.DIRTYPE, 0o750, 1000)\n"
      "    add(t, 'd/old', tarfile.REGTYPE, 0o644, 1000, b'old')\n"
      "with tarfile.open(sys.argv[2], 'w') as t:\n"
      "    add(t, 'd/sub/file', tarfile.REGTYPE, 0o600, 0, b'new')\n";
  auto l0 = work.path() + "/implicit0.tar", l1 = work.path() + "/implicit1.tar";
  ASSERT_EQ(run({"/usr/bin/python3", "-c", script, l0, l1}).status, 0);
  registry.push({"image", "implicit:1", "--layer", l0, "--layer", l1});
  auto ref = registry.address() + "/implicit:1";
  auto r = pull({ref});
  ASSERT_EQ(r.status, 0) << r.err << daemon.log();
  mountImage(ref);
  struct stat d, sub;
  ASSERT_EQ(stat((target + "/d").c_str(), &d), 0);
  EXPECT_EQ(d.st_mode & 07777, 0750u);
  EXPECT_EQ(d.st_uid, 1000u);
  ASSERT_EQ(stat((target + "/d/sub").c_str(), &sub), 0);
  EXPECT_EQ(sub.st_mode & 07777, 0755u);
  EXPECT_EQ(sub.st_uid, 0u);
  EXPECT_EQ(readFile(target + "/d/old"), "old");
  EXPECT_EQ(readFile(target + "/d/sub/file"), "new");
  unmountImage();
}

TEST_F(PullTest, IndexPullsThePlatformAskedFor) {
  Registry registry;
  ASSERT_TRUE(registry.up());
  auto amd = registry.push({"busybox", "multi:amd64"});
  auto arm = registry.push({"busybox", "multi:arm64", "--platform", "linux/arm64/v8"});
  auto index =
      registry.push({"index", "multi:latest", "--manifest", "amd64", "--manifest", "arm64"});
  auto ref = registry.address() + "/multi:latest";

  auto r = pull({ref});
  ASSERT_EQ(r.status, 0) << r.err << daemon.log();
  EXPECT_NE(r.out.find("unpacking linux/amd64 " + amd), std::string::npos) << r.out;
  auto content = ctr({"content", "ls", "-q"});
  EXPECT_NE(content.out.find(index), std::string::npos);
  EXPECT_NE(content.out.find(amd), std::string::npos);
  EXPECT_EQ(content.out.find(arm), std::string::npos) << "only this host's manifest";
  auto ls = ctr({"images", "ls"});
  EXPECT_NE(ls.out.find("application/vnd.oci.image.index.v1+json"), std::string::npos);
  EXPECT_NE(ls.out.find("linux/amd64,linux/arm64/v8"), std::string::npos) << ls.out;
  auto check = ctr({"images", "check"});
  EXPECT_NE(check.out.find("complete (4/4)"), std::string::npos) << check.out;

  // Every platform's content, this host's unpacked only.
  r = pull({"--all-platforms", ref});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(ctr({"content", "ls", "-q"}).out.find(arm), std::string::npos);
  EXPECT_EQ(r.out.find("arm64"), std::string::npos) << r.out;

  // Another platform when asked for: fetched and unpacked (the layer is shared, so the chain is
  // the one unpacked already).
  r = pull({"--platform", "linux/arm64", ref});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("unpacking linux/arm64/v8 " + arm), std::string::npos) << r.out;

  auto none = pull({"--platform", "linux/s390x", ref});
  EXPECT_NE(none.status, 0);
  EXPECT_NE(none.err.find("no match for platform linux/s390x"), std::string::npos) << none.err;
}

TEST_F(PullTest, BasicAuthFromFlagOrDockerConfig) {
  Registry registry({"alice:s3cret"});
  ASSERT_TRUE(registry.up());
  registry.push({"busybox", "private/bb:1"});
  auto ref = registry.address() + "/private/bb:1";

  auto anonymous = pull({ref});
  EXPECT_NE(anonymous.status, 0);
  EXPECT_NE(anonymous.err.find("unauthorized"), std::string::npos) << anonymous.err;
  auto wrong = pull({"--user", "alice:nope", ref});
  EXPECT_NE(wrong.status, 0);
  EXPECT_NE(wrong.err.find("unauthorized: the registry refused the credentials"), std::string::npos)
      << wrong.err;
  EXPECT_EQ(ctr({"images", "ls", "-q"}).out, "");

  auto ok = pull({"--user", "alice:s3cret", ref});
  ASSERT_EQ(ok.status, 0) << ok.err;
  ASSERT_EQ(ctr({"images", "rm", ref}).status, 0);

  // ~/.docker/config.json, here through DOCKER_CONFIG.
  auto dockerDir = work.path() + "/docker";
  mkdir(dockerDir.c_str(), 0700);
  auto encoded = run({"/usr/bin/python3", "-c",
                      "import base64; print(base64.b64encode(b'alice:s3cret').decode())"})
                     .out;
  encoded.pop_back();
  writeFile(dockerDir + "/config.json",
            "{\"auths\": {\"" + registry.address() + "\": {\"auth\": \"" + encoded + "\"}}}");
  setenv("DOCKER_CONFIG", dockerDir.c_str(), 1);
  auto fromConfig = pull({ref});
  unsetenv("DOCKER_CONFIG");
  ASSERT_EQ(fromConfig.status, 0) << fromConfig.err;
}

TEST_F(PullTest, BearerTokenIsFetchedOnceAndReused) {
  Registry registry;
  ASSERT_TRUE(registry.up());
  registry.push({"image", "tokened:1", "--layer", layerDir("t0", {{"a", "a"}}), "--layer",
                 layerDir("t1", {{"b", "b"}}), "--layer", layerDir("t2", {{"c", "c"}})});
  RegistryProxy proxy(registry.address(), {"--token"});
  ASSERT_TRUE(proxy.start());
  auto r = pull({proxy.address() + "/tokened:1"});
  ASSERT_EQ(r.status, 0) << r.err << daemon.log();
  auto log = proxy.log();
  EXPECT_EQ(count(log, " TOKEN repository:tokened:pull"), 1u) << log;
  // One refused request (the challenge), then everything with the token.
  EXPECT_EQ(count(log, "/v2/tokened/"), 7u) << log;  // HEAD, 401 HEAD, manifest, config, 3 layers
}

TEST_F(PullTest, HostsDirectorySendsPullsThroughAMirror) {
  // containerd's hosts.toml: the mirror is tried first, the registry itself stays the server.
  Registry registry;
  ASSERT_TRUE(registry.up());
  registry.push({"busybox", "mirrored:1"});
  RegistryProxy mirror(registry.address(), {});
  ASSERT_TRUE(mirror.start());
  auto hostsDir = work.path() + "/certs.d";
  run({"/bin/mkdir", "-p", hostsDir + "/" + registry.address()});
  writeFile(hostsDir + "/" + registry.address() + "/hosts.toml",
            "server = \"http://" + registry.address() + "\"\n\n[host.\"http://" + mirror.address() +
                "\"]\n  capabilities = [\"pull\", \"resolve\"]\n");
  auto r = pull({"--hosts-dir", hostsDir, registry.address() + "/mirrored:1"});
  ASSERT_EQ(r.status, 0) << r.err << daemon.log();
  auto log = mirror.log();
  EXPECT_NE(log.find("HEAD /v2/mirrored/manifests/1"), std::string::npos) << log;
  EXPECT_EQ(count(log, "GET /v2/mirrored/blobs/"), 2u) << log;

  // A mirror that is down: the next host, here the server, answers.
  registry.push({"image", "other:1", "--layer", layerDir("o", {{"o", "other"}})});
  writeFile(hostsDir + "/" + registry.address() + "/hosts.toml",
            "[host.\"http://127.0.0.1:" + std::to_string(freePort()) +
                "\"]\n  capabilities = [\"pull\"]\n");
  r = pull({"--hosts-dir", hostsDir, "--plain-http", registry.address() + "/other:1"});
  EXPECT_EQ(r.status, 0) << r.err;

  writeFile(hostsDir + "/" + registry.address() + "/hosts.toml", "server = [\"not a string\"\n");
  r = pull({"--hosts-dir", hostsDir, registry.address() + "/other:1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("hosts.toml:1:"), std::string::npos) << r.err;
}

TEST_F(PullTest, HttpsWithTheHostsCaOrSkipVerify) {
  Registry registry({"", true});
  ASSERT_TRUE(registry.up());
  registry.push({"busybox", "secure:1"});
  auto ref = registry.address() + "/secure:1";
  auto hostsDir = work.path() + "/certs.d";
  auto hostDir = hostsDir + "/" + registry.address();
  run({"/bin/mkdir", "-p", hostDir});
  run({"/bin/cp", registry.caPath(), hostDir + "/ca.pem"});
  auto server = "server = \"https://" + registry.address() + "\"\n";

  writeFile(hostDir + "/hosts.toml", server);
  auto untrusted = pull({"--hosts-dir", hostsDir, ref});
  EXPECT_NE(untrusted.status, 0);
  EXPECT_NE(untrusted.err.find("SSL certificate problem"), std::string::npos) << untrusted.err;

  writeFile(hostDir + "/hosts.toml", server + "ca = \"ca.pem\"\n");
  auto trusted = pull({"--hosts-dir", hostsDir, ref});
  ASSERT_EQ(trusted.status, 0) << trusted.err << daemon.log();
  ASSERT_EQ(ctr({"images", "rm", ref}).status, 0);

  writeFile(hostDir + "/hosts.toml", server + "skip_verify = true\n");
  auto skipped = pull({"--hosts-dir", hostsDir, ref});
  EXPECT_EQ(skipped.status, 0) << skipped.err;
}

TEST_F(PullTest, CorruptBlobIsRefusedAndNothingIsStored) {
  Registry registry;
  ASSERT_TRUE(registry.up());
  registry.push({"busybox", "busybox:1"});
  auto layer = manifest(registry, "busybox:1")["layers"][0]["digest"].get<std::string>();
  RegistryProxy proxy(registry.address(), {"--corrupt", layer});
  ASSERT_TRUE(proxy.start());
  auto r = pull({proxy.address() + "/busybox:1"});
  ASSERT_NE(r.status, 0);
  EXPECT_NE(r.err.find("unexpected commit digest"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("expected " + layer), std::string::npos) << r.err;
  EXPECT_EQ(ctr({"content", "ls", "-q"}).out.find(layer), std::string::npos);
  EXPECT_EQ(ctr({"content", "active"}).out.find(layer), std::string::npos)
      << "the ingest is dropped";
  EXPECT_EQ(ctr({"images", "ls", "-q"}).out, "");
  EXPECT_EQ(count(ctr({"snapshots", "ls"}).out, "sha256:"), 0u);
}

TEST_F(PullTest, KilledRegistryThenThePullResumesWithARange) {
  Registry registry;
  ASSERT_TRUE(registry.up());
  auto big = layerDir("big", {{"random", randomBytes(24 << 20)}});
  registry.push({"image", "slow:1", "--layer", big});
  auto layer = manifest(registry, "slow:1")["layers"][0]["digest"].get<std::string>();

  auto proxy = std::make_unique<RegistryProxy>(registry.address(),
                                               std::vector<std::string>{"--rate", "3000000"});
  ASSERT_TRUE(proxy->start());
  auto ref = proxy->address() + "/slow:1";
  Child puller({binPath("ctr"), "--address", daemon.socket(), "images", "pull", ref},
               work.path() + "/pull.log");
  // Kill the registry once a few MB are in.
  ASSERT_TRUE(waitFor(
      [&]() {
        auto active = ctr({"content", "active"}).out;
        std::smatch m;
        return std::regex_search(active, m, std::regex("layer-" + layer + " +([0-9.]+)MB")) &&
               std::stod(m[1].str()) > 2;
      },
      20000))
      << ctr({"content", "active"}).out;
  proxy->kill();
  ASSERT_TRUE(waitFor([&]() { return !puller.running(); }, 30000));
  EXPECT_NE(readFile(work.path() + "/pull.log").find("gave up after"), std::string::npos)
      << readFile(work.path() + "/pull.log");
  EXPECT_NE(ctr({"content", "active"}).out.find("layer-" + layer), std::string::npos)
      << "the partial download is kept";

  // Back, at full speed, on the same address (the reference names it).
  proxy->setFlags({});
  ASSERT_TRUE(proxy->start());
  auto r = pull({ref});
  ASSERT_EQ(r.status, 0) << r.err << daemon.log();
  std::smatch range;
  auto log = proxy->log();
  ASSERT_TRUE(
      std::regex_search(log, range, std::regex("GET /v2/slow/blobs/" + layer + " bytes=([0-9]+)-")))
      << log;
  EXPECT_GT(std::stoll(range[1].str()), 2000000) << log;
  EXPECT_EQ(ctr({"content", "active"}).out.find("layer-"), std::string::npos);
  EXPECT_NE(ctr({"content", "ls", "-q"}).out.find(layer), std::string::npos);
  mountImage(ref);
  EXPECT_EQ(readFile(target + "/random"), readFile(big + "/random"));
  unmountImage();
}

TEST_F(PullTest, ClientKilledMidPullLosesNothing) {
  // ctr goes away while its pull downloads: the daemon carries on, and the next pull finds
  // the blob downloaded or resumes it.
  Registry registry;
  ASSERT_TRUE(registry.up());
  auto big = layerDir("gone", {{"random", randomBytes(12 << 20)}});
  registry.push({"image", "gone:1", "--layer", big});
  RegistryProxy proxy(registry.address(), {"--rate", "6000000"});
  ASSERT_TRUE(proxy.start());
  auto ref = proxy.address() + "/gone:1";
  {
    Child puller({binPath("ctr"), "--address", daemon.socket(), "images", "pull", ref},
                 work.path() + "/pull.log");
    ASSERT_TRUE(waitFor([&]() {
      return ctr({"content", "active"}).out.find("layer-") != std::string::npos;
    }));
    puller.stop(9);
  }
  auto r = pull({ref});
  ASSERT_EQ(r.status, 0) << r.err << daemon.log();
  EXPECT_TRUE(daemon.running());
  EXPECT_EQ(daemon.log().find("signal"), std::string::npos) << "no service crashed";
  mountImage(ref);
  EXPECT_EQ(readFile(target + "/random"), readFile(big + "/random"));
  unmountImage();
}

TEST_F(PullTest, ContentServiceKilledMidPullThenThePullResumes) {
  // containerd-content dies while it downloads: the supervisor restarts it, the pull fails
  // clearly, and the next pull resumes from the ingest on disk.
  Registry registry;
  ASSERT_TRUE(registry.up());
  auto big = layerDir("crash", {{"random", randomBytes(16 << 20)}});
  registry.push({"image", "crash:1", "--layer", big});
  auto layer = manifest(registry, "crash:1")["layers"][0]["digest"].get<std::string>();
  RegistryProxy proxy(registry.address(), {"--rate", "4000000"});
  ASSERT_TRUE(proxy.start());
  auto ref = proxy.address() + "/crash:1";
  Child puller({binPath("ctr"), "--address", daemon.socket(), "images", "pull", ref},
               work.path() + "/pull.log");
  ASSERT_TRUE(waitFor(
      [&]() {
        std::smatch m;
        auto active = ctr({"content", "active"}).out;
        return std::regex_search(active, m, std::regex("layer-" + layer + " +([0-9.]+)MB")) &&
               std::stod(m[1].str()) > 2;
      },
      20000));
  auto content = daemon.servicePid("containerd-content");
  ASSERT_GT(content, 0);
  kill(content, SIGKILL);
  ASSERT_TRUE(waitFor([&]() { return !puller.running(); }, 20000));
  EXPECT_NE(readFile(work.path() + "/pull.log").find("interrupted: a service stopped"),
            std::string::npos)
      << readFile(work.path() + "/pull.log");
  ASSERT_TRUE(waitFor([&]() {
    auto pid = daemon.servicePid("containerd-content");
    return pid > 0 && pid != content;
  }));
  auto r = pull({ref});
  ASSERT_EQ(r.status, 0) << r.err << daemon.log();
  std::smatch range;
  auto log = proxy.log();
  ASSERT_TRUE(std::regex_search(log, range,
                                std::regex("GET /v2/crash/blobs/" + layer + " bytes=([0-9]+)-")))
      << log;
  EXPECT_GT(std::stoll(range[1].str()), 2000000);
  mountImage(ref);
  EXPECT_EQ(readFile(target + "/random"), readFile(big + "/random"));
  unmountImage();
}

TEST_F(PullTest, ConcurrentPullsDownloadEachBlobOnce) {
  Registry registry;
  ASSERT_TRUE(registry.up());
  std::vector<std::string> args = {"image", "twice:1"};
  for (int i = 0; i < 3; i++) {
    args.push_back("--layer");
    args.push_back(layerDir("c" + std::to_string(i), {{"f", randomBytes(2 << 20)}}));
  }
  registry.push(args);
  RegistryProxy proxy(registry.address(), {"--rate", "8000000"});
  ASSERT_TRUE(proxy.start());
  auto ref = proxy.address() + "/twice:1";
  std::vector<std::string> argv = {binPath("ctr"), "--address", daemon.socket(),
                                   "images",       "pull",      ref};
  {
    Child first(argv, work.path() + "/first.log");
    Child second(argv, work.path() + "/second.log");
    ASSERT_TRUE(waitFor([&]() { return !first.running() && !second.running(); }, 60000));
  }
  EXPECT_NE(readFile(work.path() + "/first.log").find("unpacking"), std::string::npos)
      << readFile(work.path() + "/first.log");
  EXPECT_NE(readFile(work.path() + "/second.log").find("unpacking"), std::string::npos)
      << readFile(work.path() + "/second.log");
  auto log = proxy.log();
  for (auto& l : manifest(registry, "twice:1")["layers"]) {
    EXPECT_EQ(count(log, "GET /v2/twice/blobs/" + l["digest"].get<std::string>()), 1u) << log;
  }
  EXPECT_EQ(count(ctr({"snapshots", "ls"}).out, "Committed"), 3u);
}

TEST_F(PullTest, TrickyImageUnpacksExactlyAsContainerdDoes) {
  // The peer's tricky:latest layers (built by the peer's own script), pushed and pulled: the
  // rootfs must match real containerd's unpack of the same image, for both snapshotters.
  std::string peer = sourcePath("../shared/peer");
  auto layersDir = work.path() + "/tricky";
  auto made =
      run({"/bin/bash", sourcePath("tests/integration/make-peer-layers.sh"), "tricky", layersDir});
  if (made.status == 77) GTEST_SKIP() << made.err;
  ASSERT_EQ(made.status, 0) << made.err;
  Registry registry;
  ASSERT_TRUE(registry.up());
  registry.push({"image", "tricky:latest", "--layer", layersDir + "/tricky-l1.tar", "--layer",
                 layersDir + "/tricky-l2.tar", "--layer", layersDir + "/tricky-l3.tar"});
  auto ref = registry.address() + "/tricky:latest";
  for (std::string snapshotter : {"overlayfs", "native"}) {
    SCOPED_TRACE(snapshotter);
    auto r = pull({"--snapshotter", snapshotter, ref});
    ASSERT_EQ(r.status, 0) << r.err << daemon.log();
    mountImage(ref, {"--snapshotter", snapshotter});
    auto listing = run({"/usr/bin/python3", peer + "/fslist.py", target});
    unmountImage({"--snapshotter", snapshotter});
    ASSERT_EQ(listing.status, 0) << listing.err;
    auto theirs = peer + "/ref/tricky.containerd-" + snapshotter + ".list";
    auto expected = readFile(theirs);
    ASSERT_FALSE(expected.empty());
    if (listing.out != expected) {
      auto ours = work.path() + "/ours.list";
      writeFile(ours, listing.out);
      ADD_FAILURE() << run({"/usr/bin/diff", theirs, ours}).out;
    }
  }
}

TEST_F(PullTest, ClearErrors) {
  Registry registry;
  ASSERT_TRUE(registry.up());
  auto missing = pull({registry.address() + "/nothing:here"});
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.err.find("failed to resolve reference \"" + registry.address() +
                             "/nothing:here\": " + registry.address() + "/nothing:here: not found"),
            std::string::npos)
      << missing.err;
  auto bad = pull({"Not/A Reference"});
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.err.find("invalid argument"), std::string::npos) << bad.err;
  auto port = freePort();
  auto unreachable = pull({"127.0.0.1:" + std::to_string(port) + "/x:1"});
  EXPECT_NE(unreachable.status, 0);
  EXPECT_NE(unreachable.err.find("Couldn't connect to server (gave up after 5 attempts)"),
            std::string::npos)
      << unreachable.err;
  EXPECT_EQ(ctr({"images", "ls", "-q"}).out, "");
}

}  // namespace
}  // namespace ctrd::test

namespace ctrd::test {
namespace {

class RecordingProgress final : public schema::Progress::Server {
  // What the daemon reported of one layer: each offset seen while it was downloading.
public:
  RecordingProgress(std::string ref, std::vector<int64_t>& offsets, int64_t& total)
      : ref(std::move(ref)), offsets(offsets), total(total) {}
  kj::Promise<void> update(UpdateContext context) override {
    for (auto item : context.getParams().getItems()) {
      if (item.getRef() != ref.c_str()) continue;
      total = item.getTotal();
      if (item.getStatus() == schema::ProgressItem::Status::DOWNLOADING) {
        offsets.push_back(item.getOffset());
      }
    }
    return kj::READY_NOW;
  }

private:
  std::string ref;
  std::vector<int64_t>& offsets;
  int64_t& total;
};

TEST_F(PullTest, ProgressReportsTheOffsetOfADownloadAsBytesArrive) {
  // The content service reports how far each download is; the pull passes it on in its table.
  Registry registry;
  ASSERT_TRUE(registry.up());
  auto dir = layerDir("progress", {{"random", randomBytes(6 << 20)}});
  registry.push({"image", "progress:1", "--layer", dir});
  auto layer = manifest(registry, "progress:1")["layers"][0]["digest"].get<std::string>();
  RegistryProxy proxy(registry.address(), {"--rate", "3000000"});
  ASSERT_TRUE(proxy.start());

  std::vector<int64_t> offsets;
  int64_t total = 0;
  DaemonClient client(daemon.socket().c_str());
  auto req = client.ns("default").imagesRequest().send().getImages().pullRequest();
  req.setRef(proxy.address() + "/progress:1");
  req.initOptions().setUnpack(false);
  req.setProgress(kj::heap<RecordingProgress>("layer-" + layer, offsets, total));
  req.send().wait(client.waitScope());

  ASSERT_GT(total, 6 << 20);
  // About two seconds of downloading at 3 MB/s, reported every 100 ms: several offsets in
  // between, never going back.
  std::vector<int64_t> between;
  for (auto o : offsets) {
    if (o > 0 && o < total) between.push_back(o);
  }
  EXPECT_GE(between.size(), 3u) << offsets.size() << " reports";
  EXPECT_TRUE(std::is_sorted(between.begin(), between.end()));
}

}  // namespace
}  // namespace ctrd::test
