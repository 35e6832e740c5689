#include "tasks-api.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/identifiers.h>

#include "snapshots-api.h"

namespace ctrd {

schema::TaskRuntime::Client NamespaceTasks::runtime() {
  return backends.service(ServiceKind::TASKS).client<schema::TaskRuntime>();
}

schema::Shim::Client NamespaceTasks::shim(kj::StringPtr containerId) {
  validateIdentifier("container", containerId);
  auto req = runtime().connectRequest();
  req.setNamespace(ns);
  req.setContainerId(containerId);
  return req.send().getShim();
}

kj::Promise<bool> hasTask(Backends& backends, kj::StringPtr ns, kj::StringPtr containerId) {
  auto req = backends.service(ServiceKind::TASKS).client<schema::TaskRuntime>().connectRequest();
  req.setNamespace(ns);
  req.setContainerId(containerId);
  return req.send().then([](auto) { return true; },
                         [](kj::Exception&& e) {
                           if (errorKind(e) != ErrorKind::NOT_FOUND) {
                             kj::throwFatalException(kj::mv(e));
                           }
                           return false;
                         });
}

void NamespaceTasks::published(kj::StringPtr topic, kj::StringPtr containerId, kj::StringPtr execId,
                               uint32_t pid) {
  auto fields = eventFields({{"container_id", containerId}});
  if (execId.size() > 0) fields.add(EventField{kj::str("exec_id"), kj::str(execId), false});
  if (pid > 0) fields.add(EventField{kj::str("pid"), kj::str(pid), true});
  backends.events.publish(ns, topic, kj::mv(fields));
}

void NamespaceTasks::watchExit(kj::StringPtr containerId, kj::StringPtr execId, uint32_t pid) {
  // One wait per process for the daemon's life: its exit becomes /tasks/exit.
  auto req = shim(containerId).waitRequest();
  req.setExecId(execId);
  auto& events = backends.events;
  events.watch(req.send().then([&events, ns = kj::str(ns), id = kj::str(containerId),
                                exec = kj::str(execId), pid](auto response) {
    auto exit = response.getExit();
    auto fields = eventFields({{"container_id", id}, {"id", exec.size() > 0 ? exec : id}});
    fields.add(EventField{kj::str("pid"), kj::str(pid), true});
    fields.add(EventField{kj::str("exit_status"), kj::str(exit.getStatus()), true});
    fields.add(EventField{kj::str("exited_at"), formatRfc3339(exit.getExitedAt()), false});
    events.publish(ns, "/tasks/exit", kj::mv(fields));
  }));
}

kj::Promise<void> NamespaceTasks::create(CreateContext context) {
  auto params = context.getParams();
  auto id = kj::str(params.getContainerId());
  ContainerRecord container;
  KJ_IF_MAYBE(c, backends.metadata.containers.get(ns, id)) {
    container = kj::mv(*c);
  } else {
    throwError(ErrorKind::NOT_FOUND, kj::str("container \"", id, "\""));
  }
  if (params.getCheckpoint().getDigest().size() > 0) {
    throwError(ErrorKind::NOT_IMPLEMENTED, "restoring a task from a checkpoint");
  }
  auto request = kj::heap(runtime().startRequest());
  auto* start = request.get();
  start->setNamespace(ns);
  auto c = start->initContainer();
  c.setId(container.id);
  c.setImage(container.image);
  c.initRuntime().setName(container.runtimeName);
  c.getRuntime().setBinary(container.runtimeBinary);
  c.setSpec(container.spec.asBytes());
  kj::Promise<void> mounts = kj::READY_NOW;
  if (params.getRootfs().size() > 0) {
    start->setRootfs(params.getRootfs());
  } else if (container.snapshotKey.size() > 0) {
    auto req = namespaceSnapshots(backends, ns, container.snapshotter).mountsRequest();
    req.setKey(container.snapshotKey);
    mounts =
        req.send().then([start](auto response) mutable { start->setRootfs(response.getMounts()); });
  }
  auto stdio = params.getStdio();
  start->setTerminal(stdio.getTerminal());
  bool andStart = params.getStart();
  return mounts.then([start]() mutable { return start->send(); })
      .then([this, context, stdio, andStart, id = kj::mv(id)](auto started) mutable {
        auto shim = started.getShim();
        auto create = shim.createRequest();
        create.setStdio(stdio);
        create.setStart(andStart);
        return create.send()
            .then([this, context, andStart, id = kj::str(id)](auto created) mutable {
              context.getResults().setPid(created.getPid());
              published("/tasks/create", id, "", created.getPid());
              if (andStart) {
                published("/tasks/start", id, "", created.getPid());
                watchExit(id, "", created.getPid());
              }
            })
            .catch_([this, shim, id = kj::mv(id)](kj::Exception&& e) mutable -> kj::Promise<void> {
              // The runtime refused (a missing command, a bad spec): nothing stays behind.
              auto cleanup = runtime().cleanupRequest();
              cleanup.setNamespace(ns);
              cleanup.setContainerId(id);
              auto shutdown =
                  shim.shutdownRequest().send().ignoreResult().catch_([](kj::Exception&&) {});
              return shutdown
                  .then([cleanup = kj::mv(cleanup)]() mutable {
                    return cleanup.send().ignoreResult();
                  })
                  .then([e = kj::mv(e)]() mutable -> kj::Promise<void> { return kj::mv(e); });
            });
      })
      .attach(kj::mv(request));
}

kj::Promise<void> NamespaceTasks::start(StartContext context) {
  auto params = context.getParams();
  auto req = shim(params.getContainerId()).startRequest();
  req.setExecId(params.getExecId());
  return req.send().then([this, context](auto response) mutable {
    auto params = context.getParams();
    auto pid = response.getPid();
    context.getResults().setPid(pid);
    auto exec = params.getExecId();
    published(exec.size() > 0 ? "/tasks/exec-started"_kj : "/tasks/start"_kj,
              params.getContainerId(), exec, pid);
    watchExit(params.getContainerId(), exec, pid);
  });
}

kj::Promise<void> NamespaceTasks::delete_(DeleteContext context) {
  auto params = context.getParams();
  auto id = kj::str(params.getContainerId());
  if (params.getExecId().size() > 0) {
    // An exec'd process: its record goes; the task and its shim stay.
    auto req = shim(id).deleteRequest();
    req.setExecId(params.getExecId());
    return req.send().then([context](auto deleted) mutable {
      auto results = context.getResults();
      results.setExit(deleted.getExit());
      results.setPid(deleted.getPid());
    });
  }
  auto s = shim(id);
  auto req = s.deleteRequest();
  auto cleanup = kj::heap(runtime().cleanupRequest());
  cleanup->setNamespace(ns);
  cleanup->setContainerId(id);
  auto* c = cleanup.get();
  return req.send()
      .then(
          [this, context, s, c](auto deleted) mutable {
            auto results = context.getResults();
            results.setExit(deleted.getExit());
            results.setPid(deleted.getPid());
            auto fields = eventFields({{"container_id", context.getParams().getContainerId()}});
            fields.add(EventField{kj::str("pid"), kj::str(deleted.getPid()), true});
            fields.add(
                EventField{kj::str("exit_status"), kj::str(deleted.getExit().getStatus()), true});
            backends.events.publish(ns, "/tasks/delete", kj::mv(fields));
            return s.shutdownRequest()
                .send()
                .ignoreResult()
                .catch_([](kj::Exception&&) {})
                .then([c]() { return c->send().ignoreResult(); });
          },
          [context, c](kj::Exception&& e) mutable -> kj::Promise<void> {
            // Its shim is gone (killed): the tasks service deletes what it left.
            if (errorKind(e) != ErrorKind::UNAVAILABLE) return kj::mv(e);
            return c->send().then([context](auto cleaned) mutable {
              context.getResults().setExit(cleaned.getExit());
            });
          })
      .attach(kj::mv(cleanup));
}

kj::Promise<void> NamespaceTasks::get(GetContext context) {
  auto params = context.getParams();
  auto req = shim(params.getContainerId()).stateRequest();
  req.setExecId(params.getExecId());
  return req.send().then(
      [context](auto response) mutable { context.getResults().setProcess(response.getProcess()); });
}

kj::Promise<void> NamespaceTasks::list(ListContext context) {
  return runtime().listRequest().send().then([this, context](auto all) mutable {
    auto prefix = kj::str(ns, "/");
    kj::Vector<kj::Promise<kj::Maybe<kj::Own<capnp::MallocMessageBuilder>>>> states;
    for (auto t : all.getTasks()) {
      if (!t.getContainerId().startsWith(prefix)) continue;
      auto id = kj::str(t.getContainerId().slice(prefix.size()));
      auto req = shim(id).stateRequest();
      states.add(req.send().then(
          [](auto response) -> kj::Maybe<kj::Own<capnp::MallocMessageBuilder>> {
            auto message = kj::heap<capnp::MallocMessageBuilder>();
            message->setRoot(response.getProcess());
            return kj::mv(message);
          },
          [id = kj::str(id)](kj::Exception&& e) -> kj::Maybe<kj::Own<capnp::MallocMessageBuilder>> {
            // A bundle whose task has no process yet: not a task. One whose shim is gone: listed
            // as unknown, for `tasks rm` to clean up.
            if (errorKind(e) != ErrorKind::UNAVAILABLE) return nullptr;
            auto message = kj::heap<capnp::MallocMessageBuilder>();
            auto p = message->initRoot<schema::Process>();
            p.setContainerId(id);
            p.setStatus(schema::TaskStatus::UNKNOWN);
            return kj::mv(message);
          }));
    }
    return kj::joinPromises(states.releaseAsArray()).then([context](auto results) mutable {
      size_t n = 0;
      for (auto& r : results) n += r != nullptr;
      auto out = context.getResults().initTasks(n);
      size_t i = 0;
      for (auto& r : results) {
        KJ_IF_MAYBE(m, r) {
          out.setWithCaveats(i++, (*m)->template getRoot<schema::Process>().asReader());
        }
      }
    });
  });
}

kj::Promise<void> NamespaceTasks::kill(KillContext context) {
  auto params = context.getParams();
  auto req = shim(params.getContainerId()).killRequest();
  req.setExecId(params.getExecId());
  req.setSignal(params.getSignal());
  req.setAll(params.getAll());
  return req.send().ignoreResult();
}

kj::Promise<void> NamespaceTasks::exec(ExecContext context) {
  auto params = context.getParams();
  auto req = shim(params.getContainerId()).execRequest();
  req.setExecId(params.getExecId());
  req.setStdio(params.getStdio());
  req.setSpec(params.getSpec());
  return req.send().then([this, context](auto) mutable {
    auto params = context.getParams();
    published("/tasks/exec-added", params.getContainerId(), params.getExecId(), 0);
  });
}

kj::Promise<void> NamespaceTasks::closeIo(CloseIoContext context) {
  auto params = context.getParams();
  auto req = shim(params.getContainerId()).closeIoRequest();
  req.setExecId(params.getExecId());
  return req.send().ignoreResult();
}

kj::Promise<void> NamespaceTasks::metrics(MetricsContext context) {
  return shim(context.getParams().getContainerId())
      .statsRequest()
      .send()
      .then([context](auto response) mutable { context.getResults().setJson(response.getJson()); });
}

kj::Promise<void> NamespaceTasks::pause(PauseContext context) {
  return shim(context.getParams().getContainerId())
      .pauseRequest()
      .send()
      .then([this, context](auto) mutable {
        published("/tasks/paused", context.getParams().getContainerId(), "", 0);
      });
}

kj::Promise<void> NamespaceTasks::resume(ResumeContext context) {
  return shim(context.getParams().getContainerId())
      .resumeRequest()
      .send()
      .then([this, context](auto) mutable {
        published("/tasks/resumed", context.getParams().getContainerId(), "", 0);
      });
}

kj::Promise<void> NamespaceTasks::pids(PidsContext context) {
  return shim(context.getParams().getContainerId())
      .pidsRequest()
      .send()
      .then([context](auto response) mutable { context.getResults().setPids(response.getPids()); });
}

kj::Promise<void> NamespaceTasks::wait(WaitContext context) {
  auto params = context.getParams();
  auto req = shim(params.getContainerId()).waitRequest();
  req.setExecId(params.getExecId());
  return req.send().then(
      [context](auto response) mutable { context.getResults().setExit(response.getExit()); });
}

kj::Promise<void> NamespaceTasks::attach(AttachContext context) {
  auto params = context.getParams();
  auto req = shim(params.getContainerId()).attachRequest();
  req.setExecId(params.getExecId());
  req.setStdio(params.getStdio());
  return req.send().ignoreResult();
}

kj::Promise<void> NamespaceTasks::resizePty(ResizePtyContext context) {
  auto params = context.getParams();
  auto req = shim(params.getContainerId()).resizePtyRequest();
  req.setExecId(params.getExecId());
  req.setWidth(params.getWidth());
  req.setHeight(params.getHeight());
  return req.send().ignoreResult();
}

kj::Promise<void> NamespaceTasks::update(UpdateContext context) {
  auto params = context.getParams();
  auto req = shim(params.getContainerId()).updateRequest();
  req.setResources(params.getResources());
  return req.send().ignoreResult();
}

}  // namespace ctrd
