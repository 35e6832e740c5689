// The snapshotter contract, checked the same way against both drivers (overlayfs and native),
// in-process, with the mounts each describes made by the real kernel. A third driver passes
// these before it is offered to containerd.
#include <capnp/message.h>
#include <common/errors.h>
#include <common/mount.h>
#include <common/tree.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <kj/debug.h>
#include <server.h>
#include <snapshotter.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "integration/harness.h"

namespace ctrd {

void PrintTo(SnapshotDriver driver, std::ostream* out) {
  *out << (driver == SnapshotDriver::OVERLAY ? "overlayfs" : "native");
}

namespace {

using test::readFile;
using test::TempDir;

void writeFile(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
}

bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

ErrorKind kindOf(kj::Function<void()> call) {
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { call(); })) {
    return errorKind(*e);
  }
  ADD_FAILURE() << "the call succeeded";
  return ErrorKind::UNKNOWN;
}

class Mounted {
  // The snapshot's mounts made at `target` until destroyed.
public:
  Mounted(kj::ArrayPtr<const MountSpec> mounts, const std::string& target) : target(target) {
    capnp::MallocMessageBuilder message;
    auto list = message.getOrphanage().newOrphan<capnp::List<schema::Mount>>(mounts.size());
    fillMounts(list.get(), mounts);
    mountAll(list.getReader(), target.c_str());
  }
  ~Mounted() noexcept(false) { unmount(target.c_str()); }
  KJ_DISALLOW_COPY(Mounted);

private:
  std::string target;
};

class SnapshotterConformance : public testing::TestWithParam<SnapshotDriver> {
protected:
  ~SnapshotterConformance() noexcept override {}
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "the test mounts what the snapshotter describes";
    root = dir.path() + "/snapshotter";
    target = dir.path() + "/mnt";
    ASSERT_EQ(mkdir(root.c_str(), 0700), 0);
    ASSERT_EQ(mkdir(target.c_str(), 0755), 0);
    open();
  }

  void open() {
    s = nullptr;
    int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    s = kj::heap<Snapshotter>(GetParam(), kj::AutoCloseFd(fd), kj::str(root.c_str()));
  }

  kj::Vector<MountSpec> prepare(kj::StringPtr key, kj::StringPtr parent,
                                schema::Kind kind = schema::Kind::ACTIVE, Labels labels = {}) {
    KJ_IF_MAYBE(source, s->copySource(parent)) {
      auto staged = s->stageCopy(*source);
      return s->prepare(key, parent, kj::mv(labels), kind, staged.asPtr());
    }
    return s->prepare(key, parent, kj::mv(labels), kind);
  }

  void commit(kj::StringPtr name, kj::StringPtr key, Labels labels = {}) {
    auto fs = s->activeDirectory(key);
    s->commit(name, key, kj::mv(labels), diskUsage(fs));
  }

  template <typename Fill>
  void layer(kj::StringPtr name, kj::StringPtr parent, Fill fill) {
    // An active snapshot on `parent`, changed by `fill(mountpoint)`, committed as `name`.
    auto key = kj::str(name, "-active");
    auto mounts = prepare(key, parent);
    {
      Mounted m(mounts, target);
      fill(target);
    }
    commit(name, key);
  }

  TempDir dir;
  std::string root;
  std::string target;
  kj::Own<Snapshotter> s;
};

TEST_P(SnapshotterConformance, AChildSeesItsParentsFilesAndOnlyItsOwnChanges) {
  layer("base", "", [](const std::string& t) {
    ASSERT_EQ(mkdir((t + "/etc").c_str(), 0755), 0);
    writeFile(t + "/etc/hostname", "base\n");
    writeFile(t + "/etc/gone", "deleted above\n");
    writeFile(t + "/kept", "kept\n");
  });
  layer("top", "base", [](const std::string& t) {
    EXPECT_EQ(readFile(t + "/etc/hostname"), "base\n");
    writeFile(t + "/etc/hostname", "top\n");
    ASSERT_EQ(unlink((t + "/etc/gone").c_str()), 0);
    writeFile(t + "/new", "new\n");
  });
  prepare("look", "top", schema::Kind::VIEW);
  Mounted m(s->mounts("look"), target);
  EXPECT_EQ(readFile(target + "/etc/hostname"), "top\n");
  EXPECT_EQ(readFile(target + "/kept"), "kept\n");
  EXPECT_EQ(readFile(target + "/new"), "new\n");
  EXPECT_FALSE(exists(target + "/etc/gone"));
}

TEST_P(SnapshotterConformance, AParentIsUnchangedByItsChildren) {
  layer("base", "", [](const std::string& t) { writeFile(t + "/file", "base\n"); });
  layer("child", "base", [](const std::string& t) {
    writeFile(t + "/file", "child\n");
    writeFile(t + "/more", "more\n");
  });
  prepare("look", "base", schema::Kind::VIEW);
  Mounted m(s->mounts("look"), target);
  EXPECT_EQ(readFile(target + "/file"), "base\n");
  EXPECT_FALSE(exists(target + "/more"));
}

TEST_P(SnapshotterConformance, StatReportsKindParentAndLabels) {
  layer("base", "", [](const std::string&) {});
  Labels labels;
  setLabel(labels, kj::str("a"), kj::str("1"));
  prepare("work", "base", schema::Kind::ACTIVE, kj::mv(labels));
  prepare("look", "base", schema::Kind::VIEW);

  auto base = s->stat("base");
  EXPECT_EQ(base.kind, schema::Kind::COMMITTED);
  EXPECT_EQ(base.parent, "");
  auto work = s->stat("work");
  EXPECT_EQ(work.kind, schema::Kind::ACTIVE);
  EXPECT_EQ(work.parent, "base");
  ASSERT_EQ(work.labels.size(), 1u);
  EXPECT_EQ(KJ_ASSERT_NONNULL(work.labels.find("a")), "1");
  EXPECT_EQ(s->stat("look").kind, schema::Kind::VIEW);
  EXPECT_EQ(s->list().size(), 3u);

  // Labels given at commit replace the active snapshot's; none given keeps them.
  commit("work-done", "work");
  ASSERT_EQ(s->stat("work-done").labels.size(), 1u);
  EXPECT_EQ(kindOf([&]() { s->stat("work"); }), ErrorKind::NOT_FOUND);
}

TEST_P(SnapshotterConformance, TheRulesOfKindsAreContainerds) {
  layer("base", "", [](const std::string&) {});
  prepare("work", "base");
  prepare("look", "base", schema::Kind::VIEW);

  EXPECT_EQ(kindOf([&]() { prepare("work", "base"); }), ErrorKind::ALREADY_EXISTS);
  EXPECT_EQ(kindOf([&]() { prepare("x", "missing"); }), ErrorKind::NOT_FOUND);
  EXPECT_EQ(kindOf([&]() { prepare("x", "work"); }), ErrorKind::FAILED_PRECONDITION);
  EXPECT_EQ(kindOf([&]() { prepare("x", "look"); }), ErrorKind::FAILED_PRECONDITION);
  EXPECT_EQ(kindOf([&]() { s->mounts("base"); }), ErrorKind::FAILED_PRECONDITION);
  EXPECT_EQ(kindOf([&]() { commit("y", "look"); }), ErrorKind::FAILED_PRECONDITION);
  EXPECT_EQ(kindOf([&]() { commit("y", "base"); }), ErrorKind::FAILED_PRECONDITION);
  EXPECT_EQ(kindOf([&]() { commit("base", "work"); }), ErrorKind::ALREADY_EXISTS);
  EXPECT_EQ(kindOf([&]() { s->remove("missing"); }), ErrorKind::NOT_FOUND);
  auto tooLong = kj::heapString(4097);
  memset(tooLong.begin(), 'k', tooLong.size());
  for (kj::StringPtr bad : {""_kj, tooLong.asPtr()}) {
    EXPECT_EQ(kindOf([&]() { prepare(bad, ""); }), ErrorKind::INVALID_ARGUMENT);
  }
  // A failed call changed nothing.
  EXPECT_EQ(s->list().size(), 3u);
  EXPECT_EQ(s->stat("work").kind, schema::Kind::ACTIVE);
}

TEST_P(SnapshotterConformance, AParentWithChildrenCannotBeRemoved) {
  layer("base", "", [](const std::string& t) { writeFile(t + "/f", "x"); });
  layer("middle", "base", [](const std::string&) {});
  prepare("work", "middle");
  EXPECT_EQ(kindOf([&]() { s->remove("base"); }), ErrorKind::FAILED_PRECONDITION);
  EXPECT_EQ(kindOf([&]() { s->remove("middle"); }), ErrorKind::FAILED_PRECONDITION);
  s->remove("work");
  s->remove("middle");
  s->remove("base");
  EXPECT_EQ(s->list().size(), 0u);
  // Nothing is left on disk but the metadata.
  EXPECT_EQ(s->cleanup(), 0u);
  for (auto& name : listDirectory(s->directory())) {
    EXPECT_TRUE(name.startsWith("metadata.db")) << name.cStr();
  }
}

TEST_P(SnapshotterConformance, AViewIsReadOnly) {
  layer("base", "", [](const std::string& t) { writeFile(t + "/f", "x"); });
  prepare("look", "base", schema::Kind::VIEW);
  Mounted m(s->mounts("look"), target);
  errno = 0;
  int fd = ::open((target + "/new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  EXPECT_LT(fd, 0);
  EXPECT_EQ(errno, EROFS);
  if (fd >= 0) close(fd);
}

TEST_P(SnapshotterConformance, OwnersModesAndMovesOfLowerFilesCarryUp) {
  layer("base", "", [](const std::string& t) {
    ASSERT_EQ(mkdir((t + "/dir").c_str(), 0700), 0);
    writeFile(t + "/dir/owned", "o");
    writeFile(t + "/moved", "m");
    ASSERT_EQ(chmod(t.c_str(), 0750), 0);
  });
  layer("top", "base", [](const std::string& t) {
    ASSERT_EQ(chown((t + "/dir/owned").c_str(), 1234, 5678), 0);
    ASSERT_EQ(chmod((t + "/dir").c_str(), 0711), 0);
    ASSERT_EQ(rename((t + "/moved").c_str(), (t + "/dir/moved").c_str()), 0);
  });
  prepare("look", "top", schema::Kind::VIEW);
  Mounted m(s->mounts("look"), target);
  struct stat st;
  ASSERT_EQ(stat((target + "/dir/owned").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  ASSERT_EQ(stat((target + "/dir").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  // The root directory's mode, set in the lowest layer, holds at the top.
  ASSERT_EQ(stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_FALSE(exists(target + "/moved"));
  EXPECT_EQ(readFile(target + "/dir/moved"), "m");
}

TEST_P(SnapshotterConformance, ADirectoryRemovedAndRemadeHidesWhatWasBelow) {
  layer("base", "", [](const std::string& t) {
    ASSERT_EQ(mkdir((t + "/d").c_str(), 0755), 0);
    writeFile(t + "/d/old", "old");
  });
  layer("top", "base", [](const std::string& t) {
    ASSERT_EQ(unlink((t + "/d/old").c_str()), 0);
    ASSERT_EQ(rmdir((t + "/d").c_str()), 0);
    ASSERT_EQ(mkdir((t + "/d").c_str(), 0755), 0);
    writeFile(t + "/d/new", "new");
  });
  prepare("look", "top", schema::Kind::VIEW);
  Mounted m(s->mounts("look"), target);
  EXPECT_FALSE(exists(target + "/d/old"));
  EXPECT_EQ(readFile(target + "/d/new"), "new");
}

TEST_P(SnapshotterConformance, UsageCountsWhatAnActiveSnapshotHolds) {
  auto mounts = prepare("work", "");
  {
    Mounted m(mounts, target);
    writeFile(target + "/f", std::string(1 << 20, 'x'));
  }
  auto usage = s->usage("work");
  EXPECT_GE(usage.size, 1 << 20);
  EXPECT_GE(usage.inodes, 1);
  commit("done", "work");
  auto committed = s->usage("done");
  EXPECT_EQ(committed.size, usage.size);
  EXPECT_EQ(committed.inodes, usage.inodes);
}

TEST_P(SnapshotterConformance, SnapshotsAndTheirLabelsSurviveAReopen) {
  layer("base", "", [](const std::string& t) { writeFile(t + "/f", "x"); });
  auto record = s->stat("base");
  setLabel(record.labels, kj::str("containerd.io/gc.root"), kj::str("1"));
  s->putLabels(record);
  prepare("work", "base");
  open();
  EXPECT_EQ(s->list().size(), 2u);
  EXPECT_EQ(s->stat("base").labels.size(), 1u);
  EXPECT_EQ(s->stat("work").parent, "base");
  Mounted m(s->mounts("work"), target);
  EXPECT_EQ(readFile(target + "/f"), "x");
}

TEST_P(SnapshotterConformance, CleanupRemovesOnlyDirectoriesNoRecordOwns) {
  layer("base", "", [](const std::string& t) { writeFile(t + "/f", "x"); });
  // What a process killed between its steps leaves: a prepare's new directory, a remove's
  // renamed one, a copy nobody took over.
  for (const char* orphan : {"/new-77-1", "/rm-78", "/new-copy-0-1", "/79"}) {
    ASSERT_EQ(mkdir((root + orphan).c_str(), 0700), 0);
    writeFile(root + orphan + "/junk", "j");
  }
  EXPECT_EQ(s->cleanup(), 4u);
  prepare("look", "base", schema::Kind::VIEW);
  Mounted m(s->mounts("look"), target);
  EXPECT_EQ(readFile(target + "/f"), "x");
}

TEST_P(SnapshotterConformance, DeepChainsStack) {
  // More lower directories than one mount(2) option page holds (containerd's test uses 128);
  // native copies every parent whole, so its depth costs the square and proves less.
  const int LAYERS = GetParam() == SnapshotDriver::OVERLAY ? 130 : 40;
  kj::String parent = kj::str("");
  for (int i = 0; i < LAYERS; i++) {
    auto name = kj::str("layer-", i);
    layer(name, parent, [i](const std::string& t) {
      writeFile(t + "/file-" + std::to_string(i), std::to_string(i));
      writeFile(t + "/latest", std::to_string(i));
    });
    parent = kj::mv(name);
  }
  prepare("look", parent, schema::Kind::VIEW);
  Mounted m(s->mounts("look"), target);
  for (int i = 0; i < LAYERS; i++) {
    EXPECT_EQ(readFile(target + "/file-" + std::to_string(i)), std::to_string(i));
  }
  EXPECT_EQ(readFile(target + "/latest"), std::to_string(LAYERS - 1));
}

INSTANTIATE_TEST_SUITE_P(Drivers, SnapshotterConformance,
                         testing::Values(SnapshotDriver::OVERLAY, SnapshotDriver::NATIVE),
                         [](const testing::TestParamInfo<SnapshotDriver>& info) {
                           return info.param == SnapshotDriver::OVERLAY ? "overlayfs" : "native";
                         });

}  // namespace
}  // namespace ctrd
