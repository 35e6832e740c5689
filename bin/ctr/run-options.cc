#include "run-options.h"

#include <common/errors.h>
#include <common/labels.h>
#include <common/snapshot-info.h>
#include <oci/image.h>
#include <oci/runtime-spec.h>
#include <unistd.h>

#include <fstream>

namespace ctrd::ctr {
namespace {

struct Runtime {
  std::string name;
  std::string binary;
};

Runtime runtimeOf(const RunFlags& flags) {
  // ctr's --runtime names the shim's runtime; this shim drives runc, or crun in its place.
  std::string binary = flags.runcBinary;
  if (flags.runtime == "io.containerd.runc.v2" || flags.runtime == "io.containerd.runc.v1" ||
      flags.runtime == "runc") {
    return {"io.containerd.runc.v2", binary.empty() ? "runc" : binary};
  }
  if (flags.runtime == "crun" || flags.runtime == "io.containerd.crun.v2") {
    return {"io.containerd.runc.v2", binary.empty() ? "crun" : binary};
  }
  throwError(ErrorKind::INVALID_ARGUMENT, kj::str("unknown runtime \"", flags.runtime.c_str(),
                                                  "\" (io.containerd.runc.v2, runc or crun)"));
}

kj::Vector<kj::String> readEnvFile(const std::string& path) {
  // ctr's --env-file: KEY=VALUE lines; blank lines and # comments skipped.
  std::ifstream in(path);
  if (!in) throwError(ErrorKind::NOT_FOUND, kj::str("env file \"", path.c_str(), "\""));
  kj::Vector<kj::String> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    out.add(kj::str(line.c_str()));
  }
  return out;
}

uint64_t effectiveCapabilities() {
  // CapEff from /proc/self/status: what --privileged may give.
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return ~uint64_t(0);
}

kj::Vector<kj::String> strings(capnp::List<capnp::Text>::Reader list) {
  kj::Vector<kj::String> out;
  for (auto s : list) out.add(kj::str(s));
  return out;
}

}  // namespace

void addRunFlags(CLI::App& app, RunFlags& f) {
  app.add_option("--env", f.env, "specify additional container environment variables (KEY=VALUE)")
      ->allow_extra_args(false);
  app.add_option("--env-file", f.envFile,
                 "specify additional container environment variables in a file");
  app.add_option("--cwd", f.cwd, "specify the working directory of the process");
  app.add_flag("--tty,-t", f.tty, "allocate a TTY for the container");
  app.add_flag("--net-host", f.netHost, "enable host networking for the container");
  app.add_option(
         "--mount", f.mounts,
         "specify additional container mount (ex: type=bind,src=/tmp,dst=/host,options=rbind:ro)")
      ->allow_extra_args(false);
  app.add_option("--memory-limit", f.memoryLimit, "memory limit (in bytes) for the container");
  app.add_option("--cpus", f.cpus, "set the CFS cpu quota");
  app.add_option("--user,-u", f.user,
                 "username or user id, group optional (format: <name|uid>[:<group|gid>])");
  app.add_flag("--privileged", f.privileged, "run privileged container");
  app.add_flag("--read-only", f.readOnly, "set the containers filesystem as readonly");
  app.add_flag("--rootfs", f.rootfs,
               "use custom rootfs that is not managed by containerd snapshotter");
  app.add_option("--with-ns", f.withNs,
                 "specify existing Linux namespaces to join at container runtime (format "
                 "'<nstype>:<path>')")
      ->allow_extra_args(false);
  app.add_option("--label", f.labels, "specify additional labels")->allow_extra_args(false);
  app.add_option("--runtime", f.runtime, "runtime name (io.containerd.runc.v2; runc or crun)");
  app.add_option("--runc-binary", f.runcBinary, "specify runc-compatible binary");
  app.add_option("--hostname", f.hostname, "set the container's host name");
  app.add_option("--snapshotter", f.snapshotter, "snapshotter name (overlayfs, native)")
      ->envname("CONTAINERD_SNAPSHOTTER");
  // IMAGE ID [COMMAND [ARG...]]: flag parsing stops at IMAGE, so that the command's own flags
  // stay its own (readPositionals takes them from what is left).
  app.prefix_command();
  app.footer("Arguments: IMAGE ID [COMMAND] [ARG...]");
}

void readPositionals(CLI::App& app, RunFlags& f) {
  auto rest = app.remaining();
  if (!rest.empty() && rest[0] == "--") rest.erase(rest.begin());
  if (rest.size() < 2) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               rest.empty() ? "image ref must be provided" : "container id must be provided");
  }
  f.image = rest[0];
  f.id = rest[1];
  f.args.assign(rest.begin() + 2, rest.end());
}

void createContainer(DaemonClient& client, const Globals& globals, const RunFlags& f) {
  auto ns = client.ns(globals.ns.c_str());
  auto runtime = runtimeOf(f);
  auto snapshotter = kj::str(snapshotterOrDefault(f.snapshotter.c_str()));

  oci::SpecOptions options;
  options.ns = kj::str(globals.ns.c_str());
  options.id = kj::str(f.id.c_str());
  for (auto& a : f.args) options.args.add(kj::str(a.c_str()));
  if (!f.envFile.empty()) options.env = readEnvFile(f.envFile);
  for (auto& e : f.env) options.env.add(kj::str(e.c_str()));
  options.cwd = kj::str(f.cwd.c_str());
  options.user = kj::str(f.user.c_str());
  options.tty = f.tty;
  options.hostNetwork = f.netHost;
  if (f.netHost) {
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    options.hostHostname = kj::str(host);
  }
  options.privileged = f.privileged;
  options.currentCapabilities = effectiveCapabilities();
  options.readOnly = f.readOnly;
  options.hostname = kj::str(f.hostname.c_str());
  for (auto& m : f.mounts) options.mounts.add(oci::parseMountFlag(m.c_str()));
  for (auto& j : f.withNs) options.joins.add(oci::parseWithNsFlag(j.c_str()));
  if (f.memoryLimit > 0) options.memoryLimit = int64_t(f.memoryLimit);
  if (f.cpus != 0) options.cpus = f.cpus;

  Labels labels;
  for (auto& l : f.labels) {
    auto eq = l.find('=');
    setLabel(labels, kj::str(l.substr(0, eq).c_str()),
             kj::str(eq == std::string::npos ? "" : l.substr(eq + 1).c_str()));
  }

  auto containers = ns.containersRequest().send().getContainers();
  {
    // Before anything is made: a taken id is the container's error, not its snapshot's.
    auto get = containers.getRequest();
    get.setId(f.id.c_str());
    bool taken =
        kj::runCatchingExceptions([&]() { get.send().wait(client.waitScope()); }) == nullptr;
    if (taken) throwError(ErrorKind::ALREADY_EXISTS, kj::str("container \"", f.id.c_str(), "\""));
  }

  kj::String chainId;
  if (f.rootfs) {
    options.rootPath = kj::str(f.image.c_str());
  } else {
    auto images = ns.imagesRequest().send().getImages();
    auto req = images.usageRequest();
    req.setName(f.image.c_str());
    req.setSnapshotter(snapshotter);
    auto response = req.send().wait(client.waitScope());
    auto usage = response.getUsage();
    if (!usage.getUnpacked()) {
      throwError(ErrorKind::FAILED_PRECONDITION,
                 kj::str("image \"", f.image.c_str(), "\" is not unpacked for snapshotter \"",
                         snapshotter, "\" (ctr images pull --snapshotter ", snapshotter, ")"));
    }
    chainId = kj::str(usage.getChainId());
    auto c = usage.getConfig();
    oci::ImageRunConfig run{strings(c.getEnv()),  strings(c.getEntrypoint()),
                            strings(c.getCmd()),  kj::str(c.getWorkingDir()),
                            kj::str(c.getUser()), kj::str(c.getStopSignal())};
    if (run.stopSignal.size() > 0) {
      setLabel(labels, kj::str(oci::labels::IMAGE_STOP_SIGNAL), kj::str(run.stopSignal));
    }
    options.image = kj::mv(run);
  }
  auto spec = oci::generateSpec(options);

  schema::Snapshots::Client snapshots = nullptr;
  if (!f.rootfs) {
    // containerd's WithNewSnapshot: the container's own active snapshot on the image's layers.
    auto sreq = ns.snapshotsRequest();
    sreq.setSnapshotter(snapshotter);
    snapshots = sreq.send().getSnapshots();
    auto prepare = snapshots.prepareRequest();
    prepare.setKey(f.id.c_str());
    prepare.setParent(chainId);
    prepare.send().wait(client.waitScope());
  }
  KJ_ON_SCOPE_FAILURE({
    if (!f.rootfs) {
      auto remove = snapshots.removeRequest();
      remove.setKey(f.id.c_str());
      kj::runCatchingExceptions([&]() { remove.send().wait(client.waitScope()); });
    }
  });
  auto req = containers.createRequest();
  auto c = req.initContainer();
  c.setId(f.id.c_str());
  if (!f.rootfs) c.setImage(f.image.c_str());
  auto rt = c.initRuntime();
  rt.setName(runtime.name.c_str());
  rt.setBinary(runtime.binary.c_str());
  c.setSpec(spec.asBytes());
  c.setSnapshotter(snapshotter);
  if (!f.rootfs) c.setSnapshotKey(f.id.c_str());
  fillLabels(c.initLabels(labels.size()), labels);
  req.send().wait(client.waitScope());
}

}  // namespace ctrd::ctr
