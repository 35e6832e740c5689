#include "resolver.h"

#include <common/errors.h>
#include <kj/vector.h>
#include <oci/image.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

namespace ctrd::ctr {
namespace {

std::string readFile(const std::string& path, kj::StringPtr what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str(what, " ", path.c_str(), ": cannot be read"));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool exists(const std::string& path) {
  return access(path.c_str(), F_OK) == 0;
}

struct HostEntry {
  std::string url;
  const toml::table* settings;
  int64_t line;
};

void fillEndpoint(schema::RegistryEndpoint::Builder out, const std::string& url,
                  const toml::table& t, const std::string& file, bool isServer) {
  bool overridePath = t["override_path"].value_or(false);
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (!overridePath) base += "/v2";
  out.setUrl(base.c_str());
  bool pull = true, resolve = true, push = isServer;
  if (auto caps = t["capabilities"].as_array()) {
    pull = resolve = push = false;
    for (auto& c : *caps) {
      auto s = c.value_or(std::string());
      if (s == "pull")
        pull = true;
      else if (s == "resolve")
        resolve = true;
      else if (s == "push")
        push = true;
      else {
        throwError(ErrorKind::INVALID_ARGUMENT,
                   kj::str(file.c_str(), ": unknown capability \"", s.c_str(), "\""));
      }
    }
  }
  out.setPull(pull);
  out.setResolve(resolve);
  out.setPush(push);
  out.setSkipVerify(t["skip_verify"].value_or(false));
  std::vector<std::string> cas;
  if (auto ca = t["ca"].value<std::string>()) cas.push_back(*ca);
  if (auto list = t["ca"].as_array()) {
    for (auto& c : *list) cas.push_back(c.value_or(std::string()));
  }
  std::string pem;
  auto dir = file.substr(0, file.rfind('/'));
  for (auto& ca : cas) pem += readFile(ca[0] == '/' ? ca : dir + "/" + ca, "ca file");
  out.setCaPem(kj::arrayPtr(reinterpret_cast<const kj::byte*>(pem.data()), pem.size()));
  if (auto headers = t["header"].as_table()) {
    auto list = out.initHeaders(headers->size());
    size_t i = 0;
    for (auto& [key, value] : *headers) {
      list[i].setKey(std::string(key.str()).c_str());
      std::string v;
      if (auto s = value.value<std::string>()) v = *s;
      if (auto a = value.as_array(); a && !a->empty()) v = (*a)[0].value_or(std::string());
      list[i++].setValue(v.c_str());
    }
  }
}

void fillHosts(schema::ResolverConfig::Builder out, const ResolverFlags& flags,
               kj::StringPtr host) {
  std::string dir = flags.hostsDir + "/" + host.cStr();
  std::string file = dir + "/hosts.toml";
  if (!exists(file)) {
    file = flags.hostsDir + "/_default/hosts.toml";
    if (!exists(file)) return;
  }
  toml::table doc;
  try {
    doc = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str(file.c_str(), ":", e.source().begin.line, ":", e.source().begin.column, ": ",
                       e.description().data()));
  }
  // Mirrors in the order the file lists them (the table itself is sorted), then the server.
  std::vector<HostEntry> hosts;
  if (auto table = doc["host"].as_table()) {
    for (auto& [url, value] : *table) {
      auto settings = value.as_table();
      if (settings == nullptr) {
        throwError(ErrorKind::INVALID_ARGUMENT,
                   kj::str(file.c_str(), ": host.\"", std::string(url.str()).c_str(),
                           "\" is not a table"));
      }
      hosts.push_back({std::string(url.str()), settings, int64_t(value.source().begin.line)});
    }
  }
  std::sort(hosts.begin(), hosts.end(),
            [](const HostEntry& a, const HostEntry& b) { return a.line < b.line; });
  std::string scheme = flags.plainHttp ? "http://" : "https://";
  std::string server = doc["server"].value_or(std::string());
  if (server.empty()) {
    server = scheme + oci::registryHost(host).cStr();
  }
  auto list = out.initEndpoints(hosts.size() + 1);
  for (size_t i = 0; i < hosts.size(); i++) {
    auto url = hosts[i].url;
    if (url.find("://") == std::string::npos) url = scheme + url;
    fillEndpoint(list[i], url, *hosts[i].settings, file, false);
  }
  if (server.find("://") == std::string::npos) server = scheme + server;
  fillEndpoint(list[hosts.size()], server, doc, file, true);
}

std::string base64Decode(const std::string& in) {
  std::string out(in.size() * 3 / 4 + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), in.size());
  if (n < 0) return "";
  out.resize(n);
  size_t pad = 0;
  for (size_t i = in.size(); i > 0 && in[i - 1] == '='; i--) pad++;
  out.resize(out.size() - std::min(pad, out.size()));
  return out;
}

bool dockerConfigCredential(kj::StringPtr host, std::string& user, std::string& secret) {
  // ~/.docker/config.json (or $DOCKER_CONFIG/config.json): "auths" by registry host; Docker Hub
  // is filed under its v1 index address. Credential helpers are not run.
  std::string path;
  if (const char* dir = getenv("DOCKER_CONFIG")) {
    path = std::string(dir) + "/config.json";
  } else if (const char* home = getenv("HOME")) {
    path = std::string(home) + "/.docker/config.json";
  }
  if (path.empty() || !exists(path)) return false;
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(readFile(path, "docker config"));
  } catch (const nlohmann::json::exception& e) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str(path.c_str(), ": ", e.what()));
  }
  if (!doc.contains("auths") || !doc["auths"].is_object()) return false;
  std::vector<std::string> keys = {host.cStr(), std::string("https://") + host.cStr(),
                                   std::string("http://") + host.cStr()};
  if (host == "docker.io") keys.push_back("https://index.docker.io/v1/");
  for (auto& key : keys) {
    auto it = doc["auths"].find(key);
    if (it == doc["auths"].end() || !it->is_object()) continue;
    if (it->contains("auth") && (*it)["auth"].is_string()) {
      auto decoded = base64Decode((*it)["auth"].get<std::string>());
      auto colon = decoded.find(':');
      if (colon == std::string::npos) continue;
      user = decoded.substr(0, colon);
      secret = decoded.substr(colon + 1);
      return true;
    }
    if (it->contains("username") && it->contains("password")) {
      user = (*it)["username"].get<std::string>();
      secret = (*it)["password"].get<std::string>();
      return true;
    }
  }
  return false;
}

}  // namespace

void fillResolverConfig(schema::ResolverConfig::Builder out, const ResolverFlags& flags,
                        kj::StringPtr host) {
  out.setPlainHttp(flags.plainHttp);
  out.setSkipVerify(flags.skipVerify);
  if (!flags.hostsDir.empty()) fillHosts(out, flags, host);
  std::string user, secret;
  bool have = false;
  if (!flags.user.empty()) {
    auto colon = flags.user.find(':');
    user = flags.user.substr(0, colon);
    if (colon != std::string::npos) {
      secret = flags.user.substr(colon + 1);
    } else {
      char* typed = getpass("Password: ");
      if (typed == nullptr) throwError(ErrorKind::INVALID_ARGUMENT, "no password given");
      secret = typed;
    }
    have = true;
  } else {
    have = dockerConfigCredential(host, user, secret);
  }
  if (have) {
    auto c = out.initCredentials(1)[0];
    c.setHost(host);
    c.setUsername(user.c_str());
    c.setSecret(secret.c_str());
  }
}

}  // namespace ctrd::ctr
