// Streaming BLAKE2b-256 over libsodium's crypto_generichash (see hash.h).
#include "crypto/hash.h"

#include <sodium.h>

namespace curvecp {

static_assert(kBlake2bBytes == crypto_generichash_BYTES);

struct Blake2b::State {
  crypto_generichash_state s;
};

Blake2b::Blake2b() : state_(std::make_unique<State>()) {
  crypto_generichash_init(&state_->s, nullptr, 0, kBlake2bBytes);
}

Blake2b::~Blake2b() = default;
Blake2b::Blake2b(Blake2b&&) noexcept = default;
Blake2b& Blake2b::operator=(Blake2b&&) noexcept = default;
Blake2b::Blake2b(const Blake2b& other) : state_(std::make_unique<State>(*other.state_)) {}

void Blake2b::update(std::span<const uint8_t> bytes) {
  crypto_generichash_update(&state_->s, bytes.data(), bytes.size());
}

Blake2bDigest Blake2b::digest() const {
  // crypto_generichash_final consumes the state, so finish a copy.
  State copy = *state_;
  Blake2bDigest out{};
  crypto_generichash_final(&copy.s, out.data(), out.size());
  return out;
}

Blake2bDigest Blake2b::of(std::span<const uint8_t> bytes) {
  Blake2b h;
  h.update(bytes);
  return h.digest();
}

}  // namespace curvecp
