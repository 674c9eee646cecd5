#include "crypto/sodium_rng.h"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace curvecp {

static_assert(crypto_stream_chacha20_KEYBYTES == 32);

SodiumRng::SodiumRng() {
  // Idempotent. Without libsodium there is no random source at all, and carrying on with a
  // zero key would hand out predictable keys: stop instead.
  if (sodium_init() < 0) {
    std::fputs("curvecp: fatal: libsodium failed to initialise\n", stderr);
    std::abort();
  }
  randombytes_buf(key_.data(), key_.size());
}

SodiumRng::~SodiumRng() {
  sodium_memzero(key_.data(), key_.size());
  sodium_memzero(block_.data(), block_.size());
}

void SodiumRng::refill() {
  if (++refills_ % kReseedRefills == 0) {
    std::array<uint8_t, 32> fresh;
    randombytes_buf(fresh.data(), fresh.size());
    for (size_t i = 0; i < key_.size(); ++i) key_[i] ^= fresh[i];
    sodium_memzero(fresh.data(), fresh.size());
  }
  // Each key is used for exactly one block, so a constant nonce never repeats a (key, nonce)
  // pair.
  static constexpr std::array<uint8_t, crypto_stream_chacha20_NONCEBYTES> kZeroNonce{};
  crypto_stream_chacha20(block_.data(), block_.size(), kZeroNonce.data(), key_.data());
  std::memcpy(key_.data(), block_.data(), key_.size());
  sodium_memzero(block_.data(), key_.size());
  position_ = key_.size();
}

void SodiumRng::fill(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    if (position_ == block_.size()) refill();
    const size_t n = std::min(out.size() - done, block_.size() - position_);
    std::memcpy(out.data() + done, block_.data() + position_, n);
    sodium_memzero(block_.data() + position_, n);
    position_ += n;
    done += n;
  }
}

}  // namespace curvecp
