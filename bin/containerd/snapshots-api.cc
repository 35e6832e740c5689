#include "snapshots-api.h"

#include <common/errors.h>
#include <common/filters.h>
#include <common/snapshot-info.h>
#include <kj/debug.h>

#include <string>

#include "api.h"

namespace ctrd {

NamespaceSnapshots::NamespaceSnapshots(Backends& backends, kj::StringPtr ns,
                                       kj::StringPtr snapshotter, schema::Snapshots::Client inner,
                                       kj::Maybe<kj::String> lease)
    : backends(backends),
      ns(kj::str(ns)),
      prefix(kj::str(ns, "/")),
      snapshotter(kj::str(snapshotter)),
      inner(kj::mv(inner)),
      lease(kj::mv(lease)) {}

void NamespaceSnapshots::hold(kj::StringPtr key) {
  backends.metadata.leases.hold(ns, lease,
                                LeaseResource{kj::str("snapshots/", snapshotter), kj::str(key)});
}

kj::Promise<void> NamespaceSnapshots::changing(kj::Promise<void> promise) {
  // Garbage collection that listed the snapshots before this change lists them again.
  return promise.then([this]() { backends.gc.snapshotChanged(); },
                      [this](kj::Exception&& e) {
                        backends.gc.snapshotChanged();
                        kj::throwFatalException(kj::mv(e));
                      });
}

kj::String NamespaceSnapshots::toStore(kj::StringPtr key) {
  if (key.size() == 0) return kj::str();
  return kj::str(prefix, key);
}

kj::String NamespaceSnapshots::fromStore(kj::StringPtr key) {
  return kj::str(key.startsWith(prefix) ? key.slice(prefix.size()) : key);
}

void NamespaceSnapshots::stripInfo(schema::SnapshotInfo::Builder info) {
  info.setName(fromStore(info.getName()));
  info.setParent(fromStore(info.getParent()));
}

kj::Promise<void> NamespaceSnapshots::unprefixErrors(kj::Promise<void> promise) {
  // Errors name the store's keys; the caller knows only its own.
  return promise.catch_([this](kj::Exception&& e) -> kj::Promise<void> {
    std::string text = errorMessage(e).cStr();
    std::string needle = std::string("\"") + prefix.cStr();
    for (size_t at; (at = text.find(needle)) != std::string::npos;) {
      text.replace(at + 1, prefix.size(), "");
    }
    return kj::Exception(e.getType(), e.getFile(), e.getLine(), kj::str(text.c_str()));
  });
}

kj::Promise<void> NamespaceSnapshots::prepare(PrepareContext context) {
  auto p = context.getParams();
  hold(p.getKey());
  auto req = inner.prepareRequest();
  req.setKey(toStore(p.getKey()));
  req.setParent(toStore(p.getParent()));
  req.setLabels(p.getLabels());
  return changing(unprefixErrors(req.send().then([this, context](auto r) mutable {
    context.getResults().setMounts(r.getMounts());
    auto p = context.getParams();
    backends.events.publish(
        ns, "/snapshot/prepare",
        eventFields(
            {{"key", p.getKey()}, {"parent", p.getParent()}, {"snapshotter", snapshotter}}));
  })));
}

kj::Promise<void> NamespaceSnapshots::view(ViewContext context) {
  auto p = context.getParams();
  hold(p.getKey());
  auto req = inner.viewRequest();
  req.setKey(toStore(p.getKey()));
  req.setParent(toStore(p.getParent()));
  req.setLabels(p.getLabels());
  return changing(unprefixErrors(req.send().then(
      [context](auto r) mutable { context.getResults().setMounts(r.getMounts()); })));
}

kj::Promise<void> NamespaceSnapshots::mounts(MountsContext context) {
  auto req = inner.mountsRequest();
  req.setKey(toStore(context.getParams().getKey()));
  return unprefixErrors(req.send().then(
      [context](auto r) mutable { context.getResults().setMounts(r.getMounts()); }));
}

kj::Promise<void> NamespaceSnapshots::commit(CommitContext context) {
  auto p = context.getParams();
  hold(p.getName());
  auto req = inner.commitRequest();
  req.setName(toStore(p.getName()));
  req.setKey(toStore(p.getKey()));
  req.setLabels(p.getLabels());
  return changing(unprefixErrors(req.send().then([this, context](auto) mutable {
    auto p = context.getParams();
    backends.events.publish(
        ns, "/snapshot/commit",
        eventFields({{"key", p.getKey()}, {"name", p.getName()}, {"snapshotter", snapshotter}}));
  })));
}

kj::Promise<void> NamespaceSnapshots::rebase(RebaseContext context) {
  auto p = context.getParams();
  auto req = inner.rebaseRequest();
  req.setKey(toStore(p.getKey()));
  req.setParent(toStore(p.getParent()));
  return unprefixErrors(req.send().ignoreResult());
}

kj::Promise<void> NamespaceSnapshots::traits(TraitsContext context) {
  return inner.traitsRequest().send().then(
      [context](auto response) mutable { context.getResults().setTraits(response.getTraits()); });
}

kj::Promise<void> NamespaceSnapshots::remove(RemoveContext context) {
  auto req = inner.removeRequest();
  req.setKey(toStore(context.getParams().getKey()));
  return unprefixErrors(req.send().then([this, context](auto) mutable {
    backends.events.publish(
        ns, "/snapshot/remove",
        eventFields({{"key", context.getParams().getKey()}, {"snapshotter", snapshotter}}));
    // Its parent may be garbage now.
    backends.gc.schedule();
  }));
}

kj::Promise<void> NamespaceSnapshots::stat(StatContext context) {
  auto req = inner.statRequest();
  req.setKey(toStore(context.getParams().getKey()));
  return unprefixErrors(req.send().then([this, context](auto r) mutable {
    context.getResults().setInfo(r.getInfo());
    stripInfo(context.getResults().getInfo());
  }));
}

kj::Promise<void> NamespaceSnapshots::update(UpdateContext context) {
  auto p = context.getParams();
  auto req = inner.updateRequest();
  req.setKey(toStore(p.getKey()));
  req.setLabels(p.getLabels());
  req.setFieldpaths(p.getFieldpaths());
  return changing(unprefixErrors(req.send().then([this, context](auto r) mutable {
    context.getResults().setInfo(r.getInfo());
    stripInfo(context.getResults().getInfo());
  })));
}

kj::Promise<void> NamespaceSnapshots::usage(UsageContext context) {
  auto req = inner.usageRequest();
  req.setKey(toStore(context.getParams().getKey()));
  return unprefixErrors(
      req.send().then([context](auto r) mutable { context.getResults().setUsage(r.getUsage()); }));
}

kj::Promise<void> NamespaceSnapshots::list(ListContext context) {
  auto filter = Filter::parse(context.getParams().getFilters());
  return inner.listRequest().send().then([this, context, filter = kj::mv(filter)](auto r) mutable {
    // The store lists every namespace: keep ours, filter on our names.
    kj::Vector<schema::SnapshotInfo::Reader> mine;
    for (auto info : r.getInfos()) {
      if (!info.getName().startsWith(prefix)) continue;
      auto name = fromStore(info.getName());
      auto parent = fromStore(info.getParent());
      auto fields = snapshotFields(name, parent, info.getKind(),
                                   [info](kj::StringPtr key) -> kj::Maybe<kj::String> {
                                     for (auto l : info.getLabels()) {
                                       if (l.getKey() == key) return kj::str(l.getValue());
                                     }
                                     return nullptr;
                                   });
      if (filter.matches(fields)) mine.add(info);
    }
    auto out = context.getResults().initInfos(mine.size());
    for (size_t i = 0; i < mine.size(); i++) {
      out.setWithCaveats(i, mine[i]);
      stripInfo(out[i]);
    }
  });
}

kj::Promise<void> NamespaceSnapshots::cleanup(CleanupContext) {
  return inner.cleanupRequest().send().ignoreResult();
}

kj::Promise<void> NamespaceSnapshots::writableDir(WritableDirContext context) {
  auto req = inner.writableDirRequest();
  req.setKey(toStore(context.getParams().getKey()));
  return unprefixErrors(req.send().then([context](auto r) mutable {
    context.getResults().setDir(r.getDir());
    context.getResults().setParents(r.getParents());
  }));
}

schema::Snapshots::Client namespaceSnapshots(Backends& backends, kj::StringPtr ns,
                                             kj::StringPtr snapshotter,
                                             const kj::Maybe<kj::String>& lease) {
  auto name = snapshotterOrDefault(snapshotter);
  auto req =
      backends.service(ServiceKind::SNAPSHOT).client<schema::SnapshotStore>().snapshotterRequest();
  req.setName(name);
  return kj::heap<NamespaceSnapshots>(backends, ns, name, req.send().getSnapshots(),
                                      lease.map([](const kj::String& l) { return kj::str(l); }));
}

}  // namespace ctrd
