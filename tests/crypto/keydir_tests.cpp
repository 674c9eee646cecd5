// Key directories (CURVECP.md 1.1-1.3), the safenonce scheme and its block cipher (1.4),
// and the runtime random generator.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "crypto/init.h"
#include "crypto/keydir.h"
#include "crypto/sodium_rng.h"
#include "test_support.h"

namespace curvecp {
namespace {

using test::TempDir;

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void write_file(const std::string& path, const std::vector<uint8_t>& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

mode_t mode_of(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Inverse of the spec 1.4 cipher, written from the spec, to look inside nonces.
std::array<uint8_t, 16> safenonce_decrypt(const uint8_t key[32], const uint8_t block[16]) {
  uint64_t v0 = load_le64(block), v1 = load_le64(block + 8);
  const uint64_t k0 = load_le64(key), k1 = load_le64(key + 8), k2 = load_le64(key + 16), k3 = load_le64(key + 24);
  uint64_t sum = 0x9E3779B97F4A7C15ULL * 32;
  for (int i = 0; i < 32; ++i) {
    v1 -= ((v0 << 16) + k2) ^ (v0 + sum) ^ ((v0 >> 8) + k3);
    v0 -= ((v1 << 7) + k0) ^ (v1 + sum) ^ ((v1 >> 12) + k1);
    sum -= 0x9E3779B97F4A7C15ULL;
  }
  std::array<uint8_t, 16> out;
  store_le64(out.data(), v0);
  store_le64(out.data() + 8, v1);
  return out;
}

TEST_CASE("safenonce cipher known answers") {
  // Expected values computed independently from the spec 1.4 pseudo-code (Python, mod 2^64).
  std::array<uint8_t, 32> key{};
  std::array<uint8_t, 16> block{};
  CHECK(encode_hex(safenonce_encrypt(key.data(), block.data())) == "f986c9b87805cd72762943e5c2b51b10");
  for (int i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>(i);
  for (int i = 0; i < 16; ++i) block[i] = static_cast<uint8_t>(0x80 + i);
  const Nonce16 e = safenonce_encrypt(key.data(), block.data());
  CHECK(encode_hex(e) == "0ff20924d2f88b4c50b7b547c7106826");
  CHECK(safenonce_decrypt(key.data(), e.data()) == block);
  key.fill(0xff);
  block.fill(0xff);
  CHECK(encode_hex(safenonce_encrypt(key.data(), block.data())) == "a96107d46b42617e5519ebb1e282e776");
}

TEST_CASE("make_key_directory: layout, sizes and modes of curvecpmakekey") {
  REQUIRE(crypto_initialize());
  TempDir tmp;
  const std::string dir = tmp.path + "/key";
  SeededRng rng(5);
  // Whatever the caller's umask, the modes come out as the reference's.
  const mode_t old_umask = ::umask(0077);
  Status made = make_key_directory(dir, rng);
  ::umask(old_umask);
  REQUIRE(made.ok());
  CHECK(mode_of(dir) == 0755);
  CHECK(mode_of(dir + "/publickey") == 0644);
  CHECK(mode_of(dir + "/.expertsonly") == 0700);
  CHECK(mode_of(dir + "/.expertsonly/secretkey") == 0600);
  CHECK(mode_of(dir + "/.expertsonly/lock") == 0600);
  CHECK(mode_of(dir + "/.expertsonly/noncekey") == 0600);
  CHECK(mode_of(dir + "/.expertsonly/noncecounter") == 0600);
  const auto pk = read_file(dir + "/publickey");
  const auto sk = read_file(dir + "/.expertsonly/secretkey");
  CHECK(pk.size() == 32);
  CHECK(sk.size() == 32);
  CHECK(read_file(dir + "/.expertsonly/lock") == std::vector<uint8_t>{0});
  CHECK(read_file(dir + "/.expertsonly/noncekey").size() == 32);
  CHECK(read_file(dir + "/.expertsonly/noncecounter") == std::vector<uint8_t>(8, 0));

  // The public key belongs to the secret key.
  auto loaded_pk = load_public_key(dir);
  auto loaded_sk = load_secret_key(dir);
  REQUIRE(loaded_pk.ok());
  REQUIRE(loaded_sk.ok());
  CHECK(std::vector<uint8_t>(loaded_pk->bytes.begin(), loaded_pk->bytes.end()) == pk);
  SeededRng replay(5);
  KeyPair expected = KeyPair::generate(replay);
  CHECK(expected.pk == *loaded_pk);
  CHECK(expected.sk.equals(*loaded_sk));

  // An existing directory is refused, and left alone.
  Status again = make_key_directory(dir, rng);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().message.find("exists") != std::string::npos);
  CHECK(read_file(dir + "/publickey") == pk);
}

TEST_CASE("load errors are one-line messages") {
  TempDir tmp;
  auto missing = load_public_key(tmp.path + "/nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find('\n') == std::string::npos);
  ::mkdir((tmp.path + "/short").c_str(), 0755);
  write_file(tmp.path + "/short/publickey", std::vector<uint8_t>(31, 1));
  auto shortkey = load_public_key(tmp.path + "/short");
  REQUIRE_FALSE(shortkey.ok());
  CHECK(shortkey.error().message.find("too short") != std::string::npos);
}

TEST_CASE("safenonce reserves 2^20 (server) or 1 (client) and counts from the file") {
  REQUIRE(crypto_initialize());
  TempDir tmp;
  const std::string dir = tmp.path + "/key";
  SeededRng rng(6);
  REQUIRE(make_key_directory(dir, rng).ok());
  const auto nonce_key = read_file(dir + "/.expertsonly/noncekey");
  const std::string counter_file = dir + "/.expertsonly/noncecounter";

  SUBCASE("server") {
    auto source = KeyDirNonceSource::open(dir, /*long_term=*/true, rng);
    REQUIRE(source.ok());
    std::set<std::string> seen;
    for (uint64_t i = 0; i < 5; ++i) {
      auto n = (*source)->next_nonce16();
      REQUIRE(n.ok());
      seen.insert(encode_hex(*n));
      const auto plain = safenonce_decrypt(nonce_key.data(), n->data());
      CHECK(load_le64(plain.data()) == i);  // the counter travels encrypted
      // One disk update for the whole block of 2^20.
      CHECK(load_le64(read_file(counter_file).data()) == (uint64_t{1} << 20));
    }
    CHECK(seen.size() == 5);
    // A second process sharing the directory gets a disjoint range.
    auto other = KeyDirNonceSource::open(dir, true, rng);
    REQUIRE(other.ok());
    auto n = (*other)->next_nonce16();
    REQUIRE(n.ok());
    CHECK(load_le64(safenonce_decrypt(nonce_key.data(), n->data()).data()) == (uint64_t{1} << 20));
    CHECK(load_le64(read_file(counter_file).data()) == (uint64_t{2} << 20));
  }
  SUBCASE("client") {
    auto source = KeyDirNonceSource::open(dir, /*long_term=*/false, rng);
    REQUIRE(source.ok());
    for (uint64_t i = 0; i < 3; ++i) {
      auto n = (*source)->next_nonce16();
      REQUIRE(n.ok());
      CHECK(load_le64(safenonce_decrypt(nonce_key.data(), n->data()).data()) == i);
      CHECK(load_le64(read_file(counter_file).data()) == i + 1);
    }
  }
  SUBCASE("counter that would pass 2^64 is a disaster, not a wrap") {
    write_file(counter_file, std::vector<uint8_t>(8, 0xff));
    auto source = KeyDirNonceSource::open(dir, false, rng);
    REQUIRE(source.ok());
    auto n = (*source)->next_nonce16();
    REQUIRE_FALSE(n.ok());
    CHECK(n.error().message == "nonce-generation disaster");
  }
  SUBCASE("missing nonce files are a disaster") {
    REQUIRE(::unlink(counter_file.c_str()) == 0);
    auto source = KeyDirNonceSource::open(dir, true, rng);
    REQUIRE(source.ok());
    CHECK_FALSE((*source)->next_nonce16().ok());
  }
}

TEST_CASE("safenonce lock serialises processes sharing a directory") {
  REQUIRE(crypto_initialize());
  TempDir tmp;
  const std::string dir = tmp.path + "/key";
  SeededRng rng(8);
  REQUIRE(make_key_directory(dir, rng).ok());
  // Four processes each take 50 client-style (reservation 1) nonces: with the lock, the
  // counter ends at exactly 200 and no value is handed out twice.
  constexpr int kProcs = 4, kEach = 50;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      SeededRng child_rng(100 + p);
      auto source = KeyDirNonceSource::open(dir, false, child_rng);
      if (!source.ok()) ::_exit(1);
      for (int i = 0; i < kEach; ++i)
        if (!(*source)->next_nonce16().ok()) ::_exit(1);
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  CHECK(load_le64(read_file(dir + "/.expertsonly/noncecounter").data()) == uint64_t{kProcs * kEach});
}

TEST_CASE("load_secret_key refuses a key others may read, another owner's key and symbolic links") {
  REQUIRE(crypto_initialize());
  TempDir tmp;
  const std::string dir = tmp.path + "/key";
  SeededRng rng(12);
  REQUIRE(make_key_directory(dir, rng).ok());
  const std::string file = dir + "/.expertsonly/secretkey";
  REQUIRE(load_secret_key(dir).ok());

  REQUIRE(::chmod(file.c_str(), 0640) == 0);
  auto readable = load_secret_key(dir);
  REQUIRE_FALSE(readable.ok());
  CHECK(readable.error().message ==
        "refusing secret key " + file + ": mode 0640 lets group or others read or write it (chmod 600 it)");
  REQUIRE(::chmod(file.c_str(), 0602) == 0);
  CHECK_FALSE(load_secret_key(dir).ok());
  REQUIRE(::chmod(file.c_str(), 0600) == 0);

  if (::geteuid() == 0) {  // only root can give a file away
    REQUIRE(::chown(file.c_str(), 65534, 65534) == 0);
    auto foreign = load_secret_key(dir);
    REQUIRE_FALSE(foreign.ok());
    CHECK(foreign.error().message == "refusing secret key " + file + ": owned by uid 65534, not by this user (uid 0)");
    REQUIRE(::chown(file.c_str(), 0, 0) == 0);
  }

  // A symbolic link as the key file, as .expertsonly, and as the key directory.
  const std::string real = tmp.path + "/real-secretkey";
  REQUIRE(::rename(file.c_str(), real.c_str()) == 0);
  REQUIRE(::symlink(real.c_str(), file.c_str()) == 0);
  auto linked = load_secret_key(dir);
  REQUIRE_FALSE(linked.ok());
  CHECK(linked.error().message == "refusing " + file + ": it is a symbolic link");
  REQUIRE(::unlink(file.c_str()) == 0);
  REQUIRE(::rename(real.c_str(), file.c_str()) == 0);

  const std::string experts = tmp.path + "/experts";
  REQUIRE(::rename((dir + "/.expertsonly").c_str(), experts.c_str()) == 0);
  REQUIRE(::symlink(experts.c_str(), (dir + "/.expertsonly").c_str()) == 0);
  auto linked_dir = load_secret_key(dir);
  REQUIRE_FALSE(linked_dir.ok());
  CHECK(linked_dir.error().message == "refusing " + file + ": " + dir + "/.expertsonly is a symbolic link");
  REQUIRE(::unlink((dir + "/.expertsonly").c_str()) == 0);
  REQUIRE(::rename(experts.c_str(), (dir + "/.expertsonly").c_str()) == 0);

  const std::string alias = tmp.path + "/alias";
  REQUIRE(::symlink(dir.c_str(), alias.c_str()) == 0);
  auto linked_key_dir = load_secret_key(alias);
  REQUIRE_FALSE(linked_key_dir.ok());
  CHECK(linked_key_dir.error().message == "refusing key directory " + alias + ": it is a symbolic link");
  CHECK(load_secret_key(dir).ok());
}

TEST_CASE("safenonce: a lock held by another process costs a bounded wait, then 'busy', then works again") {
  REQUIRE(crypto_initialize());
  TempDir tmp;
  const std::string dir = tmp.path + "/key";
  SeededRng rng(13);
  REQUIRE(make_key_directory(dir, rng).ok());
  int ready[2], release[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(release) == 0);
  const pid_t holder = ::fork();
  REQUIRE(holder >= 0);
  if (holder == 0) {  // holds the lock until told to let go
    const int fd = ::open((dir + "/.expertsonly/lock").c_str(), O_RDWR);
    if (fd < 0 || ::lockf(fd, F_LOCK, 0) != 0) ::_exit(1);
    char c = 1;
    if (::write(ready[1], &c, 1) != 1) ::_exit(1);
    if (::read(release[0], &c, 1) < 0) ::_exit(1);
    ::_exit(0);
  }
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  auto source = KeyDirNonceSource::open(dir, /*long_term=*/false, rng);
  REQUIRE(source.ok());
  (*source)->set_lock_wait_ms(100);
  auto ms_since = [](const timespec& t0) {
    timespec t1{};
    ::clock_gettime(CLOCK_MONOTONIC, &t1);
    return static_cast<double>(t1.tv_sec - t0.tv_sec) * 1e3 + static_cast<double>(t1.tv_nsec - t0.tv_nsec) / 1e6;
  };
  timespec t0{};
  ::clock_gettime(CLOCK_MONOTONIC, &t0);
  auto first = (*source)->next_nonce16();
  REQUIRE_FALSE(first.ok());
  CHECK((*source)->busy());
  CHECK(first.error().message == "nonce lock busy: " + dir + "/.expertsonly/lock is held by another process");
  // It waited for the lock (about 100 ms; the timer may round a little), and not for ever.
  CHECK(ms_since(t0) >= 90);
  CHECK(ms_since(t0) < 5000);  // bounded (generous: a loaded machine)
  // Within the back-off second, later calls fail at once without touching the lock.
  ::clock_gettime(CLOCK_MONOTONIC, &t0);
  CHECK_FALSE((*source)->next_nonce16().ok());
  CHECK((*source)->busy());
  CHECK(ms_since(t0) < 90);  // did not wait for the lock again
  // The other process lets go: after the back-off the source works again.
  REQUIRE(::write(release[1], &c, 1) == 1);
  int status = 0;
  REQUIRE(::waitpid(holder, &status, 0) == holder);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  ::usleep(1100 * 1000);
  CHECK((*source)->next_nonce16().ok());
  CHECK_FALSE((*source)->busy());
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
}

TEST_CASE("SodiumRng: output differs between instances and across refills") {
  REQUIRE(crypto_initialize());
  SodiumRng a, b;
  std::array<uint8_t, 64> x{}, y{};
  a.fill(x);
  b.fill(y);
  CHECK(x != y);
  // Draw across many refills (blocks of 512 bytes, reseed after 4096 of them) and check
  // that no 16-byte chunk repeats and the bytes are not degenerate.
  std::set<std::string> chunks;
  std::array<int, 256> histogram{};
  std::vector<uint8_t> big(16 * 20000);
  a.fill(big);
  for (size_t i = 0; i < big.size(); i += 16) chunks.insert(encode_hex(Bytes(big.data() + i, 16)));
  for (uint8_t v : big) histogram[v]++;
  CHECK(chunks.size() == 20000);
  const int expected = static_cast<int>(big.size() / 256);
  for (int count : histogram) {
    CHECK(count > expected / 2);
    CHECK(count < expected * 2);
  }
  // Past the periodic reseed (every 4096 blocks of 480 output bytes, about 1.9 MB): the
  // output stays well spread.
  std::vector<uint8_t> past_reseed(2'200'000);
  a.fill(past_reseed);
  std::array<size_t, 256> counts{};
  for (uint8_t v : past_reseed) counts[v]++;
  for (size_t count : counts) {
    CHECK(count > past_reseed.size() / 256 * 9 / 10);
    CHECK(count < past_reseed.size() / 256 * 11 / 10);
  }
  // Odd sizes and empty spans are fine.
  std::array<uint8_t, 3> odd{};
  a.fill(odd);
  a.fill(std::span<uint8_t>());
  std::vector<uint8_t> tail(3000);
  for (int i = 0; i < 3000; ++i) a.fill(std::span<uint8_t>(tail.data() + i, 1));
  CHECK(std::set<uint8_t>(tail.begin(), tail.end()).size() > 200);
}

TEST_CASE("check_nonce_files: a usable key directory passes untouched; unusable nonce files are named") {
  REQUIRE(crypto_initialize());
  TempDir tmp;
  const std::string dir = tmp.path + "/key";
  SeededRng rng(9);
  REQUIRE(make_key_directory(dir, rng).ok());
  const std::string counter_file = dir + "/.expertsonly/noncecounter";
  write_file(counter_file, {7, 0, 0, 0, 0, 0, 0, 0});
  CHECK(check_nonce_files(dir).ok());
  // Nothing written or advanced.
  CHECK(read_file(counter_file) == std::vector<uint8_t>{7, 0, 0, 0, 0, 0, 0, 0});

  SUBCASE("counter replaced by a directory (cannot be opened read-write, even by root)") {
    REQUIRE(::unlink(counter_file.c_str()) == 0);
    REQUIRE(::mkdir(counter_file.c_str(), 0700) == 0);
    auto s = check_nonce_files(dir);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message == "nonce counter not writable: " + counter_file + ": Is a directory");
  }
  SUBCASE("missing counter") {
    REQUIRE(::unlink(counter_file.c_str()) == 0);
    auto s = check_nonce_files(dir);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message.find(counter_file) != std::string::npos);
  }
  SUBCASE("short counter") {
    write_file(counter_file, {1, 2, 3});
    auto s = check_nonce_files(dir);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message == "nonce counter too short: " + counter_file);
  }
  SUBCASE("missing lock file") {
    REQUIRE(::unlink((dir + "/.expertsonly/lock").c_str()) == 0);
    auto s = check_nonce_files(dir);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message.find("nonce lock file not writable: " + dir + "/.expertsonly/lock") == 0);
  }
  SUBCASE("missing directory") {
    CHECK_FALSE(check_nonce_files(tmp.path + "/nope").ok());
  }
}

}  // namespace
}  // namespace curvecp
