// The runtime's random source: a fast CSPRNG so that the daemon never calls into the OS
// random device per packet (every Hello needs 32 random bytes for S'/s', every connection
// a nonce start, safenonce 8 bytes per cookie).
//
// Construction ("fast key erasure", D. J. Bernstein, 2017): a 32-byte ChaCha20 key is
// seeded from randombytes_buf; each refill expands the key into a 512-byte keystream
// block, the first 32 bytes of which immediately replace the key, and the rest is handed
// out once and wiped as it goes. A compromise of the state therefore reveals no output
// already given. Every kReseedRefills refills fresh OS randomness is mixed into the key.
//
// Not thread-safe: one instance per thread. After fork() the child must not keep using
// the parent's instance (both would produce the same stream); the daemon execs children.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/rng.h"

namespace curvecp {

class SodiumRng final : public Rng {
 public:
  // Seeds from randombytes_buf. libsodium must be initialised (crypto/init.h); the
  // constructor does so itself if needed.
  SodiumRng();
  ~SodiumRng() override;
  SodiumRng(const SodiumRng&) = delete;
  SodiumRng& operator=(const SodiumRng&) = delete;

  void fill(std::span<uint8_t> out) override;

 private:
  static constexpr size_t kBlockBytes = 512;
  static constexpr uint64_t kReseedRefills = 4096;  // about 2 MB of output per reseed

  void refill();

  std::array<uint8_t, 32> key_{};
  std::array<uint8_t, kBlockBytes> block_{};
  size_t position_ = kBlockBytes;  // next unused byte of block_
  uint64_t refills_ = 0;
};

}  // namespace curvecp
