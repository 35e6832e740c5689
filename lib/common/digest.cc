// SHA256_CTX is deprecated in OpenSSL 3 in favour of EVP, but EVP cannot save and restore a
// running hash; the low-level calls use the same SHA-NI code.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "digest.h"

#include <kj/encoding.h>
#include <string.h>

#include "errors.h"

namespace ctrd {

bool isValidDigest(kj::StringPtr digest) {
  if (!digest.startsWith(SHA256_PREFIX)) return false;
  auto hex = digest.slice(SHA256_PREFIX.size());
  if (hex.size() != 64) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void validateDigest(kj::StringPtr digest) {
  if (!isValidDigest(digest)) {
    throwError(ErrorKind::INVALID_ARGUMENT, kj::str("invalid digest \"", digest, "\""));
  }
}

kj::StringPtr digestHex(kj::StringPtr digest) {
  return digest.slice(SHA256_PREFIX.size());
}

Sha256::Sha256() {
  SHA256_Init(&ctx);
}

void Sha256::update(kj::ArrayPtr<const kj::byte> data) {
  SHA256_Update(&ctx, data.begin(), data.size());
}

kj::String Sha256::digest() const {
  SHA256_CTX copy = ctx;
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256_Final(out, &copy);
  return kj::str(SHA256_PREFIX, kj::encodeHex(kj::arrayPtr(out, sizeof(out))));
}

kj::Array<kj::byte> Sha256::saveState() const {
  auto out = kj::heapArray<kj::byte>(sizeof(ctx));
  memcpy(out.begin(), &ctx, sizeof(ctx));
  return out;
}

kj::Maybe<Sha256> Sha256::tryRestoreState(kj::ArrayPtr<const kj::byte> state) {
  if (state.size() != sizeof(SHA256_CTX)) return nullptr;
  Sha256 h;
  memcpy(&h.ctx, state.begin(), sizeof(h.ctx));
  return h;
}

kj::String sha256Hex(kj::ArrayPtr<const kj::byte> data) {
  Sha256 h;
  h.update(data);
  return kj::str(digestHex(h.digest()));
}

}  // namespace ctrd
