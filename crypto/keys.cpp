#include "crypto/keys.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "crypto/box.h"

namespace curvecp {

static_assert(kKeyBytes == crypto_box_PUBLICKEYBYTES);
static_assert(kKeyBytes == crypto_box_SECRETKEYBYTES);
static_assert(kKeyBytes == crypto_box_BEFORENMBYTES);
static_assert(kKeyBytes == crypto_secretbox_KEYBYTES);
static_assert(kKeyBytes == crypto_scalarmult_BYTES);
static_assert(kKeyBytes == crypto_scalarmult_SCALARBYTES);

size_t PublicKeyHash::operator()(const PublicKey& k) const { return static_cast<size_t>(load_le64(k.bytes.data())); }

namespace {
uint8_t* allocate_secret() {
  // sodium_malloc needs sodium_init (page size); it is idempotent and cheap afterwards.
  static const bool initialised = sodium_init() >= 0;
  void* p = initialised ? sodium_malloc(kKeyBytes) : nullptr;
  if (p == nullptr) {
    // Out of memory for a 32-byte guarded page: nothing sensible can continue.
    std::fputs("curvecp: fatal: cannot allocate secure memory for a secret key\n", stderr);
    std::abort();
  }
  std::memset(p, 0, kKeyBytes);
  return static_cast<uint8_t*>(p);
}
}  // namespace

SecretKey::SecretKey() : p_(allocate_secret()) {}

SecretKey::~SecretKey() {
  // sodium_free wipes the region before unmapping it.
  if (p_ != nullptr) sodium_free(p_);
}

SecretKey::SecretKey(SecretKey&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }

SecretKey& SecretKey::operator=(SecretKey&& o) noexcept {
  if (this != &o) {
    if (p_ != nullptr) sodium_free(p_);
    p_ = o.p_;
    o.p_ = nullptr;
  }
  return *this;
}

SecretKey SecretKey::from_bytes(Bytes b) {
  SecretKey k;
  if (b.size() == kKeyBytes) std::memcpy(k.p_, b.data(), kKeyBytes);
  return k;
}

bool SecretKey::equals(const SecretKey& o) const {
  if (p_ == nullptr || o.p_ == nullptr) return p_ == o.p_;
  return sodium_memcmp(p_, o.p_, kKeyBytes) == 0;
}

namespace {

// Slots for SharedKey bytes in chunks that stay out of core dumps (see keys.h). Never
// destroyed: keys in static objects may die after it would have. Single-threaded use is
// the norm; the mutex keeps tests that make keys in several threads correct.
class KeyArena {
 public:
  uint8_t* take() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.empty()) grow();
    uint8_t* p = free_.back();
    free_.pop_back();
    return p;
  }
  void give(uint8_t* p) {
    sodium_memzero(p, kKeyBytes);
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(p);
  }

 private:
  static constexpr size_t kChunkBytes = 64 * 1024;  // 2048 keys
  void grow() {
    static const bool initialised = sodium_init() >= 0;
    void* chunk = initialised ? sodium_malloc(kChunkBytes) : nullptr;
    if (chunk == nullptr) {
      std::fputs("curvecp: fatal: cannot allocate secure memory for keys\n", stderr);
      std::abort();
    }
    // MADV_DONTDUMP, then mlock (which may fail under RLIMIT_MEMLOCK: the keys then stay
    // swappable but still never reach a core dump).
    (void)sodium_mlock(chunk, kChunkBytes);
    std::memset(chunk, 0, kChunkBytes);
    auto* bytes = static_cast<uint8_t*>(chunk);
    for (size_t off = kChunkBytes; off >= kKeyBytes; off -= kKeyBytes) free_.push_back(bytes + off - kKeyBytes);
  }
  std::mutex mutex_;
  std::vector<uint8_t*> free_;
};

KeyArena& key_arena() {
  static KeyArena* arena = new KeyArena;
  return *arena;
}

}  // namespace

SharedKey::SharedKey() : p_(key_arena().take()) {}

SharedKey::~SharedKey() { key_arena().give(p_); }

SharedKey::SharedKey(const SharedKey& o) : p_(key_arena().take()) { std::memcpy(p_, o.p_, kKeyBytes); }

SharedKey& SharedKey::operator=(const SharedKey& o) {
  if (this != &o) std::memcpy(p_, o.p_, kKeyBytes);
  return *this;
}

Result<SharedKey> SharedKey::compute(const PublicKey& pk, const SecretKey& sk) {
  SharedKey k;
  if (sk.data() == nullptr || !compute_shared(pk, sk.data(), k)) {
    return make_error("public key is a low-order point");
  }
  return k;
}

SharedKey SharedKey::from_bytes(Bytes b) {
  SharedKey k;
  if (b.size() == kKeyBytes) std::memcpy(k.p_, b.data(), kKeyBytes);
  return k;
}

bool SharedKey::equals(const SharedKey& o) const { return sodium_memcmp(p_, o.p_, kKeyBytes) == 0; }

KeyPair KeyPair::generate(Rng& rng) {
  KeyPair kp;
  rng.fill(std::span<uint8_t>(kp.sk.data(), kKeyBytes));
  crypto_scalarmult_base(kp.pk.bytes.data(), kp.sk.data());
  return kp;
}

bool parse_extension(std::string_view hex, Extension& out) { return decode_hex(hex, out); }

bool parse_public_key(std::string_view hex, PublicKey& out) { return decode_hex(hex, out.bytes); }

}  // namespace curvecp
