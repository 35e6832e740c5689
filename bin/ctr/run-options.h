// The flags `ctr run` and `ctr containers create` share, as containerd 1.6's ctr spells them,
// and what they make: a container (its spec, its snapshot from the image's chain ID, its
// record), with nothing left behind when a step fails.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "commands.h"

namespace ctrd::ctr {

struct RunFlags {
  std::string image;  // or the rootfs directory with --rootfs
  std::string id;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string envFile;
  std::string cwd;
  bool tty = false;
  bool netHost = false;
  std::vector<std::string> mounts;
  uint64_t memoryLimit = 0;
  double cpus = 0;
  std::string user;
  bool privileged = false;
  bool readOnly = false;
  bool rootfs = false;
  std::vector<std::string> withNs;
  std::vector<std::string> labels;
  std::string runtime = "io.containerd.runc.v2";
  std::string runcBinary;
  std::string hostname;
  std::string snapshotter;
  std::string logUri;  // ctr run: file:///PATH for the task's stdout and stderr
};

void addRunFlags(CLI::App& app, RunFlags& flags);
// The flags, then IMAGE ID [COMMAND [ARG...]]: everything after ID is the command, flags
// included, as ctr reads it.

void readPositionals(CLI::App& app, RunFlags& flags);
// IMAGE, ID and the command, from what the flags left; `invalid argument` when one is missing.

void createContainer(DaemonClient& client, const Globals& globals, const RunFlags& flags);
// Prepares the snapshot `ID` on the image's chain ID, writes the spec, records the container.
// A missing image, an image not unpacked for the snapshotter, a bad flag: one clear error, and
// no snapshot or record left.

schema::Tasks::Client openTasks(DaemonClient& client, const Globals& globals);

kj::Maybe<uint32_t> runTask(DaemonClient& client, const Globals& globals, const std::string& id,
                            bool attached, const std::string& logUri, bool tty);
// Creates and starts the container's task. Without a terminal one runtime command does both
// (nothing happens in between), and signals sent to ctr go to the task from before it runs; a
// terminal is sized between the two. Attached, it waits for the task (ctr's terminal raw for a
// tty, restored after) and returns its exit status; detached, nothing. On failure the task may
// be left created: the caller removes what it must.

bool containerTerminal(DaemonClient& client, const Globals& globals, const std::string& id);
// Whether the container's spec gives its process a terminal (process.terminal).

kj::AutoCloseFd openLog(const std::string& uri);
// ctr's --log-uri: file:///PATH or an absolute path, opened for appending. Other schemes are
// `not implemented`, naming the URI.

void createTask(DaemonClient& client, const Globals& globals, const std::string& id, bool attached,
                const std::string& logUri = "", bool tty = false, bool start = false);
// The container's task (its shim, `runc create`): with our own stdio when attached (a pty
// copied to ours with `tty`), the log file's for stdout and stderr with a log URI, detached
// otherwise. With `start`, started at once, by the same runtime command.

}  // namespace ctrd::ctr
