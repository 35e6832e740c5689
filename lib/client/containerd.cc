#include "containerd.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/rpc.h>
#include <common/snapshot-info.h>
#include <fcntl.h>
#include <oci/image.h>

#include <deque>

#include "client.h"

namespace ctrd {
namespace {

schema::Tasks::Client tasksOf(Client& client) {
  return client.daemon().ns(client.ns()).tasksRequest().send().getTasks();
}

kj::Vector<kj::String> strings(capnp::List<capnp::Text>::Reader list) {
  kj::Vector<kj::String> out;
  for (auto s : list) out.add(kj::str(s));
  return out;
}

}  // namespace

Client::Client(kj::StringPtr address, kj::StringPtr ns)
    : owned(kj::heap<DaemonClient>(address)), daemon_(owned.get()), ns_(kj::str(ns)) {}

Client::Client(DaemonClient& daemon, kj::StringPtr ns) : daemon_(&daemon), ns_(kj::str(ns)) {}

Client::~Client() noexcept(false) {}

Image Client::pull(kj::StringPtr ref, const PullOptions& options) {
  auto req = daemon_->ns(ns_).imagesRequest().send().getImages().pullRequest();
  req.setRef(ref);
  auto o = req.initOptions();
  o.setUnpack(options.unpack);
  o.setSnapshotter(snapshotterOrDefault(options.snapshotter));
  o.initResolver().setPlainHttp(options.plainHttp);
  auto response = req.send().wait(daemon_->waitScope());
  return getImage(response.getImage().getName(), options.snapshotter);
}

Image Client::getImage(kj::StringPtr name, kj::StringPtr snapshotterName) {
  auto snapshotter = snapshotterOrDefault(snapshotterName);
  auto req = daemon_->ns(ns_).imagesRequest().send().getImages().usageRequest();
  req.setName(name);
  req.setSnapshotter(snapshotter);
  auto response = req.send().wait(daemon_->waitScope());
  auto usage = response.getUsage();
  if (!usage.getUnpacked()) {
    throwError(ErrorKind::FAILED_PRECONDITION,
               kj::str("image \"", name, "\" is not unpacked for snapshotter \"", snapshotter,
                       "\" (ctr images pull --snapshotter ", snapshotter, ")"));
  }
  auto c = usage.getConfig();
  return {kj::str(name), kj::str(usage.getChainId()),
          oci::ImageRunConfig{strings(c.getEnv()), strings(c.getEntrypoint()), strings(c.getCmd()),
                              kj::str(c.getWorkingDir()), kj::str(c.getUser()),
                              kj::str(c.getStopSignal())}};
}

namespace {

constexpr int64_t LEASE_EXPIRES = 24ll * 3600 * 1000000000;  // containerd's client default

kj::String takeLease(DaemonClient& daemon, schema::Namespace::Client ns) {
  auto req = ns.leasesRequest().send().getLeases().createRequest();
  auto labels = req.initLabels(1);
  labels[0].setKey(oci::labels::GC_EXPIRE);
  labels[0].setValue(formatRfc3339(nowNanos() + LEASE_EXPIRES));
  return kj::str(req.send().wait(daemon.waitScope()).getLease().getId());
}

void releaseLease(DaemonClient& daemon, schema::Namespace::Client ns, kj::StringPtr id) {
  auto req = ns.leasesRequest().send().getLeases().deleteRequest();
  req.setId(id);
  // Should this fail, the lease expires by itself.
  kj::runCatchingExceptions([&]() { req.send().wait(daemon.waitScope()); });
}

}  // namespace

Container Client::newContainer(kj::StringPtr id, kj::Maybe<const Image&> image,
                               ContainerOptions options) {
  auto ns = daemon_->ns(ns_);
  auto& waitScope = daemon_->waitScope();
  auto snapshotter = kj::str(snapshotterOrDefault(options.snapshotter));
  auto containers = ns.containersRequest().send().getContainers();
  {
    // Before anything is made: a taken id is the container's error, not its snapshot's.
    auto get = containers.getRequest();
    get.setId(id);
    bool taken = kj::runCatchingExceptions([&]() { get.send().wait(waitScope); }) == nullptr;
    if (taken) throwError(ErrorKind::ALREADY_EXISTS, kj::str("container \"", id, "\""));
  }
  auto& spec = options.spec;
  spec.ns = kj::str(ns_);
  spec.id = kj::str(id);
  KJ_IF_MAYBE(i, image) {
    auto& config = i->config;
    if (config.stopSignal.size() > 0) {
      setLabel(options.labels, kj::str(oci::labels::IMAGE_STOP_SIGNAL), kj::str(config.stopSignal));
    }
    spec.image = oci::ImageRunConfig{KJ_MAP(s, config.env){return kj::str(s);
  }
  , KJ_MAP(s, config.entrypoint) {
    return kj::str(s);
  }
  , KJ_MAP(s, config.cmd) {
    return kj::str(s);
  }
  , kj::str(config.workingDir), kj::str(config.user), kj::str(config.stopSignal)
};
}  // namespace ctrd
auto specJson = oci::generateSpec(spec);

schema::Snapshots::Client snapshots = nullptr;
kj::Maybe<kj::String> lease;
KJ_DEFER(KJ_IF_MAYBE(id, lease) { releaseLease(*daemon_, ns, *id); });
KJ_IF_MAYBE(i, image) {
  // containerd's WithNewSnapshot: the container's own active snapshot on the image's layers,
  // made under a lease (as containerd's client does) that keeps it from garbage collection
  // until the container record holds it.
  lease = takeLease(*daemon_, ns);
  auto withLease = ns.withLeaseRequest();
  withLease.setId(KJ_ASSERT_NONNULL(lease));
  auto sreq = withLease.send().getNs().snapshotsRequest();
  sreq.setSnapshotter(snapshotter);
  snapshots = sreq.send().getSnapshots();
  auto prepare = snapshots.prepareRequest();
  prepare.setKey(id);
  prepare.setParent(i->chainId);
  prepare.send().wait(waitScope);
}
KJ_ON_SCOPE_FAILURE({
  if (image != nullptr) {
    auto remove = snapshots.removeRequest();
    remove.setKey(id);
    kj::runCatchingExceptions([&]() { remove.send().wait(waitScope); });
  }
});
auto req = containers.createRequest();
auto c = req.initContainer();
c.setId(id);
KJ_IF_MAYBE(i, image) {
  c.setImage(i->name);
  c.setSnapshotKey(id);
}
auto rt = c.initRuntime();
rt.setName(options.runtimeName);
rt.setBinary(options.runtimeBinary);
c.setSpec(specJson.asBytes());
c.setSnapshotter(snapshotter);
fillLabels(c.initLabels(options.labels.size()), options.labels);
req.send().wait(waitScope);
return Container(*this, kj::str(id));
}

class EventStream::Receiver final : public kj::Refcounted {
  // What the daemon sent, until next() takes it: shared with the subscriber capability the
  // daemon holds, which may outlive the stream.
public:
  std::deque<Event> queue;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> waiting;
};

namespace {

class Subscriber final : public schema::Subscriber::Server {
public:
  explicit Subscriber(kj::Own<EventStream::Receiver> r) : r(kj::mv(r)) {}
  kj::Promise<void> event(EventContext context) override {
    auto e = context.getParams().getEnvelope();
    auto data = e.getEvent();
    r->queue.push_back(
        Event{e.getTimestamp(), e.getSequence(), kj::str(e.getNamespace()), kj::str(e.getTopic()),
              kj::str(kj::StringPtr(reinterpret_cast<const char*>(data.begin()), data.size()))});
    KJ_IF_MAYBE(f, r->waiting) {
      (*f)->fulfill();
      r->waiting = nullptr;
    }
    return kj::READY_NOW;
  }

private:
  kj::Own<EventStream::Receiver> r;
};

}  // namespace

EventStream::EventStream(DaemonClient& daemon, schema::Events::Client events,
                         kj::ArrayPtr<const kj::StringPtr> filters)
    : daemon(daemon), receiver(kj::refcounted<Receiver>()), subscription(nullptr) {
  auto req = events.subscribeRequest();
  auto list = req.initFilters(filters.size());
  for (size_t i = 0; i < filters.size(); i++) list.set(i, filters[i]);
  req.setSubscriber(kj::heap<Subscriber>(kj::addRef(*receiver)));
  // Waited for: once it returns, every event published after is on its way.
  subscription = req.send().wait(daemon.waitScope()).getSubscription();
}

EventStream::~EventStream() noexcept(false) {}

kj::Maybe<Event> EventStream::next(kj::Duration timeout) {
  if (receiver->queue.empty()) {
    auto paf = kj::newPromiseAndFulfiller<void>();
    receiver->waiting = kj::mv(paf.fulfiller);
    auto timer = daemon.lowLevel().getTimer().afterDelay(timeout);
    auto gone = daemon.disconnected().then([]() -> kj::Promise<void> {
      return makeError(ErrorKind::UNAVAILABLE, "the daemon closed the event stream");
    });
    paf.promise.exclusiveJoin(kj::mv(timer)).exclusiveJoin(kj::mv(gone)).wait(daemon.waitScope());
    receiver->waiting = nullptr;
    if (receiver->queue.empty()) return nullptr;
  }
  auto e = kj::mv(receiver->queue.front());
  receiver->queue.pop_front();
  return kj::mv(e);
}

Event EventStream::next() {
  for (;;) {
    KJ_IF_MAYBE(e, next(3600 * kj::SECONDS)) {
      return kj::mv(*e);
    }
  }
}

kj::Own<EventStream> Client::subscribe(kj::ArrayPtr<const kj::StringPtr> filters) {
  auto events = daemon_->ns(ns_).eventsRequest().send().getEvents();
  return kj::heap<EventStream>(*daemon_, kj::mv(events), filters);
}

Container Client::loadContainer(kj::StringPtr id) {
  auto get = daemon_->ns(ns_).containersRequest().send().getContainers().getRequest();
  get.setId(id);
  get.send().wait(daemon_->waitScope());
  return Container(*this, kj::str(id));
}

Task Container::newTask(Stdio stdio, bool start) {
  auto& daemon = client->daemon();
  auto req = tasksOf(*client).createRequest();
  req.setContainerId(id_);
  auto s = req.initStdio();
  if (stdio.in >= 0) s.setStdin(callerStream(stdio.in));
  if (stdio.out >= 0) s.setStdout(callerStream(stdio.out));
  if (stdio.err >= 0) s.setStderr(callerStream(stdio.err));
  s.setTerminal(stdio.terminal);
  req.setStart(start);
  auto response = req.send().wait(daemon.waitScope());
  return Task(*client, kj::str(id_), response.getPid());
}

Task Container::task() {
  auto& daemon = client->daemon();
  auto req = tasksOf(*client).getRequest();
  req.setContainerId(id_);
  auto response = req.send().wait(daemon.waitScope());
  return Task(*client, kj::str(id_), response.getProcess().getPid());
}

void Container::remove(bool keepSnapshot) {
  auto& daemon = client->daemon();
  auto req = daemon.ns(client->ns()).containersRequest().send().getContainers().deleteRequest();
  req.setId(id_);
  req.setKeepSnapshot(keepSnapshot);
  req.send().wait(daemon.waitScope());
}

void Task::start() {
  auto& daemon = client->daemon();
  auto req = tasksOf(*client).startRequest();
  req.setContainerId(id);
  pid_ = req.send().wait(daemon.waitScope()).getPid();
}

void Task::kill(int signal, bool all) {
  auto& daemon = client->daemon();
  auto req = tasksOf(*client).killRequest();
  req.setContainerId(id);
  req.setSignal(signal);
  req.setAll(all);
  req.send().wait(daemon.waitScope());
}

int Task::wait() {
  auto& daemon = client->daemon();
  auto req = tasksOf(*client).waitRequest();
  req.setContainerId(id);
  return req.send().wait(daemon.waitScope()).getExit().getStatus();
}

int Task::remove() {
  auto& daemon = client->daemon();
  auto req = tasksOf(*client).deleteRequest();
  req.setContainerId(id);
  return req.send().wait(daemon.waitScope()).getExit().getStatus();
}

void Task::resize(uint16_t width, uint16_t height) {
  auto& daemon = client->daemon();
  auto req = tasksOf(*client).resizePtyRequest();
  req.setContainerId(id);
  req.setWidth(width);
  req.setHeight(height);
  req.send().wait(daemon.waitScope());
}

void Task::closeStdin() {
  auto& daemon = client->daemon();
  auto req = tasksOf(*client).closeIoRequest();
  req.setContainerId(id);
  req.send().wait(daemon.waitScope());
}

void Task::update(kj::StringPtr resourcesJson) {
  auto& daemon = client->daemon();
  auto req = tasksOf(*client).updateRequest();
  req.setContainerId(id);
  req.setResources(resourcesJson.asBytes());
  req.send().wait(daemon.waitScope());
}

}  // namespace ctrd
