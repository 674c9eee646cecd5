// Fuzz builds only: the two scalar multiplications of the packet layer, remembered.
// Include it in exactly one translation unit of a fuzz target.
//
// A handshake fuzz target builds a fresh endpoint per input from fixed seeds, so every
// input repeats the same Curve25519 work: the same short-term key pairs
// (crypto_scalarmult_base) and the same beforenm keys of the same pairs
// (crypto_box_beforenm): three to six of them per input, about half of a client input's
// time. Both are pure functions of their arguments, so the definitions below (which take
// precedence over libsodium's, as an executable's symbols interpose a shared library's)
// look the arguments up in a table and call libsodium's own function (dlsym RTLD_NEXT)
// only for arguments not seen recently: a public key the fuzzer mutated is computed for
// real, and every result is exactly what libsodium returns, including the failure for a
// low-order point. The boxes themselves (crypto_secretbox under those keys) still run for
// every packet. The table is not instrumented for coverage, so whether a lookup hits
// does not look like new behaviour to the fuzzer.
#pragma once

#include <dlfcn.h>
#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace curvecp::fuzz {

// A direct-mapped table of kSlots results, keyed by all the argument bytes.
template <size_t kArgBytes>
class ScalarMultCache {
 public:
  struct Entry {
    bool used = false;
    int rc = 0;
    std::array<uint8_t, kArgBytes> args{};
    std::array<uint8_t, 32> out{};
  };
  __attribute__((no_sanitize("coverage"))) Entry& slot(const std::array<uint8_t, kArgBytes>& args) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over a few bytes of each key
    for (size_t i = 0; i < kArgBytes; i += 7) h = (h ^ args[i]) * 1099511628211ull;
    return table_[h % kSlots];
  }

 private:
  static constexpr size_t kSlots = 4096;
  std::array<Entry, kSlots> table_{};
};

template <typename F>
__attribute__((no_sanitize("coverage"))) F libsodium_function(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == nullptr) std::abort();  // the fuzz target links libsodium: cannot happen
  return reinterpret_cast<F>(f);
}

}  // namespace curvecp::fuzz

extern "C" __attribute__((no_sanitize("coverage"))) int crypto_box_beforenm(unsigned char* k, const unsigned char* pk,
                                                                           const unsigned char* sk) {
  using Real = int (*)(unsigned char*, const unsigned char*, const unsigned char*);
  static const Real real = curvecp::fuzz::libsodium_function<Real>("crypto_box_beforenm");
  static auto* cache = new curvecp::fuzz::ScalarMultCache<64>;
  std::array<uint8_t, 64> args;
  std::memcpy(args.data(), pk, 32);
  std::memcpy(args.data() + 32, sk, 32);
  auto& e = cache->slot(args);
  if (!e.used || e.args != args) {
    e.rc = real(e.out.data(), pk, sk);
    e.args = args;
    e.used = true;
  }
  std::memcpy(k, e.out.data(), 32);
  return e.rc;
}

extern "C" __attribute__((no_sanitize("coverage"))) int crypto_scalarmult_base(unsigned char* q,
                                                                              const unsigned char* n) {
  using Real = int (*)(unsigned char*, const unsigned char*);
  static const Real real = curvecp::fuzz::libsodium_function<Real>("crypto_scalarmult_base");
  static auto* cache = new curvecp::fuzz::ScalarMultCache<32>;
  std::array<uint8_t, 32> args;
  std::memcpy(args.data(), n, 32);
  auto& e = cache->slot(args);
  if (!e.used || e.args != args) {
    e.rc = real(e.out.data(), n);
    e.args = args;
    e.used = true;
  }
  std::memcpy(q, e.out.data(), 32);
  return e.rc;
}
