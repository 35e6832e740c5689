// Content digests ("sha256:<64 lowercase hex>") and the SHA-256 hasher behind them.
#pragma once

#include <kj/array.h>
#include <kj/string.h>
#include <openssl/sha.h>

namespace ctrd {

constexpr kj::StringPtr SHA256_PREFIX = "sha256:"_kj;

bool isValidDigest(kj::StringPtr digest);
void validateDigest(kj::StringPtr digest);
// Throws `invalid digest "<d>": invalid argument`. Only sha256 is supported, as in containerd's
// default store.

kj::StringPtr digestHex(kj::StringPtr digest);
// The hex part of a valid digest.

class Sha256 {
  // An incremental SHA-256 whose state can be saved and restored, so that a resumed ingest only
  // hashes the bytes written since the state was saved.
public:
  Sha256();
  void update(kj::ArrayPtr<const kj::byte> data);
  kj::String digest() const;
  // "sha256:<hex>" of everything so far; the hasher may keep going.

  kj::Array<kj::byte> saveState() const;
  static kj::Maybe<Sha256> tryRestoreState(kj::ArrayPtr<const kj::byte> state);

private:
  SHA256_CTX ctx;
};

kj::String sha256Hex(kj::ArrayPtr<const kj::byte> data);

}  // namespace ctrd
