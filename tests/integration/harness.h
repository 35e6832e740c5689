// Starting the real executables from tests: a temporary root and state, the daemon as a child,
// `ctr` runs with captured output.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ctrd::test {

std::string binPath(const std::string& name);
// build/bin/<name>

struct Result {
  int status = -1;  // exit code, or 128 + signal
  std::string out;
  std::string err;
};

Result run(const std::vector<std::string>& argv, const std::string& input = "");
// Runs argv to completion and captures stdout and stderr.

struct TerminalSize {
  unsigned short columns = 80, rows = 24;
};

using TerminalReaction = std::function<std::string(int master, const std::string& shown)>;
// Called with the pty's master and all it has shown, each time it shows more: returns more to
// type (or ""); may resize the terminal.

Result runInTerminal(const std::vector<std::string>& argv, const std::string& input,
                     TerminalSize size = {}, const TerminalReaction& react = nullptr,
                     int timeoutMs = 30000);
// Runs argv on a new pty of `size` (its stdin, stdout and stderr, its controlling terminal),
// types `input` into it, and returns everything the terminal showed as `out` (echo included)
// once the process has exited and the pty is closed by all; killed after `timeoutMs`.

class Child {
  // A process in the background, its output appended to a log file; killed when dropped.
public:
  Child(const std::vector<std::string>& argv, const std::string& logPath);
  ~Child();
  int stop(int signal = 15);
  // Signals it and reaps it; returns its exit code (128 + signal if killed).
  bool running();
  pid_t pid() const { return pid_; }

private:
  pid_t pid_ = 0;
};

int freePort();
// A TCP port on 127.0.0.1 nobody listens on right now.

std::string readFile(const std::string& path);
size_t count(const std::string& text, const std::string& needle);
// How many times `needle` occurs in `text` (overlapping ones too).
void writeFile(const std::string& path, const std::string& content);
void removeNamespaceCgroups(const std::string& ns);
// The empty /<ns> cgroups runc leaves above its containers' (in every hierarchy). Only for a
// namespace no other test runs containers in: a concurrent runc may be making one beneath.

class TempDir {
public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

// The uids the tests give the unprivileged services: no /etc/passwd entry needed.
constexpr uid_t CONTENT_UID = 64101;
constexpr uid_t SNAPSHOT_UID = 64102;
constexpr uid_t DIFF_UID = 64103;

using ServiceExtras = std::map<std::string, std::string>;
// Extra lines for a [services.NAME] table, by NAME.

std::string servicesConfig(const ServiceExtras& extras = {});
// [services.*] tables giving content, snapshot and diff the uids above (unless `extras` names a
// user for one), plus the extra lines.

class Daemon {
  // `containerd` with its own root, state and socket in a temporary directory.
public:
  explicit Daemon(const ServiceExtras& extras = {});
  ~Daemon();

  bool start();
  // Starts it and waits until `ctr version` answers; false if it exited or timed out.
  int stop(int signal = 15);
  // Signals it and reaps it; returns its exit code (128 + signal if killed).
  bool running();

  const std::string& socket() const { return socket_; }
  const std::string& root() const { return root_; }
  const std::string& state() const { return state_; }
  const std::string& configPath() const { return config_; }
  pid_t pid() const { return child_ ? child_->pid() : 0; }
  std::string log();

  Result ctr(const std::vector<std::string>& args, const std::string& input = "");
  Result ctrInTerminal(const std::vector<std::string>& args, const std::string& input,
                       TerminalSize size = {}, const TerminalReaction& react = nullptr);
  nlohmann::json info();
  // `ctr info` parsed.
  pid_t servicePid(const std::string& name);
  // From `ctr info`; 0 while the service is not running.

private:
  TempDir dir_;
  std::string root_, state_, socket_, config_, log_;
  std::unique_ptr<Child> child_;
};

std::string procStatusField(pid_t pid, const std::string& field);
// "Uid:", "CapEff:" ... from /proc/PID/status, whitespace-trimmed.

struct MountEntry {
  std::string mountPoint;
  std::string options;  // the per-mount options
};
std::vector<MountEntry> mounts();
// /proc/self/mountinfo, in mount order.
std::vector<std::string> mountsBeneath(const std::string& path);
// The mount points strictly beneath `path`, in mount order.

bool waitFor(const std::function<bool()>& condition, int timeoutMs = 10000);

std::string listTree(const std::string& root, const std::string& skip = "");
// Every entry beneath `root` (not root itself; not `skip`, an absolute path, nor what is under
// it), sorted, one line each, tab separated: path, type (f d l c b p s), mode, uid:gid, detail
// (files: size, sha256 and mtime in whole seconds, and "hl=<first path>" for further names of a
// hardlinked file; symlinks: "-> target" and mtime; devices: major:minor; directories: "-", as
// their times and sizes depend on the unpacker) and the xattrs, name=hex, but overlay's own
// trusted.overlay.*. Two trees that list the same are the same to a container.

}  // namespace ctrd::test
