// ctr images export and import: image archives (OCI image layout tars, and `docker save` tars
// in), with containerd 1.6's flags. The file is opened here and its fd handed on: the bytes go
// between it and containerd-content, never through the daemon's messages.
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <memory>

#include "commands.h"

namespace ctrd::ctr {
namespace {

kj::AutoCloseFd openArchive(const std::string& file, bool write) {
  if (file == "-")
    return kj::AutoCloseFd(fcntl(write ? STDOUT_FILENO : STDIN_FILENO, F_DUPFD_CLOEXEC, 3));
  int fd = write ? open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
                 : open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("failed to open " + file + ": " + strerror(errno));
  }
  return kj::AutoCloseFd(fd);
}

void setStrings(capnp::List<capnp::Text>::Builder out, const std::vector<std::string>& in) {
  for (size_t i = 0; i < in.size(); i++) out.set(i, in[i].c_str());
}

}  // namespace

void registerImageArchive(CLI::App& images, std::vector<Command>& commands,
                          const Globals& globals) {
  struct ExportFlags {
    std::string file;
    std::vector<std::string> refs;
    std::vector<std::string> platforms;
    bool allPlatforms = false;
    bool skipManifestJson = false;
  };
  auto ef = std::make_shared<ExportFlags>();
  auto* exp = images.add_subcommand("export", "export images");
  exp->add_option("file", ef->file, "the archive to write (- for stdout)")->required();
  exp->add_option("refs", ef->refs, "the images to export")->required();
  exp->add_option("--platform", ef->platforms,
                  "export content from a specific platform (repeatable)");
  exp->add_flag("--all-platforms", ef->allPlatforms, "exports content from all platforms");
  exp->add_flag("--skip-manifest-json", ef->skipManifestJson,
                "do not add Docker compatible manifest.json to archive");
  commands.push_back({exp, [&globals, ef](DaemonClient& client) {
                        auto sink = openArchive(ef->file, true);
                        auto images = client.ns(globals.ns.c_str()).imagesRequest().send();
                        auto req = images.getImages().exportRequest();
                        setStrings(req.initNames(ef->refs.size()), ef->refs);
                        auto options = req.initOptions();
                        setStrings(options.initPlatforms(ef->platforms.size()), ef->platforms);
                        options.setAllPlatforms(ef->allPlatforms);
                        options.setSkipManifestJson(ef->skipManifestJson);
                        req.setSink(kj::heap<FdServer<schema::Sink>>(kj::mv(sink)));
                        try {
                          req.send().wait(client.waitScope());
                        } catch (...) {
                          // No half-written archive is left behind under the name asked for.
                          if (ef->file != "-") unlink(ef->file.c_str());
                          throw;
                        }
                      }});

  struct ImportFlags {
    std::string file;
    std::string baseName;
    bool digests = false;
    bool allPlatforms = false;
    std::vector<std::string> platforms;
    bool noUnpack = false;
    std::string snapshotter;
  };
  auto imf = std::make_shared<ImportFlags>();
  auto* imp = images.add_subcommand("import", "import images");
  imp->add_option("file", imf->file, "an OCI image layout or docker save tar (- for stdin)")
      ->required();
  imp->add_option("--base-name", imf->baseName,
                  "base image name for added images, when provided only images with this name "
                  "prefix are imported");
  imp->add_flag("--digests", imf->digests, "whether to create digest images (default: false)");
  imp->add_flag("--all-platforms", imf->allPlatforms, "imports content for all platforms");
  imp->add_option("--platform", imf->platforms, "imports content for a specific platform");
  imp->add_flag("--no-unpack", imf->noUnpack, "skip unpacking the images");
  imp->add_option("--snapshotter", imf->snapshotter, "snapshotter name")
      ->envname("CONTAINERD_SNAPSHOTTER");
  commands.push_back({imp, [&globals, imf](DaemonClient& client) {
                        auto source = openArchive(imf->file, false);
                        auto images = client.ns(globals.ns.c_str()).imagesRequest().send();
                        auto req = images.getImages().importRequest();
                        req.setSource(kj::heap<FdServer<schema::Source>>(kj::mv(source)));
                        auto options = req.initOptions();
                        options.setBaseName(imf->baseName.c_str());
                        options.setDigests(imf->digests);
                        options.setAllPlatforms(imf->allPlatforms);
                        setStrings(options.initPlatforms(imf->platforms.size()), imf->platforms);
                        options.setUnpack(!imf->noUnpack);
                        options.setSnapshotter(imf->snapshotter.c_str());
                        auto response = req.send().wait(client.waitScope());
                        for (auto image : response.getImages()) {
                          if (imf->noUnpack) continue;
                          printf("unpacking %s (%s)...done\n", image.getName().cStr(),
                                 image.getTarget().getDigest().cStr());
                        }
                      }});
}

}  // namespace ctrd::ctr
