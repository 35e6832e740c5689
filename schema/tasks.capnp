@0x98eae07ad2856239;
# Running containers, bound to one namespace: a task is a container's init process (and the
# processes executed in it), each container's run by a containerd-shim of its own.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

using Types = import "types.capnp";

enum TaskStatus {
  unknown @0;
  created @1;
  running @2;
  stopped @3;
  paused @4;
  pausing @5;
}

struct Process {
  containerId @0 :Text;
  execId @1 :Text;          # empty for the init process
  pid @2 :UInt32;
  status @3 :TaskStatus;
  terminal @4 :Bool;
  exitStatus @5 :UInt32;
  exitedAt @6 :Int64;       # nanoseconds since the epoch; 0 while it runs
}

struct Exit {
  status @0 :UInt32;        # the exit code, or 128 + the signal that killed it
  exitedAt @1 :Int64;
}

interface Stream {
  # A caller's stdin, stdout or stderr: the fd it carries, passed along the RPC chain (ctr ->
  # containerd -> containerd-tasks -> the shim) and handed to the container as it is, so no
  # byte of a container's output is copied by any of them. A terminal's, or an attached
  # caller's, the shim copies to from the pty master or the pipes it holds.
  closed @0 ();
  # Never returns while the caller lives: it fails when the caller (or a process between) is
  # gone, which tells the shim to stop using the fds it was given.
}

struct Stdio {
  # Where a process's standard streams go. With `terminal`, a pty whose master the shim holds:
  # the streams given are the attached caller's. Without, given streams are the process's own
  # fds, an unset one /dev/null; with none given at all, the process is detached: its stdio
  # are pipes the shim holds, to attach to later, and its output goes nowhere until then.
  stdin @0 :Stream;
  stdout @1 :Stream;
  stderr @2 :Stream;
  terminal @3 :Bool;
}

struct ProcessSpec {
  # An exec'd process: the OCI runtime spec's `process` object, JSON.
  json @0 :Data;
}

interface Tasks {
  create @0 (containerId :Text, stdio :Stdio, checkpoint :Types.Descriptor,
             rootfs :List(Types.Mount), start :Bool) -> (pid :UInt32);
  # Starts the container's shim and `runc create`. The root filesystem is the container's
  # snapshot's mounts (or `rootfs` when given). `checkpoint` (empty digest for none) restores.
  # With `start`, the task is started too, by one runtime command (`runc run --detach`) in place
  # of two: for a caller with nothing to do between (no network to set up in the task's
  # namespaces). Its exit is kept: a wait after it still sees it.
  start @1 (containerId :Text, execId :Text) -> (pid :UInt32);
  delete @2 (containerId :Text, execId :Text) -> (exit :Exit, pid :UInt32);
  # A stopped task (or exec) only; the shim exits with its task.
  get @3 (containerId :Text, execId :Text) -> (process :Process);
  list @4 (filters :List(Text)) -> (tasks :List(Process));
  kill @5 (containerId :Text, execId :Text, signal :UInt32, all :Bool);
  exec @6 (containerId :Text, execId :Text, stdio :Stdio, spec :ProcessSpec);
  resizePty @7 (containerId :Text, execId :Text, width :UInt32, height :UInt32);
  closeIo @8 (containerId :Text, execId :Text);
  # Closes the process's stdin.
  pause @9 (containerId :Text);
  resume @10 (containerId :Text);
  pids @11 (containerId :Text) -> (pids :List(UInt32));
  update @12 (containerId :Text, resources :Data);
  # The OCI spec's linux.resources object, JSON.
  wait @13 (containerId :Text, execId :Text) -> (exit :Exit);
  # Returns when the process exits (at once if it has). Call it before start, or a process that
  # exits at once is missed.
  checkpoint @14 (containerId :Text, exit :Bool) -> (descriptors :List(Types.Descriptor));
  # CRIU's image of the task, stored in the namespace's content store.
  metrics @15 (containerId :Text) -> (json :Data);
  # The cgroup's statistics as `runc events --stats` reports them.
  attach @16 (containerId :Text, execId :Text, stdio :Stdio);
  # The caller's streams become the process's (a terminal's, or a detached one's): refused
  # while another caller is attached, and for a process whose fds are its caller's own or a
  # log file's. Ends when the caller goes.
}
