#include "config.h"

#include <errno.h>
#include <kj/debug.h>
#include <kj/vector.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "errors.h"
#include "log.h"

namespace ctrd {
namespace {

constexpr kj::StringPtr DEFAULT_ROOT = "/var/lib/containerd"_kj;
constexpr kj::StringPtr DEFAULT_STATE = "/run/containerd"_kj;

[[noreturn]] void configError(kj::StringPtr source, kj::StringPtr what) {
  throwError(ErrorKind::INVALID_ARGUMENT, kj::str("config ", source, ": ", what));
}

kj::String requireString(const toml::node& node, kj::StringPtr source, kj::StringPtr key) {
  auto s = node.value<std::string>();
  if (!s) configError(source, kj::str("\"", key, "\" must be a string"));
  if (s->find('\0') != std::string::npos) configError(source, kj::str("\"", key, "\" has a NUL"));
  return kj::str(s->c_str());
}

uint32_t requireId(const toml::node& node, kj::StringPtr source, kj::StringPtr key) {
  auto v = node.value<int64_t>();
  if (!v || *v < 0 || *v >= 0xffffffffLL) {
    configError(source, kj::str("\"", key, "\" must be a number from 0 to 4294967294"));
  }
  return static_cast<uint32_t>(*v);
}

void parseService(const toml::table& table, ServiceConfig& out, kj::StringPtr source) {
  auto name = out.profile->configKey;
  for (auto&& [k, v] : table) {
    std::string key(k.str());
    auto full = kj::str("services.", name, ".", key.c_str());
    if (key == "user") {
      out.user = requireString(v, source, full);
    } else if (key == "uid") {
      out.uid = requireId(v, source, full);
    } else if (key == "gid") {
      out.gid = requireId(v, source, full);
    } else if (key == "address") {
      out.address = requireString(v, source, full);
    } else if (key == "path") {
      out.path = requireString(v, source, full);
    } else {
      configError(source, kj::str("unknown key \"", full, "\""));
    }
  }
  if ((out.uid == nullptr) != (out.gid == nullptr)) {
    configError(source, kj::str("services.", name, ": set both uid and gid, or neither"));
  }
  if (out.uid != nullptr) out.user = nullptr;
  if (out.profile->runsAsRoot) {
    if (out.user != nullptr || out.uid != nullptr) {
      configError(source, kj::str("services.", name, " runs as root; it takes no user or uid"));
    }
  } else {
    KJ_IF_MAYBE(uid, out.uid) {
      if (*uid == 0) {
        configError(source, kj::str("services.", name, ".uid must not be 0: ",
                                    out.profile->executable, " never runs as root"));
      }
    }
  }
}

}  // namespace

void makeRootless(Config& config, const RootlessPaths& paths) {
  if (config.root == DEFAULT_ROOT) config.root = kj::str(paths.root);
  if (config.state == DEFAULT_STATE) config.state = kj::str(paths.state);
  kj::Vector<ServiceConfig> kept;
  for (auto& s : config.services) {
    if (s.profile->runsAsRoot && s.address == nullptr) continue;
    s.user = nullptr;
    s.uid = nullptr;
    s.gid = nullptr;
    kept.add(kj::mv(s));
  }
  config.services = kept.releaseAsArray();
}

kj::String Config::socketAddress() const {
  KJ_IF_MAYBE(a, address) {
    return kj::str(*a);
  }
  return kj::str(state, "/containerd.sock");
}

const ServiceConfig& Config::service(ServiceKind kind) const {
  for (auto& s : services) {
    if (s.profile->kind == kind) return s;
  }
  KJ_FAIL_ASSERT("service missing from config", static_cast<int>(kind));
}

Config defaultConfig() {
  auto profiles = allProfiles();
  auto services = kj::heapArrayBuilder<ServiceConfig>(profiles.size());
  for (auto& p : profiles) {
    ServiceConfig s{&p, nullptr, nullptr, nullptr, nullptr, nullptr};
    if (!p.runsAsRoot) s.user = kj::str(p.executable);
    services.add(kj::mv(s));
  }
  return Config{kj::str(DEFAULT_ROOT), kj::str(DEFAULT_STATE), nullptr, kj::str("info"),
                services.finish()};
}

kj::String defaultConfigText() {
  kj::Vector<kj::String> parts;
  parts.add(
      kj::str("version = 2\n"
              "root = \"",
              DEFAULT_ROOT,
              "\"\n"
              "state = \"",
              DEFAULT_STATE,
              "\"\n"
              "\n"
              "[grpc]\n"
              "  address = \"",
              DEFAULT_STATE,
              "/containerd.sock\"\n"
              "\n"
              "[debug]\n"
              "  level = \"info\"\n"
              "\n"
              "# One table per service process. A service that drops root runs as `user`\n"
              "# (made by scripts/setup-users.sh), or as numeric `uid` and `gid` instead.\n"
              "# `address` connects to an already running service (for example a systemd\n"
              "# unit) instead of spawning it; `path` names its executable.\n"));
  for (auto& p : allProfiles()) {
    parts.add(kj::str("[services.", p.configKey, "]\n"));
    if (!p.runsAsRoot) parts.add(kj::str("  user = \"", p.executable, "\"\n"));
  }
  return kj::strArray(parts, "");
}

Config parseConfig(kj::StringPtr text, kj::StringPtr source) {
  toml::table doc;
  try {
    doc = toml::parse(std::string_view(text.begin(), text.size()), std::string_view(source.cStr()));
  } catch (const toml::parse_error& e) {
    configError(source, kj::str(e.description().data(), " at line ", e.source().begin.line,
                                ", column ", e.source().begin.column));
  }
  Config config = defaultConfig();
  for (auto&& [k, v] : doc) {
    std::string key(k.str());
    if (key == "version") {
      auto version = v.value<int64_t>();
      if (!version || (*version != 1 && *version != 2)) {
        configError(source, "\"version\" must be 1 or 2");
      }
    } else if (key == "root") {
      config.root = requireString(v, source, "root");
    } else if (key == "state") {
      config.state = requireString(v, source, "state");
    } else if (key == "grpc") {
      auto* t = v.as_table();
      if (t == nullptr) configError(source, "[grpc] must be a table");
      for (auto&& [gk, gv] : *t) {
        if (gk.str() == "address") {
          config.address = requireString(gv, source, "grpc.address");
        } else {
          logWarn("config ", source, ": ignoring grpc.", std::string(gk.str()).c_str());
        }
      }
    } else if (key == "debug") {
      auto* t = v.as_table();
      if (t == nullptr) configError(source, "[debug] must be a table");
      for (auto&& [dk, dv] : *t) {
        if (dk.str() == "level") {
          config.logLevel = requireString(dv, source, "debug.level");
          if (tryParseLogLevel(config.logLevel) == nullptr) {
            configError(source, kj::str("unknown debug.level \"", config.logLevel, "\""));
          }
        } else {
          logWarn("config ", source, ": ignoring debug.", std::string(dk.str()).c_str());
        }
      }
    } else if (key == "services") {
      auto* t = v.as_table();
      if (t == nullptr) configError(source, "[services] must be a table");
      for (auto&& [sk, sv] : *t) {
        std::string name(sk.str());
        KJ_IF_MAYBE(profile, tryProfileByConfigKey(name.c_str())) {
          auto* st = sv.as_table();
          if (st == nullptr)
            configError(source, kj::str("[services.", name.c_str(), "] must be a table"));
          for (auto& s : config.services) {
            if (s.profile == profile) parseService(*st, s, source);
          }
        } else {
          configError(source, kj::str("unknown service \"", name.c_str(),
                                      "\" in [services]; known: content, snapshot, diff, tasks"));
        }
      }
    } else {
      logWarn("config ", source, ": ignoring \"", key.c_str(), "\"");
    }
  }
  if (config.root.size() == 0 || config.root[0] != '/') {
    configError(source, kj::str("root \"", config.root, "\" must be an absolute path"));
  }
  if (config.state.size() == 0 || config.state[0] != '/') {
    configError(source, kj::str("state \"", config.state, "\" must be an absolute path"));
  }
  return config;
}

Config loadConfigFile(kj::StringPtr path) {
  std::ifstream in(path.cStr());
  if (!in) {
    throwError(errno == ENOENT ? ErrorKind::NOT_FOUND : ErrorKind::INVALID_ARGUMENT,
               kj::str("config file \"", path, "\": ", strerror(errno)));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  auto text = buf.str();
  return parseConfig(kj::StringPtr(text.c_str(), text.size()), path);
}

Identity resolveIdentity(const ServiceConfig& service) {
  KJ_IF_MAYBE(uid, service.uid) {
    return {*uid, KJ_ASSERT_NONNULL(service.gid)};
  }
  auto& user = KJ_REQUIRE_NONNULL(service.user, "service has neither user nor uid",
                                  service.profile->executable);
  errno = 0;
  struct passwd* pw = getpwnam(user.cStr());
  if (pw == nullptr) {
    throwError(ErrorKind::NOT_FOUND,
               kj::str("user \"", user, "\" for ", service.profile->executable,
                       " does not exist (run scripts/setup-users.sh, or set services.",
                       service.profile->configKey, ".uid and .gid in the config)"));
  }
  if (pw->pw_uid == 0) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str("user \"", user, "\" for ", service.profile->executable,
                       " is uid 0; it must never run as root"));
  }
  return {pw->pw_uid, pw->pw_gid};
}

}  // namespace ctrd
