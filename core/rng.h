// Randomness is injected: the sans-I/O layers take an Rng& and never read the OS source.
// The runtime passes a libsodium-backed generator (crypto/sodium_rng.h); tests and the
// simulator pass SeededRng so every run is reproducible from its seed.
#pragma once

#include <cstdint>
#include <span>

namespace curvecp {

class Rng {
 public:
  virtual ~Rng() = default;
  // Fill `out` with random bytes.
  virtual void fill(std::span<uint8_t> out) = 0;

  uint64_t next_u64();
  // Uniform in [0, bound); 0 when bound <= 1 (CURVECP.md 7: "rand(k)").
  uint64_t uniform(uint64_t bound);
  // Uniform double in [0, 1).
  double unit();
};

// Deterministic generator (xoshiro256** seeded by splitmix64). Not for secrets.
class SeededRng final : public Rng {
 public:
  explicit SeededRng(uint64_t seed);
  void fill(std::span<uint8_t> out) override;
  uint64_t next();

 private:
  uint64_t s_[4];
};

}  // namespace curvecp
