// Image records of one namespace (meta.db), pulling into it, and what an image adds up to.
#pragma once

#include <schema/images.capnp.h>

#include "api.h"

namespace ctrd {

void fillImage(schema::Image::Builder out, const ImageRecord& record);
void validateImageName(kj::StringPtr name);
// Not empty, at most 4 KiB, no NUL: `invalid argument` otherwise.

class NamespaceImages final : public schema::Images::Server {
public:
  NamespaceImages(kj::String ns, Backends& backends, kj::Maybe<kj::String> lease = nullptr)
      : ns(kj::mv(ns)), backends(backends), lease(kj::mv(lease)) {}
  // With a lease, a pull holds what it fetches and unpacks in it rather than in one of its own.

  kj::Promise<void> get(GetContext context) override;
  kj::Promise<void> list(ListContext context) override;
  kj::Promise<void> create(CreateContext context) override;
  kj::Promise<void> update(UpdateContext context) override;
  kj::Promise<void> delete_(DeleteContext context) override;
  kj::Promise<void> pull(PullContext context) override;
  kj::Promise<void> push(PushContext context) override;
  kj::Promise<void> pushObject(PushObjectContext context) override;
  kj::Promise<void> export_(ExportContext context) override;
  kj::Promise<void> import(ImportContext context) override;
  kj::Promise<void> usage(UsageContext context) override;

private:
  kj::String ns;
  Backends& backends;
  kj::Maybe<kj::String> lease;

  ImageRecord require(kj::StringPtr name);
};

}  // namespace ctrd
