#include "harness.h"

#include <arpa/inet.h>
#include <common/digest.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace ctrd::test {

std::string binPath(const std::string& name) {
  return std::string(CTRD_BIN_DIR) + "/" + name;
}

namespace {

int decodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

void readAll(int fd, std::string& into) {
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) into.append(buf, n);
}

[[noreturn]] void execOrExit(const std::vector<std::string>& argv) {
  // In a forked child: becomes argv, or says why not and exits 127.
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  fprintf(stderr, "exec %s: %s\n", args[0], strerror(errno));
  _exit(127);
}

}  // namespace

Result run(const std::vector<std::string>& argv, const std::string& input) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) abort();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execOrExit(argv);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  std::thread writer([&]() {
    size_t done = 0;
    while (done < input.size()) {
      ssize_t n = write(in[1], input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += n;
    }
    close(in[1]);
  });
  Result r;
  std::thread errReader([&]() { readAll(err[0], r.err); });
  readAll(out[0], r.out);
  errReader.join();
  writer.join();
  close(out[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.status = decodeStatus(status);
  return r;
}

Result runInTerminal(const std::vector<std::string>& argv, const std::string& initialInput,
                     TerminalSize size, const TerminalReaction& react, int timeoutMs) {
  std::string input = initialInput;
  struct winsize ws = {};
  ws.ws_col = size.columns;
  ws.ws_row = size.rows;
  int master = -1;
  pid_t pid = forkpty(&master, nullptr, nullptr, &ws);
  if (pid < 0) abort();
  if (pid == 0) {
    execOrExit(argv);
  }
  fcntl(master, F_SETFD, FD_CLOEXEC);
  Result r;
  size_t written = 0;
  int status = 0;
  bool exited = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  for (;;) {
    struct pollfd p = {master, short(POLLIN | (written < input.size() ? POLLOUT : 0)), 0};
    int ready = poll(&p, 1, 100);
    if (ready > 0 && (p.revents & POLLOUT)) {
      ssize_t n = write(master, input.data() + written, input.size() - written);
      if (n > 0) written += n;
    }
    if (ready > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[4096];
      ssize_t n = read(master, buf, sizeof(buf));
      if (n > 0) {
        r.out.append(buf, n);
        if (react) input += react(master, r.out);
      } else if (exited) {
        break;  // EIO: every end of the pty is closed
      }
    }
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) exited = true;
    if (std::chrono::steady_clock::now() > deadline) {
      if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        exited = true;
      }
      r.err = "timed out";
      break;
    }
  }
  close(master);
  r.status = decodeStatus(status);
  return r;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/ctrd-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) abort();
  path_ = tmpl;
  chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  run({"/bin/rm", "-rf", "--one-file-system", path_});
}

std::string servicesConfig(const ServiceExtras& extras) {
  std::ostringstream c;
  std::pair<const char*, uid_t> services[] = {
      {"content", CONTENT_UID}, {"snapshot", SNAPSHOT_UID}, {"diff", DIFF_UID}, {"tasks", 0}};
  for (auto& [name, uid] : services) {
    auto extra = extras.count(name) ? extras.at(name) : std::string();
    c << "[services." << name << "]\n";
    if (uid != 0 && extra.find("user =") == std::string::npos) {
      c << "uid = " << uid << "\ngid = " << uid << "\n";
    }
    c << extra << "\n";
  }
  return c.str();
}

bool waitFor(const std::function<bool()>& condition, int timeoutMs) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

Daemon::Daemon(const ServiceExtras& extras) {
  root_ = dir_.path() + "/root";
  state_ = dir_.path() + "/state";
  socket_ = state_ + "/containerd.sock";
  config_ = dir_.path() + "/config.toml";
  log_ = dir_.path() + "/containerd.log";
  std::ofstream c(config_);
  c << "version = 2\nroot = \"" << root_ << "\"\nstate = \"" << state_ << "\"\n"
    << "[debug]\nlevel = \"debug\"\n"
    << servicesConfig(extras);
}

std::vector<MountEntry> mounts() {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<MountEntry> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string f[6];
    for (auto& x : f) fields >> x;
    out.push_back({f[4], f[5]});
  }
  return out;
}

std::vector<std::string> mountsBeneath(const std::string& path) {
  std::vector<std::string> out;
  for (auto& m : mounts()) {
    if (m.mountPoint.rfind(path + "/", 0) == 0) out.push_back(m.mountPoint);
  }
  return out;
}

namespace {

void removeTasksOf(const std::string& state) {
  // What a failed test may leave running: containers and their shims outlive the daemon by
  // design. Its runtime (runc, or what the bundle names: crun) deletes each container (its
  // processes, its cgroups); then the shims go and the rootfs mounts are undone, so that no
  // test leaks into the next.
  auto runtimeRoot = state + "/tasks/.runtime";
  if (DIR* roots = opendir(runtimeRoot.c_str())) {
    while (auto* ns = readdir(roots)) {
      if (ns->d_name[0] == '.') continue;
      auto root = runtimeRoot + "/" + ns->d_name;
      if (DIR* ids = opendir(root.c_str())) {
        while (auto* id = readdir(ids)) {
          if (id->d_name[0] == '.') continue;
          auto runtime = readFile(state + "/tasks/" + ns->d_name + "/" + id->d_name + "/runtime");
          if (runtime.empty()) runtime = "/usr/sbin/runc";
          run({runtime, "--root", root, "delete", "--force", id->d_name});
        }
        closedir(ids);
      }
    }
    closedir(roots);
  }
  run({"/usr/bin/pkill", "-KILL", "-f", "containerd-shim .*--bundle " + state + "/"});
  auto targets = mountsBeneath(state);
  for (auto it = targets.rbegin(); it != targets.rend(); ++it) umount2(it->c_str(), MNT_DETACH);
}

}  // namespace

Daemon::~Daemon() {
  if (child_) child_->stop(SIGKILL);
  if (!state_.empty() && access((state_ + "/tasks").c_str(), F_OK) == 0) removeTasksOf(state_);
}

bool Daemon::start() {
  child_ = std::make_unique<Child>(
      std::vector<std::string>{binPath("containerd"), "--config", config_}, log_);
  return waitFor([&]() { return !child_->running() || ctr({"version"}).status == 0; }) &&
         child_->running();
}

int Daemon::stop(int signal) {
  if (!child_) return -1;
  int status = child_->stop(signal);
  child_.reset();
  return status;
}

bool Daemon::running() {
  return child_ && child_->running();
}

Child::Child(const std::vector<std::string>& argv, const std::string& logPath) {
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

Child::~Child() {
  stop(SIGKILL);
}

int Child::stop(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = 0;
  return decodeStatus(status);
}

bool Child::running() {
  if (pid_ <= 0) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = 0;
    return false;
  }
  return true;
}

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

void removeNamespaceCgroups(const std::string& ns) {
  if (DIR* d = opendir("/sys/fs/cgroup")) {
    while (auto* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      rmdir((std::string("/sys/fs/cgroup/") + e->d_name + "/" + ns).c_str());
    }
    closedir(d);
  }
  rmdir(("/sys/fs/cgroup/" + ns).c_str());  // a cgroup v2 host
}

void writeFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) n++;
  return n;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Daemon::log() {
  return readFile(log_);
}

Result Daemon::ctr(const std::vector<std::string>& args, const std::string& input) {
  std::vector<std::string> argv = {binPath("ctr"), "--address", socket_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, input);
}

Result Daemon::ctrInTerminal(const std::vector<std::string>& args, const std::string& input,
                             TerminalSize size, const TerminalReaction& react) {
  std::vector<std::string> argv = {binPath("ctr"), "--address", socket_};
  argv.insert(argv.end(), args.begin(), args.end());
  return runInTerminal(argv, input, size, react);
}

nlohmann::json Daemon::info() {
  auto r = ctr({"info"});
  if (r.status != 0) return nlohmann::json::object();
  return nlohmann::json::parse(r.out, nullptr, false);
}

pid_t Daemon::servicePid(const std::string& name) {
  auto j = info();
  if (!j.contains("processes")) return 0;
  for (auto& p : j["processes"]) {
    if (p["id"] == name && p["status"] == "ok") return p["pid"].get<pid_t>();
  }
  return 0;
}

std::string procStatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      auto v = line.substr(field.size());
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

}  // namespace ctrd::test

namespace ctrd::test {

namespace {

std::string hexOf(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string xattrsOf(const std::string& path) {
  char names[65536];
  ssize_t n = llistxattr(path.c_str(), names, sizeof(names));
  if (n <= 0) return "";
  std::vector<std::string> sorted;
  for (ssize_t at = 0; at < n; at += strlen(names + at) + 1) sorted.push_back(names + at);
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  for (auto& name : sorted) {
    if (name.rfind("trusted.overlay.", 0) == 0) continue;
    char value[65536];
    ssize_t v = lgetxattr(path.c_str(), name.c_str(), value, sizeof(value));
    out += (out.empty() ? "" : " ") + name + "=" + (v < 0 ? "?" : hexOf(std::string(value, v)));
  }
  return out;
}

std::string contentDigest(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return "unreadable";
  Sha256 h;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    h.update(kj::arrayPtr(reinterpret_cast<const kj::byte*>(buf), n));
  }
  close(fd);
  return h.digest().cStr();
}

}  // namespace

std::string listTree(const std::string& root, const std::string& skip) {
  std::string out;
  std::map<std::pair<dev_t, ino_t>, std::string> firstName;
  std::function<void(const std::string&)> walk = [&](const std::string& rel) {
    DIR* d = opendir((root + rel).c_str());
    if (d == nullptr) return;
    std::set<std::string> names;
    while (auto* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.insert(n);
    }
    closedir(d);
    for (auto& n : names) {
      auto relPath = rel + "/" + n;
      auto path = root + relPath;
      if (path == skip) continue;
      struct stat st;
      if (lstat(path.c_str(), &st) < 0) continue;
      char type = S_ISREG(st.st_mode)    ? 'f'
                  : S_ISDIR(st.st_mode)  ? 'd'
                  : S_ISLNK(st.st_mode)  ? 'l'
                  : S_ISCHR(st.st_mode)  ? 'c'
                  : S_ISBLK(st.st_mode)  ? 'b'
                  : S_ISFIFO(st.st_mode) ? 'p'
                                         : 's';
      char mode[8];
      snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
      // Whole seconds: what a tar header keeps.
      std::string mtime = std::to_string(st.st_mtim.tv_sec);
      std::string detail = "-";
      if (type == 'f') {
        detail = std::to_string(st.st_size) + " " + contentDigest(path) + " " + mtime;
        auto key = std::make_pair(st.st_dev, st.st_ino);
        auto found = firstName.find(key);
        if (found != firstName.end()) {
          detail += " hl=" + found->second;
        } else if (st.st_nlink > 1) {
          firstName[key] = relPath.substr(1);
        }
      } else if (type == 'l') {
        char target[PATH_MAX];
        ssize_t len = readlink(path.c_str(), target, sizeof(target));
        detail = "-> " + std::string(target, len < 0 ? 0 : len) + " " + mtime;
      } else if (type == 'c' || type == 'b') {
        detail = std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
      }
      out += relPath.substr(1) + "\t" + type + "\t" + mode + "\t" + std::to_string(st.st_uid) +
             ":" + std::to_string(st.st_gid) + "\t" + detail + "\t" + xattrsOf(path) + "\n";
      if (type == 'd') walk(relPath);
    }
  };
  walk("");
  return out;
}

}  // namespace ctrd::test
