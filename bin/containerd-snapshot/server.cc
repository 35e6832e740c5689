#include "server.h"

#include <common/errors.h>
#include <common/filters.h>
#include <common/path.h>
#include <common/rpc.h>
#include <common/tree.h>
#include <common/worker.h>
#include <errno.h>
#include <kj/debug.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

namespace ctrd {

void fillMounts(capnp::List<schema::Mount>::Builder out, kj::ArrayPtr<const MountSpec> mounts) {
  for (size_t i = 0; i < mounts.size(); i++) {
    out[i].setType(mounts[i].type);
    out[i].setSource(mounts[i].source);
    auto options = out[i].initOptions(mounts[i].options.size());
    for (size_t j = 0; j < mounts[i].options.size(); j++) options.set(j, mounts[i].options[j]);
  }
}

void fillSnapshotInfo(schema::SnapshotInfo::Builder out, const SnapshotRecord& r) {
  out.setName(r.key);
  out.setParent(r.parent);
  out.setKind(r.kind);
  out.setCreatedAt(r.createdAt);
  out.setUpdatedAt(r.updatedAt);
  fillLabels(out.initLabels(r.labels.size()), r.labels);
}

namespace {

class SnapshotsServer final : public schema::Snapshots::Server {
public:
  SnapshotsServer(Snapshotter& snapshotter, Semaphore& workers)
      : s(snapshotter), workers(workers) {}

  kj::Promise<void> prepare(PrepareContext context) override {
    auto p = context.getParams();
    return prepareAs(p.getKey(), p.getParent(), p.getLabels(), schema::Kind::ACTIVE,
                     context.getResults());
  }
  kj::Promise<void> view(ViewContext context) override {
    auto p = context.getParams();
    return prepareAs(p.getKey(), p.getParent(), p.getLabels(), schema::Kind::VIEW,
                     context.getResults());
  }
  kj::Promise<void> mounts(MountsContext context) override {
    auto mounts = s.mounts(context.getParams().getKey());
    fillMounts(context.getResults().initMounts(mounts.size()), mounts);
    return kj::READY_NOW;
  }
  kj::Promise<void> commit(CommitContext context) override {
    auto fs = s.activeDirectory(context.getParams().getKey());
    // A committed snapshot is trusted by every later pull: its files reach the disk before its
    // record says so (a power cut must not leave a committed chain ID of truncated files).
    // syncfs and measuring walk the whole tree: off the event loop.
    return workers
        .run([fs = kj::mv(fs)]() mutable {
          return onWorker<DiskUsage>([fs = kj::mv(fs)](std::atomic<bool>&) {
            KJ_SYSCALL(syncfs(fs));
            return diskUsage(fs);
          });
        })
        .then([this, context](DiskUsage usage) mutable {
          auto p = context.getParams();
          s.commit(p.getName(), p.getKey(), readLabels(p.getLabels()), usage);
        });
  }
  kj::Promise<void> rebase(RebaseContext context) override {
    auto p = context.getParams();
    s.rebase(p.getKey(), p.getParent());
    return kj::READY_NOW;
  }
  kj::Promise<void> remove(RemoveContext context) override {
    s.remove(context.getParams().getKey());
    return kj::READY_NOW;
  }
  kj::Promise<void> traits(TraitsContext context) override {
    context.getResults().initTraits().setLayered(s.layered());
    return kj::READY_NOW;
  }
  kj::Promise<void> stat(StatContext context) override {
    fillSnapshotInfo(context.getResults().initInfo(), s.stat(context.getParams().getKey()));
    return kj::READY_NOW;
  }
  kj::Promise<void> update(UpdateContext context) override {
    auto p = context.getParams();
    auto record = s.stat(p.getKey());
    updateLabels(record.labels, readLabels(p.getLabels()), p.getFieldpaths(),
                 kj::str("snapshot \"", record.key, "\""));
    s.putLabels(record);
    fillSnapshotInfo(context.getResults().initInfo(), s.stat(p.getKey()));
    return kj::READY_NOW;
  }
  kj::Promise<void> usage(UsageContext context) override {
    auto u = s.usage(context.getParams().getKey());
    auto out = context.getResults().initUsage();
    out.setSize(u.size);
    out.setInodes(u.inodes);
    return kj::READY_NOW;
  }
  kj::Promise<void> list(ListContext context) override {
    auto filter = Filter::parse(context.getParams().getFilters());
    auto records = s.list();
    kj::Vector<const SnapshotRecord*> matched;
    for (auto& r : records) {
      auto fields =
          snapshotFields(r.key, r.parent, r.kind, [&r](kj::StringPtr key) -> kj::Maybe<kj::String> {
            KJ_IF_MAYBE(v, r.labels.find(key)) {
              return kj::str(*v);
            }
            return nullptr;
          });
      if (filter.matches(fields)) matched.add(&r);
    }
    auto out = context.getResults().initInfos(matched.size());
    for (size_t i = 0; i < matched.size(); i++) fillSnapshotInfo(out[i], *matched[i]);
    return kj::READY_NOW;
  }
  kj::Promise<void> cleanup(CleanupContext) override {
    s.cleanup();
    return kj::READY_NOW;
  }
  kj::Promise<void> writableDir(WritableDirContext context) override {
    auto w = s.writableDir(context.getParams().getKey());
    auto results = context.getResults();
    results.setDir(kj::heap<FdServer<schema::Directory>>(kj::mv(w.dir)));
    auto parents = results.initParents(w.parents.size());
    for (size_t i = 0; i < w.parents.size(); i++) {
      parents.set(i, kj::heap<FdServer<schema::Directory>>(kj::mv(w.parents[i])));
    }
    return kj::READY_NOW;
  }

private:
  Snapshotter& s;
  Semaphore& workers;

  template <typename Results>
  kj::Promise<void> prepareAs(kj::StringPtr key, kj::StringPtr parent,
                              capnp::List<schema::Label>::Reader labelList, schema::Kind kind,
                              Results results) {
    // native copies the parent's whole tree: that runs on a worker, the record after it.
    KJ_IF_MAYBE(source, s.copySource(parent)) {
      return workers
          .run([this, source = kj::mv(*source)]() mutable {
            return onWorker<kj::String>([this, source = kj::mv(source)](std::atomic<bool>&) {
              return s.stageCopy(source);
            });
          })
          .then([this, key = kj::str(key), parent = kj::str(parent), labels = readLabels(labelList),
                 kind, results](kj::String staged) mutable {
            KJ_ON_SCOPE_FAILURE(removeTree(s.directory(), staged));
            auto mounts = s.prepare(key, parent, kj::mv(labels), kind, staged.asPtr());
            fillMounts(results.initMounts(mounts.size()), mounts);
          });
    }
    auto mounts = s.prepare(key, parent, readLabels(labelList), kind);
    fillMounts(results.initMounts(mounts.size()), mounts);
    return kj::READY_NOW;
  }
};

kj::Own<Snapshotter> openSnapshotter(SnapshotDriver driver, int root, kj::StringPtr rootPath,
                                     kj::StringPtr name) {
  return kj::heap<Snapshotter>(driver, makeDirectory(root, name, 0700),
                               kj::str(rootPath, "/", name));
}

}  // namespace

SnapshotStoreServer::SnapshotStoreServer(kj::AutoCloseFd root, kj::StringPtr rootPath)
    : ServiceInfoServer(profileFor(ServiceKind::SNAPSHOT)),
      overlay(openSnapshotter(SnapshotDriver::OVERLAY, root, rootPath, "overlayfs")),
      native(openSnapshotter(SnapshotDriver::NATIVE, root, rootPath, "native")),
      workers(kj::max(4u, 2 * std::thread::hardware_concurrency())) {}

kj::Promise<void> SnapshotStoreServer::snapshotter(SnapshotterContext context) {
  auto name = context.getParams().getName();
  Snapshotter* s = name == "overlayfs" ? overlay.get() : name == "native" ? native.get() : nullptr;
  if (s == nullptr) throwError(ErrorKind::NOT_FOUND, kj::str("snapshotter \"", name, "\""));
  context.getResults().setSnapshots(kj::heap<SnapshotsServer>(*s, workers));
  return kj::READY_NOW;
}

}  // namespace ctrd
