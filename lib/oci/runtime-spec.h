// The OCI runtime spec (config.json) a container runs with, built as containerd 1.6 builds it:
// its default Linux spec (oci.WithDefaultSpec), the image's run settings (WithImageConfig), then
// the options `ctr run` takes, in that order. Pure: no file is read here; the caller reads
// `--env-file` and resolves user names beneath the rootfs (user.h).
#pragma once

#include <kj/string.h>
#include <kj/vector.h>
#include <oci/image.h>
#include <stdint.h>

namespace ctrd::oci {

struct SpecMount {
  kj::String type;
  kj::String source;
  kj::String destination;
  kj::Vector<kj::String> options;
};

SpecMount parseMountFlag(kj::StringPtr flag);
// `ctr run --mount`: "type=bind,src=/a,dst=/b,options=rbind:ro" (also source=, destination=,
// target=). Throws `invalid argument` naming the flag for an unknown key, a missing destination
// or a relative one.

struct NamespaceJoin {
  kj::String type;  // "network", "ipc", "uts", "pid", "mount", "cgroup", "user"
  kj::String path;  // an existing namespace, e.g. /var/run/netns/x
};

NamespaceJoin parseWithNsFlag(kj::StringPtr flag);
// `ctr run --with-ns TYPE:PATH`.

struct SpecOptions {
  kj::String ns;  // the containerd namespace: the cgroup path is /<ns>/<id>
  kj::String id;
  kj::Maybe<ImageRunConfig> image;  // none with --rootfs and no image
  kj::Vector<kj::String> args;      // replace the image's entrypoint and cmd when given
  kj::Vector<kj::String> env;       // KEY=VALUE, replacing the image's value of KEY
  kj::String cwd;
  kj::String user;  // <name|uid>[:<group|gid>]; empty for the image's
  kj::Vector<uint32_t> additionalGids;
  bool tty = false;
  bool hostNetwork = false;
  kj::String hostHostname;  // with hostNetwork: the host's name, and /etc/hosts and resolv.conf
  bool privileged = false;
  uint64_t currentCapabilities = ~uint64_t(0);
  // The caller's effective set, bit n for capability n: what --privileged gives the container
  // (containerd's WithAllCurrentCapabilities), since runc cannot grant more than it holds.
  bool readOnly = false;
  kj::String rootPath = kj::str("rootfs");
  kj::String hostname;
  kj::Vector<SpecMount> mounts;
  kj::Vector<NamespaceJoin> joins;
  kj::Maybe<int64_t> memoryLimit;  // bytes
  kj::Maybe<double> cpus;          // CPU quota in cores
  bool seccomp = true;             // the default profile (off with --privileged, as Docker)
};

constexpr kj::StringPtr USER_ANNOTATION = "io.containerd-cpp.user"_kj;
// On a spec whose user came from the image or --user: the user as given ("web", "1000:audio"),
// resolved through the rootfs's /etc/passwd and /etc/group when the task is created
// (resolveSpecUser), since only then is the rootfs mounted.

kj::String resolveSpecUser(kj::StringPtr specJson, int rootfsFd);
// The spec with process.user set from USER_ANNOTATION (uid, gid, the groups the user is a
// member of) and the annotation removed; the spec as it was without one. `not found` naming
// the user and the file when it is not there.

kj::String specRootPath(kj::StringPtr specJson);
// root.path as the spec gives it ("rootfs", relative to the bundle, or an absolute --rootfs).

bool specTerminal(kj::StringPtr specJson);
// process.terminal: whether the container's process gets a pty. False without one, or when the
// spec is not JSON.

kj::String generateSpec(const SpecOptions& options);
// config.json, as runc and crun read it. Throws `invalid argument` for an option the spec cannot
// hold (no process arguments at all, a numeric user that is not a number, cpus <= 0).

kj::Vector<kj::String> defaultCapabilities();
// containerd 1.6's default set (CAP_CHOWN ... CAP_AUDIT_WRITE), in its order.

}  // namespace ctrd::oci
