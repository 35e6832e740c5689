// The public C++ API, shaped like containerd's Go client in its May 2017 form:
//
//   ctrd::Client client("/run/containerd/containerd.sock", "default");
//   auto image = client.pull("registry.example/busybox:latest");
//   auto container = client.newContainer("web", image, ctrd::ContainerOptions{});
//   auto task = container.newTask(ctrd::Stdio::inherit());
//   task.start();
//   task.kill(SIGTERM);
//   int status = task.wait();
//   task.remove();
//   container.remove();
//
// Every call blocks until the daemon answers and throws kj::Exception (its description reads
// like containerd's errors: `container "web": already exists`) on failure. Nothing here exposes
// Cap'n Proto; `DaemonClient` (client.h) is the RPC level underneath.
#pragma once

#include <common/labels.h>
#include <kj/string.h>
#include <kj/time.h>
#include <kj/vector.h>
#include <oci/runtime-spec.h>
#include <schema/events.capnp.h>
#include <stdint.h>

namespace ctrd {

class DaemonClient;

struct Image {
  kj::String name;
  kj::String chainId;  // of its layers for this host's platform
  oci::ImageRunConfig config;
};

struct PullOptions {
  bool unpack = true;
  kj::String snapshotter;  // empty: overlayfs
  bool plainHttp = false;  // localhost registries speak plain HTTP without it
};

struct ContainerOptions {
  // What the spec holds beyond the image's own settings (see oci::SpecOptions): leave `ns`,
  // `id` and `image` empty; newContainer fills them.
  oci::SpecOptions spec;
  kj::String snapshotter;  // empty: overlayfs
  kj::String runtimeName = kj::str("io.containerd.runc.v2");
  kj::String runtimeBinary = kj::str("runc");
  Labels labels;
};

struct Stdio {
  // Which of the caller's fds become the container's stdin, stdout and stderr (-1: /dev/null).
  // They are passed as they are: the container writes to them directly. With `terminal`, the
  // container gets a pty instead (its spec must ask for one: SpecOptions::tty), which its shim
  // copies to and from these fds while this process lives. With no fd and no terminal, the
  // task is detached: its output goes nowhere until a caller attaches.
  int in = -1;
  int out = -1;
  int err = -1;
  bool terminal = false;
  static Stdio inherit() { return {0, 1, 2}; }
  static Stdio none() { return {}; }
  static Stdio tty() { return {0, 1, -1, true}; }
};

class Client;

// A Container and a Task refer to the Client that made them: it must outlive them.

class Task {
public:
  uint32_t pid() const { return pid_; }
  void start();
  void kill(int signal, bool all = false);
  int wait();
  // The exit status (128 + signal when killed); returns at once if it has exited.
  int remove();
  // Deletes the stopped task and returns its exit status.
  void resize(uint16_t width, uint16_t height);
  // The size of its terminal; `failed precondition` without one.
  void closeStdin();
  void update(kj::StringPtr resourcesJson);
  // New limits for its cgroup: an OCI runtime spec `linux.resources` object, as `runc update`
  // takes it.

private:
  friend class Container;
  Task(Client& client, kj::String id, uint32_t pid) : client(&client), id(kj::mv(id)), pid_(pid) {}
  Client* client;
  kj::String id;
  uint32_t pid_;
};

class Container {
public:
  kj::StringPtr id() const { return id_; }
  Task newTask(Stdio stdio, bool start = false);
  // Creates the task (the shim, `runc create`): it has a pid and is not yet started. With
  // `start`, it is started too, by one runtime command (`runc run --detach`) in place of two.
  Task task();
  // Its existing task; `not found` when it has none.
  void remove(bool keepSnapshot = false);

private:
  friend class Client;
  Container(Client& client, kj::String id) : client(&client), id_(kj::mv(id)) {}
  Client* client;
  kj::String id_;
};

struct Event {
  int64_t timestamp;  // nanoseconds since the epoch
  uint64_t sequence;  // the daemon's: increasing, so a gap shows
  kj::String ns;
  kj::String topic;  // "/tasks/exit", ...; "/events/lost" stands for {"count": N} events dropped
  kj::String json;   // the event's fields
};

class EventStream {
  // Events as the daemon publishes them, in order, from when it was made.
public:
  EventStream(DaemonClient& daemon, schema::Events::Client events,
              kj::ArrayPtr<const kj::StringPtr> filters);
  // `filters` as containerd's: topic~="/tasks/", namespace==x, event.container_id==y.
  ~EventStream() noexcept(false);
  KJ_DISALLOW_COPY(EventStream);

  Event next();
  // Blocks until the next event; `disconnected` when the daemon goes away.
  kj::Maybe<Event> next(kj::Duration timeout);
  // Null when none came within `timeout`.

  class Receiver;

private:
  DaemonClient& daemon;
  kj::Own<Receiver> receiver;  // shared with the subscriber capability the daemon holds
  schema::Subscription::Client subscription;
};

class Client {
public:
  Client(kj::StringPtr address, kj::StringPtr ns = "default");
  Client(DaemonClient& daemon, kj::StringPtr ns);
  // Over a connection the caller keeps.
  ~Client() noexcept(false);
  KJ_DISALLOW_COPY(Client);

  Image pull(kj::StringPtr ref, const PullOptions& options = {});
  Image getImage(kj::StringPtr name, kj::StringPtr snapshotter = "");
  // An image already pulled and unpacked for `snapshotter`; `failed precondition` if not
  // unpacked there.
  Container newContainer(kj::StringPtr id, kj::Maybe<const Image&> image, ContainerOptions options);
  // containerd's WithNewSnapshot + WithImageConfig: the container's own snapshot on the image's
  // layers, its spec from the image's config and `options`. Nothing is left when it fails.
  // Without an image, `options.spec.rootPath` is the root filesystem (ctr's --rootfs).
  Container loadContainer(kj::StringPtr id);
  kj::Own<EventStream> subscribe(kj::ArrayPtr<const kj::StringPtr> filters = {});
  // This namespace's events.

  kj::StringPtr ns() const { return ns_; }
  DaemonClient& daemon() { return *daemon_; }

private:
  kj::Own<DaemonClient> owned;
  DaemonClient* daemon_;
  kj::String ns_;
};

}  // namespace ctrd
