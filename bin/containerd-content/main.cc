// containerd-content: the content-addressed blob store and the registry client.
#include <common/service-main.h>
#include <kj/debug.h>

#include <curlpp/cURLpp.hpp>

#include "content-server.h"

int main(int argc, char** argv) {
  // libcurl's global state, set up once before any thread (and before the sandbox).
  curlpp::Cleanup curl;
  return ctrd::serviceMain(argc, argv, ctrd::ServiceKind::CONTENT,
                           [](ctrd::ServiceContext& context) -> capnp::Capability::Client {
                             auto root = kj::mv(KJ_ASSERT_NONNULL(context.root));
                             context.root = nullptr;
                             return kj::heap<ctrd::ContentStoreServer>(
                                 kj::heap<ctrd::BlobStore>(kj::mv(root)),
                                 context.io.provider->getTimer());
                           });
}
