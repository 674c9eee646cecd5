#include "crypto/box.h"

#include <sodium.h>

#include <cassert>
#include <cstring>

namespace curvecp {

static_assert(kNonceBytes == crypto_box_NONCEBYTES);
static_assert(kNonceBytes == crypto_secretbox_NONCEBYTES);
static_assert(crypto_box_MACBYTES == 16 && crypto_secretbox_MACBYTES == 16);

Nonce24 make_nonce(std::string_view prefix, Bytes suffix) {
  assert(prefix.size() + suffix.size() == kNonceBytes);
  Nonce24 n;
  std::memcpy(n.bytes.data(), prefix.data(), prefix.size());
  std::memcpy(n.bytes.data() + prefix.size(), suffix.data(), suffix.size());
  return n;
}

Nonce24 make_nonce(std::string_view prefix, uint64_t counter) {
  assert(prefix.size() == 16);
  Nonce24 n;
  std::memcpy(n.bytes.data(), prefix.data(), 16);
  store_le64(n.bytes.data() + 16, counter);
  return n;
}

// crypto_box_easy_afternm is crypto_secretbox_easy under the beforenm key, so a single
// call covers Box and SecretBox (spec 0.1, 0.2).
void seal_box(const SharedKey& key, const Nonce24& nonce, Bytes plain, uint8_t* out) {
  crypto_secretbox_easy(out, plain.data(), plain.size(), nonce.bytes.data(), key.data());
}

bool open_box(const SharedKey& key, const Nonce24& nonce, Bytes boxed, uint8_t* out) {
  if (boxed.size() < crypto_secretbox_MACBYTES) return false;
  return crypto_secretbox_open_easy(out, boxed.data(), boxed.size(), nonce.bytes.data(), key.data()) == 0;
}

void wipe(MutableBytes bytes) {
  if (!bytes.empty()) sodium_memzero(bytes.data(), bytes.size());
}

bool equal_constant_time(Bytes a, Bytes b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

EphemeralSecretKey::~EphemeralSecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

void generate_ephemeral(Rng& rng, PublicKey& pk, EphemeralSecretKey& sk) {
  rng.fill(std::span<uint8_t>(sk.data(), kKeyBytes));
  crypto_scalarmult_base(pk.bytes.data(), sk.data());
}

bool compute_shared(const PublicKey& pk, const uint8_t* sk, SharedKey& out) {
  return crypto_box_beforenm(out.p_, pk.bytes.data(), sk) == 0;
}

}  // namespace curvecp
