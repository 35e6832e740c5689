// ctr content: ls, get, ingest, rm, label, active.
#include <common/errors.h>
#include <common/rpc.h>
#include <errno.h>
#include <fcntl.h>
#include <kj/debug.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "commands.h"
#include "format.h"

namespace ctrd::ctr {
namespace {

void writeAllOut(const kj::byte* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDOUT_FILENO, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) KJ_FAIL_SYSCALL("write stdout", errno);
    p += w;
    n -= w;
  }
}

void copyBlobToStdout(DaemonClient& client, schema::Blob::Client blob) {
  KJ_IF_MAYBE(fd, blob.getFd().wait(client.waitScope())) {
    // Local: the blob's own read-only fd, straight to stdout in the kernel where it can.
    off_t offset = 0;
    for (;;) {
      ssize_t n = sendfile(STDOUT_FILENO, *fd, &offset, 1 << 30);
      if (n == 0) return;
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EINVAL && errno != ENOSYS) KJ_FAIL_SYSCALL("sendfile", errno);
        break;
      }
    }
    auto buf = kj::heapArray<kj::byte>(1 << 20);
    for (;;) {
      ssize_t n = pread(*fd, buf.begin(), buf.size(), offset);
      if (n < 0) KJ_FAIL_SYSCALL("pread", errno);
      if (n == 0) return;
      writeAllOut(buf.begin(), n);
      offset += n;
    }
  }
  int64_t offset = 0;
  for (;;) {
    auto req = blob.readRequest();
    req.setOffset(offset);
    req.setSize(1 << 20);
    auto dataResponse = req.send().wait(client.waitScope());
    auto data = dataResponse.getData();
    if (data.size() == 0) return;
    writeAllOut(data.begin(), data.size());
    offset += data.size();
  }
}

}  // namespace

void registerContent(CLI::App& root, std::vector<Command>& commands, const Globals& globals) {
  auto* content = root.add_subcommand("content", "manage content");
  registerContentTransfer(*content, commands, globals);
  content->require_subcommand(1);

  // ls
  auto* ls = content->add_subcommand("list", "list all blobs in the store");
  ls->alias("ls");
  auto* quiet = ls->add_flag("--quiet,-q", "print only the blob digest");
  auto lsFilters = std::make_shared<std::vector<std::string>>();
  ls->add_option("filters", *lsFilters, "filters, e.g. labels.\"containerd.io/gc.root\"");
  commands.push_back(
      {ls, [&globals, quiet, lsFilters](DaemonClient& client) {
         auto req = client.ns(globals.ns.c_str()).contentRequest().send().getStore().listRequest();
         auto filters = req.initFilters(lsFilters->size());
         for (size_t i = 0; i < lsFilters->size(); i++) filters.set(i, (*lsFilters)[i].c_str());
         auto response = req.send().wait(client.waitScope());
         if (quiet->count() > 0) {
           for (auto info : response.getInfos()) printf("%s\n", info.getDigest().cStr());
           return;
         }
         Table table({"DIGEST", "SIZE", "AGE", "LABELS"});
         for (auto info : response.getInfos()) {
           table.add({info.getDigest().cStr(), humanSize(info.getSize()),
                      ageOf(info.getCreatedAt()), labelsText(info.getLabels(), "")});
         }
         table.print();
       }});

  // get
  auto* get = content->add_subcommand("get", "get the data for an object");
  auto getDigest = std::make_shared<std::string>();
  get->add_option("digest", *getDigest, "the blob's digest")->required();
  commands.push_back(
      {get, [&globals, getDigest](DaemonClient& client) {
         auto req = client.ns(globals.ns.c_str()).contentRequest().send().getStore().readRequest();
         req.setDigest(getDigest->c_str());
         copyBlobToStdout(client, req.send().getBlob());
       }});

  // ingest
  auto* ingest = content->add_subcommand("ingest", "accept content into the store from stdin");
  auto ref = std::make_shared<std::string>();
  auto expectedSize = std::make_shared<int64_t>(0);
  auto expectedDigest = std::make_shared<std::string>();
  ingest->add_option("ref", *ref, "the ingest ref; the same ref resumes an interrupted ingest")
      ->required();
  ingest->add_option("--expected-size", *expectedSize, "validate against the provided size");
  ingest->add_option("--expected-digest", *expectedDigest,
                     "verify content against the expected digest");
  commands.push_back({ingest, [&globals, ref, expectedSize, expectedDigest](DaemonClient& client) {
                        auto store =
                            client.ns(globals.ns.c_str()).contentRequest().send().getStore();
                        auto open = store.writerRequest();
                        open.setRef(ref->c_str());
                        open.setExpectedDigest(expectedDigest->c_str());
                        open.setExpectedSize(*expectedSize);
                        auto writer = open.send().getWriter();
                        auto copy = writer.copyFromRequest();
                        // Our stdin, for the content service to read and hash itself.
                        copy.setSource(kj::heap<FdServer<schema::Source>>(
                            kj::AutoCloseFd(fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3))));
                        copy.send().wait(client.waitScope());
                        auto commit = writer.commitRequest();
                        commit.setSize(*expectedSize);
                        commit.setDigest(expectedDigest->c_str());
                        commit.send().wait(client.waitScope());
                      }});

  // rm
  auto* rm = content->add_subcommand("delete", "permanently delete one or more blobs");
  rm->alias("rm");
  rm->alias("del");
  rm->alias("remove");
  auto rmDigests = std::make_shared<std::vector<std::string>>();
  rm->add_option("digests", *rmDigests, "the blobs to delete")->required();
  commands.push_back(
      {rm, [&globals, rmDigests](DaemonClient& client) {
         auto store = client.ns(globals.ns.c_str()).contentRequest().send().getStore();
         kj::Maybe<kj::Exception> first;
         for (auto& digest : *rmDigests) {
           auto req = store.deleteRequest();
           req.setDigest(digest.c_str());
           KJ_IF_MAYBE(e,
                       kj::runCatchingExceptions([&]() { req.send().wait(client.waitScope()); })) {
             fprintf(stderr, "ctr: unable to delete %s: %s\n", digest.c_str(),
                     errorMessage(*e).cStr());
             if (first == nullptr) first = kj::mv(*e);
           }
         }
         KJ_IF_MAYBE(e, first) {
           kj::throwFatalException(kj::mv(*e));
         }
       }});

  // label
  auto* label = content->add_subcommand("label", "add labels to content");
  auto labelDigest = std::make_shared<std::string>();
  auto labelArgs = std::make_shared<std::vector<std::string>>();
  label->add_option("digest", *labelDigest, "the blob")->required();
  label->add_option("labels", *labelArgs, "key=value; key= removes the label");
  commands.push_back(
      {label, [&globals, labelDigest, labelArgs](DaemonClient& client) {
         auto req =
             client.ns(globals.ns.c_str()).contentRequest().send().getStore().updateRequest();
         req.setDigest(labelDigest->c_str());
         auto labels = req.initLabels(labelArgs->size());
         auto paths = req.initFieldpaths(labelArgs->size());
         for (size_t i = 0; i < labelArgs->size(); i++) {
           auto& arg = (*labelArgs)[i];
           auto eq = arg.find('=');
           auto key = arg.substr(0, eq);
           labels[i].setKey(key.c_str());
           labels[i].setValue(eq == std::string::npos ? "" : arg.substr(eq + 1).c_str());
           paths.set(i, ("labels." + key).c_str());
         }
         auto infoResponse = req.send().wait(client.waitScope());
         auto info = infoResponse.getInfo();
         printf("updated %s\n", info.getDigest().cStr());
       }});

  // active
  auto* active = content->add_subcommand("active", "display active transfers");
  auto activeFilters = std::make_shared<std::vector<std::string>>();
  active->add_option("filters", *activeFilters, "filters on ref");
  commands.push_back(
      {active, [&globals, activeFilters](DaemonClient& client) {
         auto req =
             client.ns(globals.ns.c_str()).contentRequest().send().getStore().listStatusesRequest();
         auto filters = req.initFilters(activeFilters->size());
         for (size_t i = 0; i < activeFilters->size(); i++)
           filters.set(i, (*activeFilters)[i].c_str());
         auto response = req.send().wait(client.waitScope());
         Table table({"REF", "SIZE", "AGE"});
         for (auto s : response.getStatuses()) {
           table.add({s.getRef().cStr(), humanSize(s.getOffset()), ageOf(s.getStartedAt())});
         }
         table.print();
       }});
}

}  // namespace ctrd::ctr
