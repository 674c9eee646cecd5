#include "crypto/keydir.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <time.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>

#include "crypto/box.h"

namespace curvecp {

namespace {

// File names inside a key directory (spec 1.1).
constexpr const char* kPublicKeyFile = "publickey";
constexpr const char* kExpertsDir = ".expertsonly";
constexpr const char* kSecretKeyFile = ".expertsonly/secretkey";
constexpr const char* kLockFile = ".expertsonly/lock";
constexpr const char* kNonceKeyFile = ".expertsonly/noncekey";
constexpr const char* kNonceCounterFile = ".expertsonly/noncecounter";

// Spec 1.4: values reserved on disk per counter update.
constexpr uint64_t kLongTermReservation = uint64_t{1} << 20;
constexpr uint64_t kShortTermReservation = 1;

std::string errno_text() { return std::strerror(errno); }

// Closes an fd on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads exactly n bytes; false on error or early end of file (errno EPROTO then).
bool read_exactly(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) {
      errno = EPROTO;
      return false;
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// Reads exactly out.size() bytes from dirfd/name, following no symbolic link (neither
// name's last component nor .expertsonly). `check`, when given, vets the open file first.
Status load_file(int dirfd, const std::string& dir, const char* name, MutableBytes out,
                 Status (*check)(int, const std::string&) = nullptr) {
  const std::string path = dir + "/" + name;
  struct stat experts{};
  if (std::strncmp(name, kExpertsDir, std::strlen(kExpertsDir)) == 0 &&
      ::fstatat(dirfd, kExpertsDir, &experts, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(experts.st_mode)) {
    return make_error("refusing " + path + ": " + dir + "/" + kExpertsDir + " is a symbolic link");
  }
  Fd fd(::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
  if (!fd.ok() && errno == ELOOP) return make_error("refusing " + path + ": it is a symbolic link");
  if (fd.ok() && check != nullptr) {
    if (Status s = check(fd.get(), path); !s) return s;
  }
  if (!fd.ok() || !read_exactly(fd.get(), out.data(), out.size())) {
    const std::string why = errno == EPROTO ? "file too short" : errno_text();
    return make_error("unable to read " + path + ": " + why);
  }
  return {};
}

// Creates dirfd/name with exactly `mode` (whatever the umask), writes it completely and
// fsyncs it before closing (spec 1.1).
Status save_file(int dirfd, const std::string& dir, const char* name, Bytes data, mode_t mode) {
  Fd fd(::openat(dirfd, name, O_CREAT | O_WRONLY | O_CLOEXEC, mode));
  if (!fd.ok() || ::fchmod(fd.get(), mode) != 0 || !write_all(fd.get(), data.data(), data.size()) ||
      ::fsync(fd.get()) != 0) {
    return make_error("unable to write " + dir + "/" + name + ": " + errno_text());
  }
  return {};
}

int64_t monotonic_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Opens the lock file and takes the exclusive lockf lock, trying for at most wait_ms; the
// lock goes with the fd. -1 with errno EWOULDBLOCK when the wait ran out.
int open_lock(int dirfd, int wait_ms) {
  int fd = ::openat(dirfd, kLockFile, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  const int64_t give_up = monotonic_ms() + wait_ms;
  while (::lockf(fd, F_TLOCK, 0) != 0) {
    if (errno == EINTR) continue;
    if ((errno != EACCES && errno != EAGAIN) || monotonic_ms() >= give_up) {
      if (errno == EACCES || errno == EAGAIN) errno = EWOULDBLOCK;
      ::close(fd);
      return -1;
    }
    const timespec step{0, 5 * 1000000};  // 5 ms between tries
    ::nanosleep(&step, nullptr);
  }
  return fd;
}

// DIR opened as a directory without following a symbolic link at its last component.
int open_key_dir(const std::string& dir) { return ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW); }

std::string open_dir_error(const std::string& dir) {
  if (errno == ENOTDIR || errno == ELOOP) {
    struct stat st{};
    if (::lstat(dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      return "refusing key directory " + dir + ": it is a symbolic link";
    }
  }
  return "unable to open key directory " + dir + ": " + errno_text();
}

// The secret key file must be private to its owner, who must be us (ssh's rule for
// identity files): one line naming the file and what is wrong.
Status check_secret_key_file(int fd, const std::string& path) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return make_error("unable to stat " + path + ": " + errno_text());
  if (!S_ISREG(st.st_mode)) return make_error("refusing secret key " + path + ": not a regular file");
  if (st.st_uid != ::geteuid()) {
    return make_error("refusing secret key " + path + ": owned by uid " + std::to_string(st.st_uid) +
                      ", not by this user (uid " + std::to_string(::geteuid()) + ")");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error("refusing secret key " + path + ": mode " + mode +
                      " lets group or others read or write it (chmod 600 it)");
  }
  return {};
}

}  // namespace

Status make_key_directory(const std::string& dir, Rng& rng) {
  // Spec 1.1. Modes are set explicitly instead of through umask(022)/umask(077) as the
  // reference does, so the result is the same whatever the caller's umask, and no
  // process-wide state changes.
  if (::mkdir(dir.c_str(), 0755) != 0) {
    if (errno == EEXIST) return make_error("key directory " + dir + " already exists");
    return make_error("unable to create directory " + dir + ": " + errno_text());
  }
  if (::chmod(dir.c_str(), 0755) != 0) return make_error("unable to chmod " + dir + ": " + errno_text());
  Fd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd.ok()) return make_error("unable to open " + dir + ": " + errno_text());
  if (::mkdirat(dirfd.get(), kExpertsDir, 0700) != 0 || ::fchmodat(dirfd.get(), kExpertsDir, 0700, 0) != 0) {
    return make_error("unable to create " + dir + "/" + kExpertsDir + ": " + errno_text());
  }

  KeyPair kp = KeyPair::generate(rng);
  if (Status s = save_file(dirfd.get(), dir, kPublicKeyFile, kp.pk.bytes, 0644); !s) return s;
  std::array<uint8_t, kKeyBytes> nonce_key;
  rng.fill(nonce_key);
  Status s = save_file(dirfd.get(), dir, kSecretKeyFile, Bytes(kp.sk.data(), kKeyBytes), 0600);
  const std::array<uint8_t, 1> lock_byte{0};
  const std::array<uint8_t, 8> zero_counter{};
  if (s) s = save_file(dirfd.get(), dir, kLockFile, lock_byte, 0600);
  if (s) s = save_file(dirfd.get(), dir, kNonceKeyFile, nonce_key, 0600);
  if (s) s = save_file(dirfd.get(), dir, kNonceCounterFile, zero_counter, 0600);
  wipe(nonce_key);
  return s;
}

Result<PublicKey> load_public_key(const std::string& dir) {
  Fd dirfd(open_key_dir(dir));
  if (!dirfd.ok()) return make_error(open_dir_error(dir));
  PublicKey pk;
  if (Status s = load_file(dirfd.get(), dir, kPublicKeyFile, pk.bytes); !s) return s.error();
  return pk;
}

Result<SecretKey> load_secret_key(const std::string& dir) {
  Fd dirfd(open_key_dir(dir));
  if (!dirfd.ok()) return make_error(open_dir_error(dir));
  SecretKey sk;
  if (Status s = load_file(dirfd.get(), dir, kSecretKeyFile, MutableBytes(sk.data(), kKeyBytes), check_secret_key_file);
      !s) {
    return s.error();
  }
  return sk;
}

// ---- safenonce (spec 1.4) -------------------------------------------------------------

Status check_nonce_files(const std::string& dir) {
  Fd dirfd(open_key_dir(dir));
  if (!dirfd.ok()) return make_error(open_dir_error(dir));
  // O_RDWR without O_TRUNC or a write: the open itself is the check (EACCES, EROFS,
  // EPERM for an immutable file, EISDIR), and the counter is left exactly as it was.
  struct Check {
    const char* what;
    const char* name;
    int flags;
  };
  for (const Check& c : {Check{"nonce lock file not writable", kLockFile, O_RDWR},
                         Check{"nonce counter not writable", kNonceCounterFile, O_RDWR},
                         Check{"nonce key not readable", kNonceKeyFile, O_RDONLY}}) {
    Fd fd(::openat(dirfd.get(), c.name, c.flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW));
    if (!fd.ok()) return make_error(std::string(c.what) + ": " + dir + "/" + c.name + ": " + errno_text());
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return make_error(std::string(c.what) + ": " + dir + "/" + c.name + ": not a regular file");
    }
    if (c.name == kNonceCounterFile && st.st_size < 8) {
      return make_error("nonce counter too short: " + dir + "/" + c.name);
    }
  }
  return {};
}

Result<std::unique_ptr<KeyDirNonceSource>> KeyDirNonceSource::open(const std::string& dir, bool long_term, Rng& rng) {
  int fd = open_key_dir(dir);
  if (fd < 0) return make_error(open_dir_error(dir));
  std::unique_ptr<KeyDirNonceSource> source(new KeyDirNonceSource());
  source->dir_ = dir;
  source->dirfd_ = fd;
  source->long_term_ = long_term;
  source->rng_ = &rng;
  return source;
}

KeyDirNonceSource::~KeyDirNonceSource() {
  if (dirfd_ >= 0) ::close(dirfd_);
}

int KeyDirNonceSource::lock() {
  busy_ = false;
  if (busy_until_ms_ != 0 && monotonic_ms() < busy_until_ms_) {
    busy_ = true;
    return -1;
  }
  const int fd = open_lock(dirfd_, lock_wait_ms_);
  if (fd < 0 && errno == EWOULDBLOCK) {
    busy_ = true;
    busy_until_ms_ = monotonic_ms() + 1000;
  }
  return fd;
}

Status KeyDirNonceSource::probe_lock(int wait_ms) {
  const int saved = lock_wait_ms_;
  lock_wait_ms_ = wait_ms;
  Fd lock(this->lock());
  lock_wait_ms_ = saved;
  if (lock.ok()) return {};
  if (busy_) {
    busy_until_ms_ = 0;  // a probe does not start the back-off
    return make_error("nonce lock busy: " + dir_ + "/" + kLockFile + " is held by another process");
  }
  return make_error("unable to lock " + dir_ + "/" + kLockFile + ": " + errno_text());
}

Result<Nonce16> KeyDirNonceSource::next_nonce16() {
  const Error disaster = make_error("nonce-generation disaster");
  const Error busy = make_error("nonce lock busy: " + dir_ + "/" + kLockFile + " is held by another process");
  // Step 1: load the nonce key once, under the lock.
  if (!key_loaded_) {
    Fd lock(this->lock());
    if (!lock.ok()) return busy_ ? busy : disaster;
    std::array<uint8_t, kKeyBytes> key;
    Status s = load_file(dirfd_, "", kNonceKeyFile, key);
    nonce_key_ = SharedKey::from_bytes(key);
    wipe(key);
    if (!s) return disaster;
    key_loaded_ = true;
  }
  // Step 2: reserve [low, high) on disk, fsync'ed, before any value in it is used, so a
  // crash can skip values but never repeat one. A counter that would pass 2^64 is a
  // disaster rather than a wrap.
  if (low_ >= high_) {
    Fd lock(this->lock());
    if (!lock.ok()) return busy_ ? busy : disaster;
    std::array<uint8_t, 8> counter;
    if (!load_file(dirfd_, "", kNonceCounterFile, counter)) return disaster;
    const uint64_t v = load_le64(counter.data());
    const uint64_t reservation = long_term_ ? kLongTermReservation : kShortTermReservation;
    if (v > UINT64_MAX - reservation) return disaster;
    store_le64(counter.data(), v + reservation);
    Fd file(::openat(dirfd_, kNonceCounterFile, O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!file.ok() || !write_all(file.get(), counter.data(), counter.size()) || ::fsync(file.get()) != 0) {
      return disaster;
    }
    low_ = v;
    high_ = v + reservation;
  }
  // Steps 3-4: E(noncekey, LE64(low) || 8 random bytes), then low + 1.
  std::array<uint8_t, 16> block;
  store_le64(block.data(), low_);
  rng_->fill(std::span<uint8_t>(block.data() + 8, 8));
  ++low_;
  return safenonce_encrypt(nonce_key_.data(), block.data());
}

// "TEA with 64-bit words" (spec 1.4): 32 rounds, all arithmetic modulo 2^64.
Nonce16 safenonce_encrypt(const uint8_t key[32], const uint8_t block[16]) {
  uint64_t v0 = load_le64(block);
  uint64_t v1 = load_le64(block + 8);
  const uint64_t k0 = load_le64(key);
  const uint64_t k1 = load_le64(key + 8);
  const uint64_t k2 = load_le64(key + 16);
  const uint64_t k3 = load_le64(key + 24);
  constexpr uint64_t kDelta = 0x9E3779B97F4A7C15ULL;
  uint64_t sum = 0;
  for (int round = 0; round < 32; ++round) {
    sum += kDelta;
    v0 += ((v1 << 7) + k0) ^ (v1 + sum) ^ ((v1 >> 12) + k1);
    v1 += ((v0 << 16) + k2) ^ (v0 + sum) ^ ((v0 >> 8) + k3);
  }
  Nonce16 out;
  store_le64(out.data(), v0);
  store_le64(out.data() + 8, v1);
  return out;
}

}  // namespace curvecp
