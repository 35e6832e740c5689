#include "runtime-spec.h"

#include <common/errors.h>
#include <errno.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seccomp-default.h"
#include "user.h"

namespace ctrd::oci {
namespace {

using json = nlohmann::json;

constexpr kj::StringPtr DEFAULT_PATH =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"_kj;
constexpr const char* RUNTIME_SPEC_VERSION = "1.0.2-dev";
constexpr uint64_t CPU_PERIOD = 100000;  // µs, the kernel's default CFS period

// Every capability the kernel knows of, for --privileged (containerd's WithPrivileged).
constexpr const char* ALL_CAPABILITIES[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

json strings(kj::ArrayPtr<const kj::String> list) {
  json out = json::array();
  for (auto& s : list) out.push_back(s.cStr());
  return out;
}

json mount(const char* destination, const char* type, const char* source,
           std::initializer_list<const char*> options) {
  json opts = json::array();
  for (auto* o : options) opts.push_back(o);
  return {{"destination", destination}, {"type", type}, {"source", source}, {"options", opts}};
}

[[noreturn]] void invalid(kj::StringPtr what) {
  throwError(ErrorKind::INVALID_ARGUMENT, what);
}

std::vector<std::string> splitNonEmpty(const std::string& text, char separator) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

void setEnv(json& env, kj::StringPtr entry) {
  // containerd's replaceOrAppendEnvValues: KEY=VALUE replaces KEY's entry.
  std::string e = entry.cStr();
  auto eq = e.find('=');
  std::string key = e.substr(0, eq);
  for (auto& existing : env) {
    std::string s = existing.get<std::string>();
    if (s.substr(0, s.find('=')) == key) {
      existing = e;
      return;
    }
  }
  env.push_back(e);
}

void applyUser(json& spec, kj::StringPtr user) {
  // Resolved when the task is created, through the rootfs's own /etc/passwd and /etc/group
  // (user.h): the annotation says what to resolve. Numbers are written now as well, so that
  // `containers info` shows them; the files may still add the groups.
  auto parts = kj::str(user);
  kj::StringPtr uidPart = parts, gidPart = nullptr;
  KJ_IF_MAYBE(colon, user.findFirst(':')) {
    parts[*colon] = '\0';
    uidPart = kj::StringPtr(parts.begin(), *colon);
    gidPart = kj::StringPtr(parts.begin() + *colon + 1);
    if (gidPart.size() == 0 || gidPart.findFirst(':') != nullptr) {
      invalid(kj::str("user \"", user, "\": expected <name|uid>[:<group|gid>]"));
    }
  }
  if (uidPart.size() == 0)
    invalid(kj::str("user \"", user, "\": expected <name|uid>[:<group|gid>]"));
  auto number = [](kj::StringPtr s) -> kj::Maybe<uint32_t> {
    char* end = nullptr;
    errno = 0;
    unsigned long v = strtoul(s.cStr(), &end, 10);
    if (s.size() == 0 || *end != '\0' || errno != 0 || v > UINT32_MAX) return nullptr;
    return static_cast<uint32_t>(v);
  };
  spec["process"]["user"] = {{"uid", number(uidPart).orDefault(0)},
                             {"gid", gidPart == nullptr ? 0 : number(gidPart).orDefault(0)}};
  spec["annotations"][USER_ANNOTATION.cStr()] = user.cStr();
}

json defaultSpec(const SpecOptions& o) {
  // containerd 1.6, oci/spec.go: populateDefaultUnixSpec.
  json caps = strings(defaultCapabilities());
  return {
      {"ociVersion", RUNTIME_SPEC_VERSION},
      {"root", {{"path", "rootfs"}}},
      {"process",
       {{"cwd", "/"},
        {"noNewPrivileges", true},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", json::array()},
        {"env", {DEFAULT_PATH.cStr()}},
        {"capabilities", {{"bounding", caps}, {"permitted", caps}, {"effective", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}}}},
      {"mounts",
       {mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
        mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
        mount("/dev/pts", "devpts", "devpts",
              {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}),
        mount("/dev/shm", "tmpfs", "shm",
              {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
        mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
        mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
        mount("/sys/fs/cgroup", "cgroup", "cgroup",
              {"nosuid", "noexec", "nodev", "relatime", "ro"}),
        mount("/run", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"})}},
      {"linux",
       {{"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/sys/devices/virtual/powercap", "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
        {"cgroupsPath", kj::str("/", o.ns, "/", o.id).cStr()},
        {"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
        {"namespaces",
         {{{"type", "pid"}},
          {{"type", "ipc"}},
          {{"type", "uts"}},
          {{"type", "mount"}},
          {{"type", "network"}}}}}},
  };
}

void applyImage(json& spec, const ImageRunConfig& image) {
  // containerd's WithImageConfig: the image's env over the default PATH, its user, its working
  // directory, entrypoint followed by cmd.
  auto& process = spec["process"];
  for (auto& e : image.env) setEnv(process["env"], e);
  json args = json::array();
  for (auto& a : image.entrypoint) args.push_back(a.cStr());
  for (auto& a : image.cmd) args.push_back(a.cStr());
  process["args"] = args;
  if (image.workingDir.size() > 0) process["cwd"] = image.workingDir.cStr();
}

void applyPrivileged(json& spec, uint64_t current) {
  // containerd's WithPrivileged + WithAllDevicesAllowed + WithHostDevices' effect on what the
  // container may reach: every capability, nothing masked or read-only, every device.
  json caps = json::array();
  // ALL_CAPABILITIES is in the kernel's numbering: entry n is capability n.
  for (size_t n = 0; n < sizeof(ALL_CAPABILITIES) / sizeof(ALL_CAPABILITIES[0]); n++) {
    if (current & (uint64_t(1) << n)) caps.push_back(ALL_CAPABILITIES[n]);
  }
  spec["process"]["capabilities"] = {{"bounding", caps}, {"permitted", caps}, {"effective", caps}};
  spec["linux"].erase("maskedPaths");
  spec["linux"].erase("readonlyPaths");
  spec["linux"]["resources"]["devices"] = {{{"allow", true}, {"access", "rwm"}}};
  for (auto& m : spec["mounts"]) {
    if (m["destination"] == "/sys" || m["destination"] == "/sys/fs/cgroup") {
      auto& opts = m["options"];
      for (auto& opt : opts) {
        if (opt == "ro") opt = "rw";
      }
    }
  }
}

void applyHostNetwork(json& spec, const SpecOptions& o) {
  // containerd's WithHostNamespace(network) + WithHostHostsFile + WithHostResolvconf.
  auto& namespaces = spec["linux"]["namespaces"];
  json kept = json::array();
  for (auto& ns : namespaces) {
    if (ns["type"] != "network") kept.push_back(ns);
  }
  namespaces = kept;
  spec["mounts"].push_back(mount("/etc/hosts", "bind", "/etc/hosts", {"rbind", "ro"}));
  spec["mounts"].push_back(mount("/etc/resolv.conf", "bind", "/etc/resolv.conf", {"rbind", "ro"}));
  if (o.hostname.size() == 0 && o.hostHostname.size() > 0) {
    spec["hostname"] = o.hostHostname.cStr();
  }
}

void applyJoin(json& spec, const NamespaceJoin& join) {
  for (auto& ns : spec["linux"]["namespaces"]) {
    if (ns["type"] == join.type.cStr()) {
      ns["path"] = join.path.cStr();
      return;
    }
  }
  spec["linux"]["namespaces"].push_back({{"type", join.type.cStr()}, {"path", join.path.cStr()}});
}

}  // namespace

kj::Vector<kj::String> defaultCapabilities() {
  kj::Vector<kj::String> out;
  for (auto* c : {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                  "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                  "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}) {
    out.add(kj::str(c));
  }
  return out;
}

SpecMount parseMountFlag(kj::StringPtr flag) {
  SpecMount m{kj::str("bind"), kj::str(), kj::str(), {}};
  for (auto& field : splitNonEmpty(flag.cStr(), ',')) {
    auto eq = field.find('=');
    if (eq == std::string::npos) {
      invalid(kj::str("mount \"", flag, "\": \"", field.c_str(), "\" is not key=value"));
    }
    std::string key = field.substr(0, eq), value = field.substr(eq + 1);
    if (key == "type") {
      m.type = kj::str(value.c_str());
    } else if (key == "src" || key == "source") {
      m.source = kj::str(value.c_str());
    } else if (key == "dst" || key == "destination" || key == "target") {
      m.destination = kj::str(value.c_str());
    } else if (key == "options") {
      for (auto& opt : splitNonEmpty(value, ':')) m.options.add(kj::str(opt.c_str()));
    } else {
      invalid(kj::str("mount \"", flag, "\": unknown key \"", key.c_str(), "\""));
    }
  }
  if (m.destination.size() == 0) invalid(kj::str("mount \"", flag, "\": no destination"));
  if (!m.destination.startsWith("/")) {
    invalid(kj::str("mount \"", flag, "\": destination \"", m.destination, "\" is not absolute"));
  }
  if (m.type == "bind" && m.source.size() == 0) invalid(kj::str("mount \"", flag, "\": no source"));
  return m;
}

NamespaceJoin parseWithNsFlag(kj::StringPtr flag) {
  KJ_IF_MAYBE(colon, flag.findFirst(':')) {
    auto type = kj::heapString(flag.slice(0, *colon));
    auto path = kj::heapString(flag.slice(*colon + 1));
    bool known = false;
    for (auto* t : {"network", "ipc", "uts", "pid", "mount", "cgroup", "user"}) {
      if (type == t) known = true;
    }
    if (!known) invalid(kj::str("--with-ns \"", flag, "\": unknown namespace type \"", type, "\""));
    if (!path.startsWith("/"))
      invalid(kj::str("--with-ns \"", flag, "\": the path is not absolute"));
    return {kj::mv(type), kj::mv(path)};
  }
  invalid(kj::str("--with-ns \"", flag, "\": expected TYPE:PATH"));
}

kj::String generateSpec(const SpecOptions& o) {
  auto spec = defaultSpec(o);
  auto& process = spec["process"];
  KJ_IF_MAYBE(image, o.image) {
    applyImage(spec, *image);
    if (image->user.size() > 0 && o.user.size() == 0) applyUser(spec, image->user);
  }
  if (o.args.size() > 0) process["args"] = strings(o.args);
  if (process["args"].empty()) {
    invalid(kj::str("container \"", o.id, "\": no command (the image has none; give one)"));
  }
  for (auto& e : o.env) setEnv(process["env"], e);
  if (o.cwd.size() > 0) process["cwd"] = o.cwd.cStr();
  if (o.user.size() > 0) applyUser(spec, o.user);
  if (o.additionalGids.size() > 0) {
    json gids = json::array();
    for (auto g : o.additionalGids) gids.push_back(g);
    process["user"]["additionalGids"] = gids;
  }
  if (o.tty) process["terminal"] = true;
  spec["root"]["path"] = o.rootPath.cStr();
  if (o.readOnly) spec["root"]["readonly"] = true;
  if (o.hostname.size() > 0) spec["hostname"] = o.hostname.cStr();
  if (o.privileged) applyPrivileged(spec, o.currentCapabilities);
  if (o.hostNetwork) applyHostNetwork(spec, o);
  for (auto& join : o.joins) applyJoin(spec, join);
  for (auto& m : o.mounts) {
    json opts = json::array();
    for (auto& opt : m.options) opts.push_back(opt.cStr());
    spec["mounts"].push_back({{"destination", m.destination.cStr()},
                              {"type", m.type.cStr()},
                              {"source", m.source.cStr()},
                              {"options", opts}});
  }
  KJ_IF_MAYBE(limit, o.memoryLimit) {
    if (*limit <= 0) invalid(kj::str("memory limit ", *limit, ": must be positive"));
    spec["linux"]["resources"]["memory"] = {{"limit", *limit}};
  }
  KJ_IF_MAYBE(cpus, o.cpus) {
    if (!(*cpus > 0)) invalid(kj::str("cpus ", *cpus, ": must be positive"));
    spec["linux"]["resources"]["cpu"] = {{"quota", int64_t(*cpus * CPU_PERIOD)},
                                         {"period", CPU_PERIOD}};
  }
  if (o.seccomp && !o.privileged) {
    kj::Vector<kj::String> bounding;
    for (auto& c : process["capabilities"]["bounding"]) {
      bounding.add(kj::str(c.get<std::string>().c_str()));
    }
    spec["linux"]["seccomp"] = defaultSeccompProfile(bounding);
  }
  return kj::str(spec.dump(2).c_str());
}

kj::String specRootPath(kj::StringPtr specJson) {
  auto spec = json::parse(specJson.begin(), specJson.end(), nullptr, false);
  if (!spec.is_object() || !spec.contains("root") || !spec["root"].contains("path") ||
      !spec["root"]["path"].is_string()) {
    invalid("the container's spec has no root.path");
  }
  return kj::str(spec["root"]["path"].get<std::string>().c_str());
}

bool specTerminal(kj::StringPtr specJson) {
  auto spec = json::parse(specJson.begin(), specJson.end(), nullptr, false);
  return spec.is_object() && spec["process"].is_object() &&
         spec["process"].value("terminal", false);
}

kj::String resolveSpecUser(kj::StringPtr specJson, int rootfsFd) {
  auto spec = json::parse(specJson.begin(), specJson.end(), nullptr, false);
  if (!spec.is_object()) invalid("the container's spec is not a JSON object");
  if (!spec.contains("annotations") || !spec["annotations"].contains(USER_ANNOTATION.cStr())) {
    return kj::str(specJson);
  }
  auto& given = spec["annotations"][USER_ANNOTATION.cStr()];
  if (!given.is_string()) invalid(kj::str("annotation ", USER_ANNOTATION, " is not a string"));
  auto resolved = resolveUser(rootfsFd, given.get<std::string>().c_str());
  json gids = json::array();
  for (auto g : resolved.additionalGids) gids.push_back(g);
  spec["process"]["user"]["uid"] = resolved.uid;
  spec["process"]["user"]["gid"] = resolved.gid;
  if (!gids.empty()) spec["process"]["user"]["additionalGids"] = gids;
  spec["annotations"].erase(USER_ANNOTATION.cStr());
  if (spec["annotations"].empty()) spec.erase("annotations");
  return kj::str(spec.dump().c_str());
}

}  // namespace ctrd::oci
