@0xd1a6e3c5f0b24e87;
# What one containerd-shim serves: one container's processes, driven through `runc`. Served on
# a socket in the task's bundle (a 0700 directory under <state>): never an abstract socket,
# which any process sharing the host's network namespace could reach (containerd's
# CVE-2020-15257).

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

using Types = import "types.capnp";
using Tasks = import "tasks.capnp";
using Containers = import "containers.capnp";
using Service = import "service.capnp";

struct ShimEvent {
  topic @0 :Text;           # "/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/oom", ...
  containerId @1 :Text;
  execId @2 :Text;
  pid @3 :UInt32;
  exit @4 :Tasks.Exit;      # for "/tasks/exit"
}

interface ShimEvents {
  # The tasks service's: the shim reports in order create, start, exit, delete (and exec-added,
  # exec-started, exit for each exec), and keeps what it could not deliver until it can.
  event @0 (event :ShimEvent);
}

interface Shim {
  create @0 (stdio :Tasks.Stdio, checkpoint :Text, start :Bool) -> (pid :UInt32);
  # `runc create` of the bundle (`runc run --detach` with `start`); `checkpoint` (a directory,
  # empty for none) restores.
  start @1 (execId :Text) -> (pid :UInt32);
  state @2 (execId :Text) -> (process :Tasks.Process);
  kill @3 (execId :Text, signal :UInt32, all :Bool);
  exec @4 (execId :Text, stdio :Tasks.Stdio, spec :Tasks.ProcessSpec);
  delete @5 (execId :Text) -> (exit :Tasks.Exit, pid :UInt32);
  wait @6 (execId :Text) -> (exit :Tasks.Exit);
  pause @7 ();
  resume @8 ();
  pids @9 () -> (pids :List(UInt32));
  update @10 (resources :Data);
  resizePty @11 (execId :Text, width :UInt32, height :UInt32);
  closeIo @12 (execId :Text);
  stats @13 () -> (json :Data);
  checkpoint @14 (directory :Text, exit :Bool);
  subscribe @15 (events :ShimEvents);
  # Replaces the previous subscriber (the tasks service after a restart).
  shutdown @16 ();
  # Exits once the task is deleted; refused while it runs.
  attach @17 (execId :Text, stdio :Tasks.Stdio);
}

interface TaskRuntime extends(Service.Service) {
  # What containerd-tasks (root) serves to the supervisor: it makes each task's bundle, starts
  # one containerd-shim per task and reconnects to the running ones after a restart.
  start @0 (namespace :Text, container :Containers.Container,
            rootfs :List(Types.Mount), terminal :Bool) -> (shim :Shim);
  # Writes the bundle (config.json, the rootfs mounted from `rootfs`) under
  # <state>/tasks/<namespace>/<id>/ and starts its shim, detached.
  # `terminal`: whether the task's stdio is a pty; it must agree with the spec's
  # process.terminal, or nothing is made (`invalid argument`, saying which side asks for one).
  connect @1 (namespace :Text, containerId :Text) -> (shim :Shim);
  # The running shim of a task, from the socket in its bundle; `not found` when it has none.
  list @2 () -> (tasks :List(Tasks.Process));
  # Every task with a shim, in every namespace (containerId is "<namespace>/<id>").
  cleanup @3 (namespace :Text, containerId :Text) -> (exit :Tasks.Exit);
  # For a task whose shim died (and after a shim's own delete): has the runtime delete the
  # container if it still has it (killing what is left of it), unmounts its rootfs, removes its
  # bundle, and returns the exit status the shim wrote to disk (or 137, SIGKILL's, when the
  # container was killed here).
}
