// Key and nonce vocabulary of the CurveCP packet layer (CURVECP.md 0, 2.2).
// Distinct types for public, secret and shared keys so that they cannot be mixed up.
// Secrets are wiped on destruction (sodium_memzero) and compared in constant time;
// long-term secret keys live in sodium_malloc memory (guarded, mlocked where allowed).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/bytes.h"
#include "core/result.h"
#include "core/rng.h"

namespace curvecp {

inline constexpr size_t kKeyBytes = 32;        // crypto_box_PUBLICKEYBYTES == SECRETKEYBYTES == BEFORENMBYTES
inline constexpr size_t kExtensionBytes = 16;  // spec 2.1
inline constexpr size_t kServerNameBytes = 256;  // spec 3.12

using Extension = std::array<uint8_t, kExtensionBytes>;
using ServerName = std::array<uint8_t, kServerNameBytes>;
using Nonce16 = std::array<uint8_t, 16>;  // 16-byte nonce suffix (cookies, vouches)

struct PublicKey {
  std::array<uint8_t, kKeyBytes> bytes{};
  bool operator==(const PublicKey&) const = default;  // public data: ordinary compare is fine
  Bytes view() const { return bytes; }
};

struct PublicKeyHash {
  size_t operator()(const PublicKey& k) const;  // keys are uniformly random: first 8 bytes
};

// A Curve25519 secret key. Move-only; the bytes live in sodium_malloc memory and are
// wiped and freed on destruction.
class SecretKey {
 public:
  SecretKey();  // allocates, zero-filled
  ~SecretKey();
  SecretKey(SecretKey&&) noexcept;
  SecretKey& operator=(SecretKey&&) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;

  static SecretKey from_bytes(Bytes b);  // b.size() must be 32
  const uint8_t* data() const { return p_; }
  uint8_t* data() { return p_; }
  bool equals(const SecretKey& o) const;  // constant time

 private:
  uint8_t* p_ = nullptr;
};

// The precomputed crypto_box_beforenm key of two key pairs (session keys, minute keys, the
// nonce key). The 32 bytes live in a slot of a key arena: sodium_malloc'd chunks passed
// to sodium_mlock, which marks them MADV_DONTDUMP (never in a core dump) and locks them
// in RAM where RLIMIT_MEMLOCK allows. One guarded allocation per key would cost pages per
// connection. Wiped when the key is destroyed (the slot is reused). Copying copies the
// bytes into a slot of its own; there is no moved-from state.
class SharedKey {
 public:
  SharedKey();  // a zeroed slot
  ~SharedKey();
  SharedKey(const SharedKey& o);
  SharedKey& operator=(const SharedKey& o);

  // beforenm(pk, sk). Fails for low-order public keys (libsodium returns -1): callers drop
  // the packet (spec 0.2).
  static Result<SharedKey> compute(const PublicKey& pk, const SecretKey& sk);
  static SharedKey from_bytes(Bytes b);  // for secret-box keys (minute keys); size 32
  const uint8_t* data() const { return p_; }
  bool equals(const SharedKey& o) const;  // constant time

 private:
  friend bool compute_shared(const PublicKey& pk, const uint8_t* sk, SharedKey& out);  // crypto/box.h
  uint8_t* p_;
};

struct KeyPair {
  PublicKey pk;
  SecretKey sk;
  // sk = 32 bytes from rng, pk = scalarmult_base(sk). Deterministic under SeededRng.
  static KeyPair generate(Rng& rng);
};

// A source of unique 16-byte nonce suffixes for boxes under long-term keys (cookies,
// vouches). The key directory implements it with safenonce (crypto/keydir.h); tests use
// a counter. Failure means "nonce-generation disaster" (spec 1.4): the caller must stop.
class NonceSource {
 public:
  virtual ~NonceSource() = default;
  virtual Result<Nonce16> next_nonce16() = 0;
  // The last failure was temporary (another process held the nonce lock past the bounded
  // wait): not a disaster, a later call may succeed.
  virtual bool busy() const { return false; }
};

// Parses 32 hex digits into an extension (spec 2.10); false on anything else.
bool parse_extension(std::string_view hex, Extension& out);
// Parses 64 hex digits into a public key; false on anything else.
bool parse_public_key(std::string_view hex, PublicKey& out);

}  // namespace curvecp
