// Key directories, byte-compatible with curvecpmakekey / curvecpprintkey (CURVECP.md 1),
// and the safenonce scheme for 16-byte nonces under long-term keys (spec 1.4).
// This is the only part of crypto/ that touches files; the engines never do.
#pragma once

#include <string>

#include "core/result.h"
#include "core/rng.h"
#include "crypto/keys.h"

namespace curvecp {

// Creates DIR exactly as curvecpmakekey does (modes 0755/0700/0644/0600, lock, noncekey,
// noncecounter = 0, every file fsync'ed). An existing DIR is an error.
Status make_key_directory(const std::string& dir, Rng& rng);

Result<PublicKey> load_public_key(const std::string& dir);
// Reads DIR/.expertsonly/secretkey (exactly 32 bytes). Key paths are opened without
// following symbolic links (DIR itself, .expertsonly and the file: O_NOFOLLOW). Refuses,
// with one line naming the file, a secret key readable or writable by group or others
// or owned by another user than the effective one.
Result<SecretKey> load_secret_key(const std::string& dir);

// Start-up check for a server or client that will draw nonces from DIR: the lock file
// and the nonce counter open read-write, the nonce key opens for reading, and the counter
// is a regular file of at least 8 bytes. Nothing is written, locked or advanced. Fails
// with one line naming the file, e.g. "nonce counter not writable:
// DIR/.expertsonly/noncecounter: Read-only file system", so that a key directory that
// would make the first next_nonce16() a disaster is refused before "listening".
Status check_nonce_files(const std::string& dir);

// safenonce (spec 1.4): lockf-serialised counter reservation in DIR/.expertsonly, TEA-64
// encryption under noncekey. `long_term` reserves 2^20 values per disk update (server),
// otherwise 1 (client vouch). Opens the directory by descriptor at creation, so a later
// chdir does not matter.
// The lock is never waited for without bound: it is tried for at most lock_wait_ms
// (set_lock_wait_ms); past that next_nonce16() fails with "nonce lock busy: ..." and busy()
// is true, and for the next second further calls fail at once the same way (an event loop
// calling it stalls for at most lock_wait_ms per second while another process holds the
// lock). The disk update with its fsync happens once per reservation (2^20 values for a
// server). probe_lock() takes and releases the lock once (a server's start-up check).
class KeyDirNonceSource final : public NonceSource {
 public:
  static Result<std::unique_ptr<KeyDirNonceSource>> open(const std::string& dir, bool long_term, Rng& rng);
  ~KeyDirNonceSource() override;
  Result<Nonce16> next_nonce16() override;
  bool busy() const override { return busy_; }
  // Takes the lock, waiting at most wait_ms, and releases it: "nonce lock busy: ..." when
  // another process held it all that time. Changes nothing on disk.
  Status probe_lock(int wait_ms);
  void set_lock_wait_ms(int ms) { lock_wait_ms_ = ms; }

 private:
  KeyDirNonceSource() = default;
  // The lock's descriptor, or -1 (busy_ set when the wait ran out).
  int lock();
  std::string dir_;
  int lock_wait_ms_ = 2000;
  bool busy_ = false;
  int64_t busy_until_ms_ = 0;
  int dirfd_ = -1;
  bool long_term_ = false;
  bool key_loaded_ = false;
  Rng* rng_ = nullptr;
  SharedKey nonce_key_;
  uint64_t low_ = 0, high_ = 0;
};

// The block cipher E of spec 1.4 ("TEA with 64-bit words"), exposed for known-answer tests.
Nonce16 safenonce_encrypt(const uint8_t key[32], const uint8_t block[16]);

}  // namespace curvecp
