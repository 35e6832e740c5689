#include "run-options.h"

#include <client/containerd.h>
#include <common/errors.h>
#include <common/labels.h>
#include <common/snapshot-info.h>
#include <errno.h>
#include <fcntl.h>
#include <oci/image.h>
#include <oci/runtime-spec.h>
#include <string.h>
#include <unistd.h>

#include <fstream>

#include "console.h"

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
  app.add_option("--log-uri", f.logUri, "log uri (file:///PATH) for the task's stdout and stderr");
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

void createContainer(DaemonClient& daemon, const Globals& globals, const RunFlags& f) {
  auto runtime = runtimeOf(f);
  ContainerOptions options;
  options.snapshotter = kj::str(f.snapshotter.c_str());
  options.runtimeName = kj::str(runtime.name.c_str());
  options.runtimeBinary = kj::str(runtime.binary.c_str());
  auto& spec = options.spec;
  for (auto& a : f.args) spec.args.add(kj::str(a.c_str()));
  if (!f.envFile.empty()) spec.env = readEnvFile(f.envFile);
  for (auto& e : f.env) spec.env.add(kj::str(e.c_str()));
  spec.cwd = kj::str(f.cwd.c_str());
  spec.user = kj::str(f.user.c_str());
  spec.tty = f.tty;
  spec.hostNetwork = f.netHost;
  if (f.netHost) {
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    spec.hostHostname = kj::str(host);
  }
  spec.privileged = f.privileged;
  spec.currentCapabilities = effectiveCapabilities();
  spec.readOnly = f.readOnly;
  spec.hostname = kj::str(f.hostname.c_str());
  for (auto& m : f.mounts) spec.mounts.add(oci::parseMountFlag(m.c_str()));
  for (auto& j : f.withNs) spec.joins.add(oci::parseWithNsFlag(j.c_str()));
  if (f.memoryLimit > 0) spec.memoryLimit = int64_t(f.memoryLimit);
  if (f.cpus != 0) spec.cpus = f.cpus;
  for (auto& l : f.labels) {
    auto eq = l.find('=');
    setLabel(options.labels, kj::str(l.substr(0, eq).c_str()),
             kj::str(eq == std::string::npos ? "" : l.substr(eq + 1).c_str()));
  }

  Client client(daemon, globals.ns.c_str());
  if (f.rootfs) {
    spec.rootPath = kj::str(f.image.c_str());
    client.newContainer(f.id.c_str(), nullptr, kj::mv(options));
  } else {
    // The image first: a missing or not unpacked image is reported before anything is made.
    auto image = client.getImage(f.image.c_str(), options.snapshotter);
    client.newContainer(f.id.c_str(), image, kj::mv(options));
  }
}

schema::Tasks::Client openTasks(DaemonClient& client, const Globals& globals) {
  return client.ns(globals.ns.c_str()).tasksRequest().send().getTasks();
}

kj::Maybe<uint32_t> runTask(DaemonClient& client, const Globals& globals, const std::string& id,
                            bool attached, const std::string& logUri, bool tty) {
  auto tasks = openTasks(client, globals);
  kj::Maybe<kj::Own<SignalForwarder>> forwarder;
  kj::Maybe<kj::Own<RawTerminal>> raw;
  if (attached && !tty) forwarder = kj::heap<SignalForwarder>(client, tasks, id, "", false);
  createTask(client, globals, id, attached, logUri, tty, !tty);
  // The shim keeps the exit: a process that exited at once is not missed by this wait.
  auto wait = tasks.waitRequest();
  wait.setContainerId(id.c_str());
  auto exited = wait.send();
  if (tty) {
    if (attached) {
      forwarder = kj::heap<SignalForwarder>(client, tasks, id, "", true);
      raw = kj::heap<RawTerminal>();
      resizeToTerminal(client, tasks, id, "");
    }
    auto start = tasks.startRequest();
    start.setContainerId(id.c_str());
    start.send().wait(client.waitScope());
  }
  if (!attached) return nullptr;
  return exited.wait(client.waitScope()).getExit().getStatus();
}

bool containerTerminal(DaemonClient& client, const Globals& globals, const std::string& id) {
  auto get = client.ns(globals.ns.c_str()).containersRequest().send().getContainers().getRequest();
  get.setId(id.c_str());
  auto response = get.send().wait(client.waitScope());
  auto spec = response.getContainer().getSpec();
  return oci::specTerminal(
      kj::heapString(reinterpret_cast<const char*>(spec.begin()), spec.size()));
}

kj::AutoCloseFd openLog(const std::string& uri) {
  // ctr's --log-uri: file:///PATH, or a bare absolute path. The container writes to it itself.
  std::string path = uri.rfind("file://", 0) == 0 ? uri.substr(7) : uri;
  if (uri.find("://") != std::string::npos && uri.rfind("file://", 0) != 0) {
    throwError(ErrorKind::NOT_IMPLEMENTED,
               kj::str("log URI \"", uri.c_str(), "\": only file:// is supported"));
  }
  if (path.empty() || path[0] != '/') {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str("log URI \"", uri.c_str(), "\": not an absolute path"));
  }
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str("log URI \"", uri.c_str(), "\": ", strerror(errno)));
  }
  return kj::AutoCloseFd(fd);
}

void createTask(DaemonClient& client, const Globals& globals, const std::string& id, bool attached,
                const std::string& logUri, bool tty, bool start) {
  Client api(client, globals.ns.c_str());
  auto container = api.loadContainer(id.c_str());  // refers to `api`, which outlives it
  if (!logUri.empty()) {
    auto log = openLog(logUri);
    container.newTask(Stdio{-1, log.get(), log.get()}, start);
    return;
  }
  if (tty) {
    container.newTask(attached ? Stdio::tty() : Stdio{-1, -1, -1, true}, start);
    return;
  }
  container.newTask(attached ? Stdio::inherit() : Stdio::none(), start);
}

}  // namespace ctrd::ctr
