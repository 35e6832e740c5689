// `ctr images export` and `ctr images import` with the real executables: OCI image layout tars
// checked with oci-image-tool and skopeo, docker-archive tars from skopeo read back, and hostile
// archives refused with nothing recorded.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <regex>
#include <sstream>

#include "registry-fixture.h"

namespace ctrd::test {
namespace {

bool haveTool(const std::string& name) {
  return access(("/usr/bin/" + name).c_str(), X_OK) == 0;
}

std::string sha256Hex(const std::string& path) {
  auto r = run({"/usr/bin/sha256sum", path});
  return r.out.substr(0, 64);
}

class ArchiveTest : public RegistryFixture {
protected:
  void TearDown() override {
    for (auto ns : {"arch-in", "arch-docker", "arch-skopeo"}) removeNamespaceCgroups(ns);
  }

  std::string path(const std::string& name) const { return dir.path() + "/" + name; }

  std::string exportedLayout(const std::string& name) {
    // src pulled, exported to NAME.tar and unpacked into the directory NAME, returned.
    EXPECT_EQ(ctr({"images", "pull", src}).status, 0) << daemon.log();
    auto file = path(name + ".tar");
    EXPECT_EQ(ctr({"images", "export", file, src}).status, 0) << daemon.log();
    auto layout = path(name);
    EXPECT_EQ(run({"/bin/mkdir", layout}).status, 0);
    EXPECT_EQ(run({"/bin/tar", "-xf", file, "-C", layout}).status, 0);
    return layout;
  }

  void expectNothingImported(const std::string& ns) {
    // A refused archive leaves no image, and after a collection no blob either: what it had
    // stored was only ever held by the import's lease.
    EXPECT_EQ(ctr({"images", "ls", "-q"}, ns).out, "");
    ASSERT_EQ(ctr({"gc"}, ns).status, 0);
    EXPECT_EQ(ctr({"content", "ls", "-q"}, ns).out, "");
  }

  TempDir dir;
};

TEST_F(ArchiveTest, ExportIsAnOciLayoutThatImportsBackAndRuns) {
  ASSERT_EQ(ctr({"images", "pull", src}).status, 0) << daemon.log();
  auto file = path("busybox.tar");
  auto exported = ctr({"images", "export", file, src});
  ASSERT_EQ(exported.status, 0) << exported.err << daemon.log();

  // The entries containerd writes, in its order.
  auto list = run({"/bin/tar", "-tf", file});
  ASSERT_EQ(list.status, 0) << list.err;
  std::regex names(R"(^blobs/\nblobs/sha256/\n(blobs/sha256/[0-9a-f]{64}\n){3}index\.json\n)"
                   R"(manifest\.json\noci-layout\n$)");
  EXPECT_TRUE(std::regex_match(list.out, names)) << list.out;
  EXPECT_NE(list.out.find("blobs/sha256/" + sourceDigest.substr(7)), std::string::npos);

  auto unpacked = path("layout");
  ASSERT_EQ(run({"/bin/mkdir", unpacked}).status, 0);
  ASSERT_EQ(run({"/bin/tar", "-xf", file, "-C", unpacked}).status, 0);
  auto index = readFile(unpacked + "/index.json");
  EXPECT_NE(index.find("\"io.containerd.image.name\":\"" + src + "\""), std::string::npos) << index;
  EXPECT_NE(index.find("\"org.opencontainers.image.ref.name\":\"1\""), std::string::npos) << index;
  EXPECT_NE(readFile(unpacked + "/manifest.json").find("\"RepoTags\":[\"" + src + "\"]"),
            std::string::npos);
  // Every blob is the digest its name says.
  auto blobs = run({"/bin/ls", unpacked + "/blobs/sha256"}).out;
  std::istringstream in(blobs);
  for (std::string hex; std::getline(in, hex);) {
    EXPECT_EQ(sha256Hex(unpacked + "/blobs/sha256/" + hex), hex);
  }
  // Debian's oci-image-tool (1.0.0-rc1) checks each document against the image-spec schemas
  // (its whole-layout check predates index.json); umoci reads the layout as a layout.
  if (haveTool("oci-image-tool")) {
    std::smatch m;
    auto manifest = readFile(unpacked + "/blobs/sha256/" + sourceDigest.substr(7));
    std::regex config(R"("config":\s*\{[^}]*"digest":\s*"(sha256:[0-9a-f]{64}))");
    ASSERT_TRUE(std::regex_search(manifest, m, config)) << manifest;
    for (auto [type, file] : std::vector<std::pair<std::string, std::string>>{
             {"imageIndex", unpacked + "/index.json"},
             {"manifest", unpacked + "/blobs/sha256/" + sourceDigest.substr(7)},
             {"config", unpacked + "/blobs/sha256/" + m[1].str().substr(7)}}) {
      auto valid = run({"/usr/bin/oci-image-tool", "validate", "--type", type, file});
      EXPECT_EQ(valid.status, 0) << type << ": " << valid.out << valid.err;
    }
  }
  if (haveTool("umoci")) {
    auto tags = run({"/usr/bin/umoci", "ls", "--layout", unpacked});
    EXPECT_EQ(tags.out, "1\n") << tags.err;
  }

  // Into another namespace, without a registry: the same image, unpacked, and it runs.
  auto imported = ctr({"images", "import", file}, "arch-in");
  ASSERT_EQ(imported.status, 0) << imported.err << daemon.log();
  EXPECT_EQ(imported.out, "unpacking " + src + " (" + sourceDigest + ")...done\n");
  EXPECT_EQ(digestOf(src, "arch-in"), sourceDigest);
  auto ran = ctr({"run", "--rm", src, "imported", "/bin/busybox", "echo", "imported"}, "arch-in");
  EXPECT_EQ(ran.status, 0) << ran.err << daemon.log();
  EXPECT_EQ(ran.out, "imported\n");
  // The import's lease is gone, and the blobs are held by the image: a collection keeps them.
  EXPECT_EQ(ctr({"leases", "ls", "-q"}, "arch-in").out, "");
  ASSERT_EQ(ctr({"gc"}, "arch-in").status, 0);
  auto check = ctr({"images", "check"}, "arch-in");
  EXPECT_NE(check.out.find("complete (3/3)"), std::string::npos) << check.out;

  // The same archive again: the name is moved to the same target, nothing breaks.
  EXPECT_EQ(ctr({"images", "import", "--digests", file}, "arch-in").status, 0);
  auto ls = ctr({"images", "ls", "-q"}, "arch-in").out;
  EXPECT_NE(ls.find(src), std::string::npos) << ls;
  EXPECT_NE(ls.find("@" + sourceDigest), std::string::npos) << ls;
}

TEST_F(ArchiveTest, AnIndexExportsThePlatformsAsked) {
  registry.push({"busybox", "multi:amd64", "--platform", "linux/amd64"});
  auto arm = registry.push({"busybox", "multi:arm64", "--platform", "linux/arm64"});
  registry.push({"index", "multi:latest", "--manifest", "amd64", "--manifest", "arm64"});
  auto ref = registry.address() + "/multi:latest";
  ASSERT_EQ(ctr({"images", "pull", ref}).status, 0) << daemon.log();

  // Only this host's platform is here: arm64 cannot be exported, and no file is left.
  auto file = path("multi.tar");
  auto refused = ctr({"images", "export", "--platform", "linux/arm64", file, ref});
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.err.find("not found"), std::string::npos) << refused.err;
  EXPECT_NE(access(file.c_str(), F_OK), 0);

  ASSERT_EQ(ctr({"images", "pull", "--all-platforms", ref}).status, 0) << daemon.log();
  auto exported = ctr({"images", "export", "--platform", "linux/arm64", file, ref});
  ASSERT_EQ(exported.status, 0) << exported.err << daemon.log();
  auto list = run({"/bin/tar", "-tf", file}).out;
  EXPECT_NE(list.find(arm.substr(7)), std::string::npos) << list;
  // index, arm64 manifest, its config; the layer is the same busybox layer.
  auto blobCount = std::count(list.begin(), list.end(), '\n') - 5;
  EXPECT_EQ(blobCount, 4) << list;

  auto all = path("all.tar");
  auto everything = ctr({"images", "export", "--all-platforms", all, ref});
  ASSERT_EQ(everything.status, 0) << everything.err;
  auto allList = run({"/bin/tar", "-tf", all}).out;
  // The other manifest and its config besides.
  EXPECT_EQ(std::count(allList.begin(), allList.end(), '\n'), blobCount + 5 + 2) << allList;
}

TEST_F(ArchiveTest, SkopeoReadsOurExportAndWeReadItsArchives) {
  if (!haveTool("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  ASSERT_EQ(ctr({"images", "pull", src}).status, 0) << daemon.log();
  auto file = path("ours.tar");
  ASSERT_EQ(ctr({"images", "export", file, src}).status, 0) << daemon.log();

  // skopeo reads our OCI archive and writes a docker-archive (plain layers, `docker save`'s).
  auto docker = path("docker.tar");
  auto copied = run({"/usr/bin/skopeo", "copy", "--quiet", "oci-archive:" + file,
                     "docker-archive:" + docker + ":busybox:skopeo"});
  ASSERT_EQ(copied.status, 0) << copied.err;
  auto imported = ctr({"images", "import", docker}, "arch-docker");
  ASSERT_EQ(imported.status, 0) << imported.err << daemon.log();
  EXPECT_NE(imported.out.find("unpacking docker.io/library/busybox:skopeo"), std::string::npos)
      << imported.out;
  auto ran = ctr({"run", "--rm", "docker.io/library/busybox:skopeo", "d1", "/bin/busybox", "echo",
                  "from docker-archive"},
                 "arch-docker");
  EXPECT_EQ(ran.out, "from docker-archive\n") << ran.err << daemon.log();

  // And skopeo's own OCI archive, named by a bare tag: under the base name asked for.
  auto oci = path("skopeo-oci.tar");
  ASSERT_EQ(run({"/usr/bin/skopeo", "copy", "--quiet", "oci-archive:" + file,
                 "oci-archive:" + oci + ":v2"})
                .status,
            0);
  auto named = ctr({"images", "import", "--base-name", "example.com/bb", oci}, "arch-skopeo");
  ASSERT_EQ(named.status, 0) << named.err << daemon.log();
  EXPECT_NE(ctr({"images", "ls", "-q"}, "arch-skopeo").out.find("example.com/bb:v2"),
            std::string::npos);
  EXPECT_EQ(
      ctr({"run", "--rm", "example.com/bb:v2", "o1", "/bin/busybox", "true"}, "arch-skopeo").status,
      0)
      << daemon.log();
}

TEST_F(ArchiveTest, HostileArchivesAreRefusedWithNothingRecorded) {
  auto file = path("layout.tar");
  auto layout = exportedLayout("layout");
  auto pack = [&](const std::string& name) {
    auto out = path(name);
    EXPECT_EQ(run({"/bin/tar", "-cf", out, "-C", layout, "."}).status, 0);
    return out;
  };

  // A blob whose bytes are not the digest its name says.
  auto manifestHex = sourceDigest.substr(7);
  auto blob = layout + "/blobs/sha256/" + manifestHex;
  auto original = readFile(blob);
  ASSERT_EQ(run({"/bin/chmod", "u+w", blob}).status, 0);
  writeFile(blob, original + " ");
  auto r = ctr({"images", "import", pack("lying.tar")}, "hostile");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("blobs/sha256/" + manifestHex), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unexpected commit"), std::string::npos) << r.err;
  expectNothingImported("hostile");
  writeFile(blob, original);

  // An index.json past the cap is never read into memory.
  auto indexPath = layout + "/index.json";
  auto index = readFile(indexPath);
  writeFile(indexPath, index.substr(0, index.size() - 1) + std::string(5 << 20, ' ') + "}");
  r = ctr({"images", "import", pack("huge.tar")}, "hostile");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("index.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("at most 4 MiB"), std::string::npos) << r.err;
  expectNothingImported("hostile");
  writeFile(indexPath, index);

  // A name that would redraw a terminal listing the images.
  auto named = index;
  auto at = named.find(src);
  ASSERT_NE(at, std::string::npos) << named;
  writeFile(indexPath, named.replace(at, src.size(), "x\\u001b[2Jy:1"));
  r = ctr({"images", "import", pack("control.tar")}, "hostile");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("holds a control character"), std::string::npos) << r.err;
  expectNothingImported("hostile");
  writeFile(indexPath, index);

  // An index naming a manifest the archive lacks.
  ASSERT_EQ(run({"/bin/rm", blob}).status, 0);
  r = ctr({"images", "import", pack("missing.tar")}, "hostile");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("content digest " + sourceDigest + ": not found"), std::string::npos)
      << r.err;
  expectNothingImported("hostile");

  // A truncated archive, and something that is no archive at all.
  auto truncated = path("truncated.tar");
  auto good = readFile(file);
  writeFile(truncated, good.substr(0, good.size() / 2));
  r = ctr({"images", "import", truncated}, "hostile");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("import"), std::string::npos) << r.err;
  expectNothingImported("hostile");
  auto junk = path("junk.tar");
  writeFile(junk, std::string(4096, 'x'));
  r = ctr({"images", "import", junk}, "hostile");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("invalid argument"), std::string::npos) << r.err;

  // Entries past the bound: counted before any more is read.
  auto many = path("many.tar");
  std::vector<std::string> argv = {"/bin/tar", "-cf", many, "--no-recursion", "-C", layout};
  for (int i = 0; i < 65537; i++) argv.push_back("blobs");
  ASSERT_EQ(run(argv).status, 0);
  r = ctr({"images", "import", many}, "hostile");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("more than 65536 entries"), std::string::npos) << r.err;
  expectNothingImported("hostile");

  // A docker tar whose manifest.json names a layer it lacks.
  auto docker = path("docker");
  ASSERT_EQ(run({"/bin/mkdir", docker}).status, 0);
  std::smatch m;
  std::regex configDigest(R"("config":\s*\{[^}]*"digest":\s*"sha256:([0-9a-f]{64}))");
  ASSERT_TRUE(std::regex_search(original, m, configDigest)) << original;
  auto configHex = m[1].str();
  ASSERT_EQ(run({"/bin/cp", layout + "/blobs/sha256/" + configHex, docker + "/cfg.json"}).status, 0)
      << configHex;
  writeFile(docker + "/manifest.json",
            R"([{"Config":"cfg.json","RepoTags":["x:1"],"Layers":["abc/layer.tar"]}])");
  auto dockerTar = path("docker.tar");
  ASSERT_EQ(run({"/bin/tar", "-cf", dockerTar, "-C", docker, "."}).status, 0);
  r = ctr({"images", "import", dockerTar}, "hostile");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("layer \"abc/layer.tar\" not found in the archive"), std::string::npos)
      << r.err;
  expectNothingImported("hostile");

  // The store is as it was: the pulled image is whole.
  auto check = ctr({"images", "check"});
  EXPECT_NE(check.out.find("complete (3/3)"), std::string::npos) << check.out;
}

TEST_F(ArchiveTest, ADockerSaveTarsLinksAndPlainLayersAndNamesThatLeaveTheArchive) {
  // A `docker save` tar as Docker before 25 wrote them, built here: the config at the top, the
  // plain layer under one directory and a symlink to it under another (Docker's way of sharing
  // a layer), and two entries whose names would leave any directory they were written to.
  auto layout = exportedLayout("layout");
  auto manifest = readFile(layout + "/blobs/sha256/" + sourceDigest.substr(7));
  std::smatch config, layer;
  ASSERT_TRUE(std::regex_search(
      manifest, config, std::regex(R"("config":\s*\{[^}]*"digest":\s*"sha256:([0-9a-f]{64}))")));
  ASSERT_TRUE(std::regex_search(
      manifest, layer,
      std::regex(R"("layers":\s*\[\s*\{[^}]*"digest":\s*"sha256:([0-9a-f]{64}))")));

  auto docker = path("docker");
  for (auto dir : {docker, docker + "/real", docker + "/shared"}) {
    ASSERT_EQ(run({"/bin/mkdir", dir}).status, 0);
  }
  ASSERT_EQ(
      run({"/bin/cp", layout + "/blobs/sha256/" + config[1].str(), docker + "/cfg.json"}).status,
      0);
  auto plain = run({"/bin/gzip", "-dc", layout + "/blobs/sha256/" + layer[1].str()});
  ASSERT_EQ(plain.status, 0);
  writeFile(docker + "/real/layer.tar", plain.out);
  ASSERT_EQ(symlink("../real/layer.tar", (docker + "/shared/layer.tar").c_str()), 0);
  writeFile(docker + "/manifest.json",
            R"([{"Config":"cfg.json","RepoTags":["linked:1"],"Layers":["shared/layer.tar"]}])");
  auto plainDigest = "sha256:" + sha256Hex(docker + "/real/layer.tar");
  auto extra = path("extra");
  ASSERT_EQ(run({"/bin/mkdir", extra}).status, 0);
  writeFile(extra + "/escape", "outside\n");
  auto escape = "/tmp/ctrd-archive-escape-" + std::to_string(getpid());
  auto tar = path("docker.tar");
  ASSERT_EQ(run({"/bin/tar", "-cf", tar, "-C", docker, "."}).status, 0);
  for (auto name : {"../../../../../.." + escape, escape + "-absolute"}) {
    ASSERT_EQ(run({"/bin/tar", "-rPf", tar, "-C", extra, "--transform", "s,^escape$," + name + ",",
                   "escape"})
                  .status,
              0);
  }
  auto names = run({"/bin/tar", "-tPf", tar}).out;
  ASSERT_NE(names.find("../../../../../.." + escape), std::string::npos) << names;
  ASSERT_NE(names.find("\n" + escape + "-absolute"), std::string::npos) << names;

  auto imported = ctr({"images", "import", tar}, "arch-docker");
  ASSERT_EQ(imported.status, 0) << imported.err << daemon.log();
  EXPECT_NE(imported.out.find("unpacking docker.io/library/linked:1"), std::string::npos)
      << imported.out;
  // Nothing was written where the names pointed; the plain layer stayed plain and ran.
  EXPECT_NE(access(escape.c_str(), F_OK), 0);
  EXPECT_NE(access((escape + "-absolute").c_str(), F_OK), 0);
  auto info = ctr({"content", "ls", "-q"}, "arch-docker").out;
  EXPECT_NE(info.find(plainDigest), std::string::npos) << info;
  EXPECT_EQ(info.find("sha256:" + layer[1].str()), std::string::npos) << "not gzipped here";
  auto ran =
      ctr({"run", "--rm", "docker.io/library/linked:1", "l1", "/bin/busybox", "echo", "linked"},
          "arch-docker");
  EXPECT_EQ(ran.out, "linked\n") << ran.err << daemon.log();

  // Links that go round in a circle name nothing.
  ASSERT_EQ(run({"/bin/rm", docker + "/real/layer.tar"}).status, 0);
  ASSERT_EQ(symlink("../shared/layer.tar", (docker + "/real/layer.tar").c_str()), 0);
  auto loop = path("loop.tar");
  ASSERT_EQ(run({"/bin/tar", "-cf", loop, "-C", docker, "."}).status, 0);
  auto r = ctr({"images", "import", loop}, "hostile");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("layer \"shared/layer.tar\" not found in the archive"), std::string::npos)
      << r.err;
  expectNothingImported("hostile");
}

}  // namespace
}  // namespace ctrd::test
