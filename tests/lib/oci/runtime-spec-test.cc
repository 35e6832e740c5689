// The runtime spec as containerd 1.6 builds it: defaults, then the image, then ctr's options.
#include <common/errors.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <kj/io.h>
#include <oci/runtime-spec.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "integration/harness.h"

namespace ctrd::oci {
namespace {

using json = nlohmann::json;

SpecOptions options() {
  SpecOptions o;
  o.ns = kj::str("default");
  o.id = kj::str("web");
  ImageRunConfig image;
  image.env.add(kj::str("PATH=/image/bin:/usr/bin"));
  image.env.add(kj::str("LANG=C.UTF-8"));
  image.entrypoint.add(kj::str("/entry"));
  image.cmd.add(kj::str("serve"));
  image.cmd.add(kj::str("--port=80"));
  image.workingDir = kj::str("/srv");
  o.image = kj::mv(image);
  return o;
}

json spec(const SpecOptions& o) {
  return json::parse(generateSpec(o).cStr());
}

bool hasNamespace(const json& s, const char* type) {
  for (auto& ns : s["linux"]["namespaces"]) {
    if (ns["type"] == type) return true;
  }
  return false;
}

const json* findMount(const json& s, const char* destination) {
  for (auto& m : s["mounts"]) {
    if (m["destination"] == destination) return &m;
  }
  return nullptr;
}

TEST(RuntimeSpec, TheDefaultsAreContainerds) {
  auto s = spec(options());
  EXPECT_EQ(s["ociVersion"], "1.0.2-dev");
  EXPECT_EQ(s["root"]["path"], "rootfs");
  EXPECT_EQ(s["process"]["noNewPrivileges"], true);
  EXPECT_EQ(s["process"]["user"]["uid"], 0);
  EXPECT_EQ(s["process"]["capabilities"]["bounding"].size(), 14u);
  EXPECT_EQ(s["process"]["capabilities"]["bounding"][0], "CAP_CHOWN");
  EXPECT_FALSE(s["process"]["capabilities"].contains("inheritable"));  // CVE-2022-24769
  EXPECT_EQ(s["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
  EXPECT_EQ(s["process"]["rlimits"][0]["hard"], 1024);
  for (auto* ns : {"pid", "ipc", "uts", "mount", "network"}) EXPECT_TRUE(hasNamespace(s, ns)) << ns;
  EXPECT_FALSE(hasNamespace(s, "user"));
  for (auto* m :
       {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/run"}) {
    EXPECT_NE(findMount(s, m), nullptr) << m;
  }
  EXPECT_EQ(s["linux"]["cgroupsPath"], "/default/web");
  auto masked = s["linux"]["maskedPaths"];
  EXPECT_NE(std::find(masked.begin(), masked.end(), "/proc/kcore"), masked.end());
  auto ro = s["linux"]["readonlyPaths"];
  EXPECT_NE(std::find(ro.begin(), ro.end(), "/proc/sys"), ro.end());
  EXPECT_EQ(s["linux"]["resources"]["devices"][0]["allow"], false);
  EXPECT_EQ(s["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
}

TEST(RuntimeSpec, TheImageGivesArgsEnvAndWorkingDirectory) {
  auto s = spec(options());
  EXPECT_EQ(s["process"]["args"], json({"/entry", "serve", "--port=80"}));
  EXPECT_EQ(s["process"]["cwd"], "/srv");
  // The image's PATH replaces the default one; its other variables follow.
  EXPECT_EQ(s["process"]["env"], json({"PATH=/image/bin:/usr/bin", "LANG=C.UTF-8"}));
}

TEST(RuntimeSpec, CtrsOptionsComeLast) {
  auto o = options();
  o.args.add(kj::str("/bin/sh"));
  o.env.add(kj::str("LANG=fr_FR"));
  o.env.add(kj::str("EXTRA=1"));
  o.cwd = kj::str("/tmp");
  o.user = kj::str("1000:1001");
  o.additionalGids.add(27);
  o.tty = true;
  o.readOnly = true;
  o.hostname = kj::str("box");
  o.memoryLimit = int64_t(64) << 20;
  o.cpus = 0.5;
  o.mounts.add(parseMountFlag("type=bind,src=/data,dst=/mnt/data,options=rbind:ro"));
  o.joins.add(parseWithNsFlag("network:/var/run/netns/test"));
  auto s = spec(o);
  EXPECT_EQ(s["process"]["args"], json({"/bin/sh"}));
  EXPECT_EQ(s["process"]["env"], json({"PATH=/image/bin:/usr/bin", "LANG=fr_FR", "EXTRA=1"}));
  EXPECT_EQ(s["process"]["cwd"], "/tmp");
  EXPECT_EQ(s["process"]["user"], json({{"uid", 1000}, {"gid", 1001}, {"additionalGids", {27}}}));
  EXPECT_EQ(s["process"]["terminal"], true);
  EXPECT_EQ(s["root"]["readonly"], true);
  EXPECT_EQ(s["hostname"], "box");
  EXPECT_EQ(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
  EXPECT_EQ(s["linux"]["resources"]["cpu"]["quota"], 50000);
  EXPECT_EQ(s["linux"]["resources"]["cpu"]["period"], 100000);
  auto* m = findMount(s, "/mnt/data");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ((*m)["source"], "/data");
  EXPECT_EQ((*m)["options"], json({"rbind", "ro"}));
  bool joined = false;
  for (auto& ns : s["linux"]["namespaces"]) {
    if (ns["type"] == "network") joined = ns.value("path", "") == "/var/run/netns/test";
  }
  EXPECT_TRUE(joined);
}

TEST(RuntimeSpec, HostNetworkDropsTheNamespaceAndBindsTheHostsFiles) {
  auto o = options();
  o.hostNetwork = true;
  o.hostHostname = kj::str("host-1");
  auto s = spec(o);
  EXPECT_FALSE(hasNamespace(s, "network"));
  EXPECT_NE(findMount(s, "/etc/resolv.conf"), nullptr);
  EXPECT_NE(findMount(s, "/etc/hosts"), nullptr);
  EXPECT_EQ(s["hostname"], "host-1");
}

TEST(RuntimeSpec, PrivilegedHasEveryCapabilityNoMaskAndNoSeccomp) {
  auto o = options();
  o.privileged = true;
  o.currentCapabilities = ~(uint64_t(1) << 24);  // a host without CAP_SYS_RESOURCE
  auto s = spec(o);
  auto caps = s["process"]["capabilities"]["bounding"];
  EXPECT_NE(std::find(caps.begin(), caps.end(), "CAP_SYS_ADMIN"), caps.end());
  EXPECT_NE(std::find(caps.begin(), caps.end(), "CAP_CHECKPOINT_RESTORE"), caps.end());
  EXPECT_EQ(std::find(caps.begin(), caps.end(), "CAP_SYS_RESOURCE"), caps.end());
  EXPECT_EQ(caps.size(), 40u);
  EXPECT_FALSE(s["linux"].contains("maskedPaths"));
  EXPECT_FALSE(s["linux"].contains("readonlyPaths"));
  EXPECT_FALSE(s["linux"].contains("seccomp"));
  EXPECT_EQ(s["linux"]["resources"]["devices"][0]["allow"], true);
}

TEST(RuntimeSpec, TheSeccompProfileGatesCallsOnTheBoundingSet) {
  auto allowed = [](const json& s, const char* call) {
    for (auto& rule : s["linux"]["seccomp"]["syscalls"]) {
      if (rule["action"] != "SCMP_ACT_ALLOW" || rule.contains("args")) continue;
      for (auto& n : rule["names"]) {
        if (n == call) return true;
      }
    }
    return false;
  };
  auto s = spec(options());
  EXPECT_TRUE(allowed(s, "read"));
  EXPECT_TRUE(allowed(s, "chroot"));  // CAP_SYS_CHROOT is a default capability
  for (auto* refused : {"mount", "unshare", "setns", "ptrace", "keyctl", "add_key", "bpf",
                        "init_module", "reboot", "kexec_load"}) {
    EXPECT_FALSE(allowed(s, refused)) << refused;
  }
}

TEST(RuntimeSpec, WhatTheSpecCannotHoldIsRefused) {
  auto noCommand = options();
  KJ_ASSERT_NONNULL(noCommand.image).entrypoint.clear();
  KJ_ASSERT_NONNULL(noCommand.image).cmd.clear();
  auto badUser = options();
  badUser.user = kj::str("web:");
  auto badCpus = options();
  badCpus.cpus = 0.0;
  for (auto* o : {&noCommand, &badUser, &badCpus}) {
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { generateSpec(*o); })) {
      EXPECT_EQ(errorKind(*e), ErrorKind::INVALID_ARGUMENT) << e->getDescription().cStr();
    } else {
      ADD_FAILURE() << "accepted";
    }
  }
}

TEST(RuntimeSpec, MountAndWithNsFlagsAreParsedAsCtrSpellsThem) {
  auto m = parseMountFlag("type=tmpfs,destination=/scratch,options=size=1m");
  EXPECT_EQ(m.type, "tmpfs");
  EXPECT_EQ(m.destination, "/scratch");
  ASSERT_EQ(m.options.size(), 1u);
  EXPECT_EQ(m.options[0], "size=1m");
  for (auto* bad : {"type=bind,dst=/x", "type=bind,src=/a,dst=relative", "src=/a",
                    "type=bind,src=/a,dst=/b,colour=red", "type=bind,src=/a,dst=/b,noequals"}) {
    EXPECT_ANY_THROW(parseMountFlag(bad)) << bad;
  }
  auto j = parseWithNsFlag("ipc:/proc/1/ns/ipc");
  EXPECT_EQ(j.type, "ipc");
  for (auto* bad : {"network", "network:relative", "planet:/x"}) {
    EXPECT_ANY_THROW(parseWithNsFlag(bad)) << bad;
  }
}

TEST(RuntimeSpec, AUserNameIsResolvedInTheRootfsWhenTheTaskIsMade) {
  test::TempDir dir;
  auto root = dir.path() + "/rootfs";
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root + "/etc").c_str(), 0755), 0);
  std::ofstream(root + "/etc/passwd") << "root:x:0:0::/:/bin/sh\nweb:x:1000:1000::/:/bin/sh\n";
  std::ofstream(root + "/etc/group") << "root:x:0:\nweb:x:1000:\naudio:x:29:web\n";
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  kj::AutoCloseFd rootfs(fd);

  auto o = options();
  o.user = kj::str("web");
  auto generated = generateSpec(o);
  auto before = json::parse(generated.cStr());
  EXPECT_EQ(before["annotations"][USER_ANNOTATION.cStr()], "web");
  EXPECT_EQ(specRootPath(generated), "rootfs");
  auto after = json::parse(resolveSpecUser(generated, rootfs).cStr());
  EXPECT_EQ(after["process"]["user"],
            json({{"uid", 1000}, {"gid", 1000}, {"additionalGids", {29}}}));
  EXPECT_FALSE(after.contains("annotations"));

  // No user asked for: the spec is left as it is.
  auto plain = generateSpec(options());
  EXPECT_EQ(resolveSpecUser(plain, rootfs), plain);
  o.user = kj::str("nobody");
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { resolveSpecUser(generateSpec(o), rootfs); })) {
    EXPECT_EQ(errorKind(*e), ErrorKind::NOT_FOUND);
  } else {
    ADD_FAILURE() << "an unknown user was resolved";
  }
}

}  // namespace
}  // namespace ctrd::oci
