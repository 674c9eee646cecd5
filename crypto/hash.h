// Streaming BLAKE2b-256 (libsodium crypto_generichash), for checking that a pushed file
// arrived intact end to end (client/push_protocol.h). No key: this is an integrity check
// inside an already authenticated stream, not a MAC.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace curvecp {

inline constexpr std::size_t kBlake2bBytes = 32;
using Blake2bDigest = std::array<uint8_t, kBlake2bBytes>;

class Blake2b {
 public:
  Blake2b();
  ~Blake2b();
  Blake2b(Blake2b&&) noexcept;
  Blake2b& operator=(Blake2b&&) noexcept;
  Blake2b(const Blake2b& other);  // a snapshot: hashing a prefix, then continuing
  Blake2b& operator=(const Blake2b&) = delete;

  void update(std::span<const uint8_t> bytes);
  // The digest of everything given so far; the state itself is left unchanged, so
  // hashing may continue.
  Blake2bDigest digest() const;

  // One call: the digest of `bytes`.
  static Blake2bDigest of(std::span<const uint8_t> bytes);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace curvecp
