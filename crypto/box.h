// The two authenticated-encryption primitives of CurveCP (CURVECP.md 0.1) behind one small
// interface: a 24-byte nonce made of an ASCII prefix and a suffix taken from the wire, and
// boxes in wire format (16-byte authenticator first). Box[m]{X,Y} after beforenm and
// SecretBox[m]{K} are the same XSalsa20-Poly1305 construction, so one key type serves both.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "core/bytes.h"
#include "crypto/keys.h"

namespace curvecp {

inline constexpr size_t kNonceBytes = 24;  // crypto_box_NONCEBYTES == crypto_secretbox_NONCEBYTES

// A full 24-byte nonce. Nonces are public: no wiping needed.
struct Nonce24 {
  std::array<uint8_t, kNonceBytes> bytes{};
};

// prefix || suffix; the two must add up to 24 bytes (spec 2.2), checked by assert.
Nonce24 make_nonce(std::string_view prefix, Bytes suffix);
// prefix (16 bytes) || LE64(counter).
Nonce24 make_nonce(std::string_view prefix, uint64_t counter);

// Writes the box of `plain` (authenticator || ciphertext, plain.size() + 16 bytes) to `out`.
// `out` may alias `plain` exactly or not at all (libsodium "easy" API rule).
void seal_box(const SharedKey& key, const Nonce24& nonce, Bytes plain, uint8_t* out);
// Opens `boxed` (at least 16 bytes) into `out` (boxed.size() - 16 bytes). Returns false if
// the authenticator does not verify; `out` is then unspecified and must not be used.
[[nodiscard]] bool open_box(const SharedKey& key, const Nonce24& nonce, Bytes boxed, uint8_t* out);

// Overwrites `bytes` with zeros in a way the compiler cannot elide (sodium_memzero).
void wipe(MutableBytes bytes);
// Constant-time equality of two equal-length spans (sodium_memcmp); false if sizes differ.
bool equal_constant_time(Bytes a, Bytes b);

// A Curve25519 secret key that lives in an ordinary fixed array and is wiped on
// destruction: for short-term keys made per packet (the server's s' per Hello), where a
// guarded sodium_malloc allocation per packet would cost more than the scalar mult.
class EphemeralSecretKey {
 public:
  EphemeralSecretKey() = default;
  ~EphemeralSecretKey();
  EphemeralSecretKey(const EphemeralSecretKey&) = delete;
  EphemeralSecretKey& operator=(const EphemeralSecretKey&) = delete;

  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }

 private:
  std::array<uint8_t, kKeyBytes> bytes_{};
};

// Fills sk from `rng` and sets pk = scalarmult_base(sk).
void generate_ephemeral(Rng& rng, PublicKey& pk, EphemeralSecretKey& sk);
// beforenm(pk, sk) on raw secret bytes; false for low-order public keys (spec 0.2).
[[nodiscard]] bool compute_shared(const PublicKey& pk, const uint8_t* sk, SharedKey& out);

}  // namespace curvecp
