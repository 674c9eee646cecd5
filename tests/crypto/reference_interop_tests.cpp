// Interoperability of the packet layer with bytes no one here wrote: the reference
// curvecpclient and curvecpserver of Debian's nacl-tools (CURVECP.md 8).
//
// 1. The reference client (with curvecpmessage -c) talks to a UDP socket this test owns:
//    its Hello is parsed by our codec, answered with our Cookie from ServerCrypto, its
//    Initiate opened and checked (vouch, name, message), and a Server Message sealed by
//    our ServerSession is acknowledged by it and its data delivered to its program.
// 2. Our ClientHandshake talks to a real curvecpserver running curvecpmessage cat: Hello,
//    Cookie, an Initiate carrying data, Server Messages opened, a Client Message carrying
//    more data, and the echo of both checked.
// Both also check key-directory and safenonce compatibility: the reference tools use key
// directories made by our make_key_directory, and the reference server's cookie nonces
// decrypt under its noncekey to the counter values of spec 1.4.
//
// Only 127.0.0.1; every wait is bounded; the reference processes run in their own process
// group, which is killed at the end.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/bytes.h"
#include "crypto/keydir.h"
#include "crypto/sodium_rng.h"
#include "crypto/wire_layout.h"
#include "test_support.h"

namespace curvecp {
namespace {

using test::TempDir;

using Buf = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

constexpr const char* kExtHex = "31415926535897932384626433832795";
constexpr const char* kServerName = "this.machine.name";

bool have_reference_tools() {
  return std::system("command -v curvecpclient >/dev/null && command -v curvecpserver >/dev/null && "
                     "command -v curvecpmessage >/dev/null") == 0;
}

// Builds with CURVECP_REQUIRE_INTEROP=ON run their tests with CURVECP_REQUIRE_INTEROP=1
// (tests/CMakeLists.txt): there a missing reference tool fails the test, never skips it.
bool interop_required() {
  const char* v = std::getenv("CURVECP_REQUIRE_INTEROP");
  return v != nullptr && std::string(v) == "1";
}

Buf read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Buf(std::istreambuf_iterator<char>(f), {});
}

// A reference tool in its own process group; killed (whole group) and reaped on scope exit.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& cwd, const std::string& log) {
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::setpgid(0, 0);
      if (::chdir(cwd.c_str()) != 0) ::_exit(127);
      int null_fd = ::open("/dev/null", O_RDONLY);
      int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (null_fd < 0 || log_fd < 0) ::_exit(127);
      ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);  // also from the parent, so the group exists before any kill
  }
  ~Child() {
    ::kill(-pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

 private:
  pid_t pid_ = -1;
};

class UdpSocket {
 public:
  UdpSocket() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }
  ~UdpSocket() { ::close(fd_); }
  uint16_t port() const { return port_; }

  // Waits up to `timeout_ms` for one datagram; nullopt on timeout.
  std::optional<Buf> receive(int timeout_ms, sockaddr_in* from = nullptr) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    Buf b(2048);
    sockaddr_in src{};
    socklen_t len = sizeof src;
    ssize_t n = ::recvfrom(fd_, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&src), &len);
    if (n < 0) return std::nullopt;
    b.resize(static_cast<size_t>(n));
    if (from) *from = src;
    return b;
  }
  void send_to(Bytes d, const sockaddr_in& to) {
    REQUIRE(::sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) ==
            static_cast<ssize_t>(d.size()));
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

// ---- a minimal curvecpmessage message (spec 6.1), enough to drive the reference ----

struct Message {
  uint32_t id = 0;
  uint32_t acked_id = 0;
  uint64_t range1 = 0;
  uint16_t flags = 0;  // 2048 SUCC, 4096 FAIL
  uint64_t offset = 0;
  std::string data;
};

Buf encode_message(const Message& m) {
  const size_t len = m.data.size() <= 128 ? 192 : m.data.size() <= 256 ? 320 : 576;  // spec 6.2
  Buf b(len, 0);
  store_le32(b.data(), m.id);
  store_le32(b.data() + 4, m.acked_id);
  store_le64(b.data() + 8, m.range1);
  store_le16(b.data() + 38, static_cast<uint16_t>(m.data.size() | m.flags));
  store_le64(b.data() + 40, m.offset);
  std::memcpy(b.data() + len - m.data.size(), m.data.data(), m.data.size());
  return b;
}

Message decode_message(Bytes b) {
  REQUIRE(b.size() >= 48);
  Message m;
  m.id = load_le32(b.data());
  m.acked_id = load_le32(b.data() + 4);
  m.range1 = load_le64(b.data() + 8);
  const uint16_t size_flags = load_le16(b.data() + 38);
  m.flags = size_flags & 0x1800;
  const size_t d = size_flags & 0x07ff;
  REQUIRE(48 + d <= b.size());
  m.offset = load_le64(b.data() + 40);
  m.data.assign(reinterpret_cast<const char*>(b.data() + b.size() - d), d);
  return m;
}

// Inverse of the safenonce cipher (spec 1.4), to read the counter inside a nonce.
uint64_t safenonce_counter(const Buf& key, Bytes nonce) {
  uint64_t v0 = load_le64(nonce.data()), v1 = load_le64(nonce.data() + 8);
  const uint8_t* k = key.data();
  const uint64_t k0 = load_le64(k), k1 = load_le64(k + 8), k2 = load_le64(k + 16), k3 = load_le64(k + 24);
  uint64_t sum = 0x9E3779B97F4A7C15ULL * 32;
  for (int i = 0; i < 32; ++i) {
    v1 -= ((v0 << 16) + k2) ^ (v0 + sum) ^ ((v0 >> 8) + k3);
    v0 -= ((v1 << 7) + k0) ^ (v1 + sum) ^ ((v1 >> 12) + k1);
    sum -= 0x9E3779B97F4A7C15ULL;
  }
  (void)v1;
  return v0;
}

TEST_CASE("reference curvecpclient against our ServerCrypto" * doctest::timeout(60)) {
  if (!have_reference_tools()) {
    if (interop_required()) FAIL("nacl-tools (curvecpclient, curvecpserver, curvecpmessage) missing and CURVECP_REQUIRE_INTEROP=1");
    MESSAGE("nacl-tools not installed: skipped");
    return;
  }
  REQUIRE(crypto_initialize());
  TempDir tmp;
  SodiumRng rng;
  // Server keys: our key directory (never read by the reference here, only its public key).
  const std::string server_dir = tmp.path + "/serverkey";
  const std::string client_dir = tmp.path + "/clientkey";
  REQUIRE(make_key_directory(server_dir, rng).ok());
  REQUIRE(make_key_directory(client_dir, rng).ok());
  auto server_pk = load_public_key(server_dir);
  auto server_sk = load_secret_key(server_dir);
  auto client_pk = load_public_key(client_dir);
  REQUIRE(server_pk.ok());
  REQUIRE(server_sk.ok());
  REQUIRE(client_pk.ok());

  Extension ext;
  REQUIRE(parse_extension(kExtHex, ext));
  // Cookie nonces from safenonce on our key directory, as the daemon does.
  auto cookie_nonces = KeyDirNonceSource::open(server_dir, /*long_term=*/true, rng);
  REQUIRE(cookie_nonces.ok());
  ServerCrypto server(std::move(*server_sk), test::name_of(kServerName), ext, **cookie_nonces, rng, Timestamp{0});
  UdpSocket sock;

  // The client uses our key directory (-c) for its long-term key and vouch safenonce; its
  // program writes whatever it receives to a file.
  Child client({"curvecpclient", "-c", client_dir, kServerName, encode_hex(server_pk->bytes), "127.0.0.1",
                std::to_string(sock.port()), kExtHex, "curvecpmessage", "-c", "sh", "-c", "exec cat <&6 > received"},
               tmp.path, tmp.path + "/client.log");

  sockaddr_in client_addr{};
  std::optional<ServerSession> session;
  Buf out(kMaxMessageBytes);
  uint32_t ping_id = 0;
  int hellos = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (!session && Clock::now() < deadline) {
    auto d = sock.receive(1000, &client_addr);
    if (!d) continue;
    auto parsed = parse_client_packet(*d, ext);
    REQUIRE(std::holds_alternative<ClientPacketView>(parsed));
    const auto& view = std::get<ClientPacketView>(parsed);
    if (view.type == ClientPacketType::hello) {
      ++hellos;
      CHECK(d->size() == kHelloBytes);
      Buf cookie(kCookieBytes);
      auto r = server.answer_hello(view, cookie);
      REQUIRE(std::holds_alternative<size_t>(r));
      sock.send_to(cookie, client_addr);
      continue;
    }
    REQUIRE(view.type == ClientPacketType::initiate);
    CHECK(d->size() == kInitiateHeaderBytes + 192);  // an empty "ping" block (spec 6.2)
    auto r = server.accept_initiate(view, out);  // cookie, box, name and vouch all checked
    if (auto* reason = std::get_if<DropReason>(&r)) FAIL("initiate dropped: " << drop_reason_name(*reason));
    auto& accepted = std::get<AcceptedInitiate>(r);
    CHECK(accepted.message_bytes == 192);
    CHECK(accepted.session.client_long_term() == *client_pk);
    Message ping = decode_message(Bytes(out.data(), accepted.message_bytes));
    CHECK(ping.id != 0);
    CHECK(ping.data.empty());
    CHECK(ping.offset == 0);
    ping_id = ping.id;
    session.emplace(std::move(accepted.session));
  }
  REQUIRE(session.has_value());
  CHECK(hellos >= 1);
  CHECK(load_le64(read_file(server_dir + "/.expertsonly/noncecounter").data()) == (uint64_t{1} << 20));
  // The client's vouch nonce came from safenonce with the client flag: one value reserved.
  CHECK(load_le64(read_file(client_dir + "/.expertsonly/noncecounter").data()) == 1);

  // Our Server Message: acknowledges the ping and carries data with a normal EOF.
  const std::string text = "hello from our ServerSession\n";
  Buf packet(kMaxPacketBytes);
  packet.resize(session->seal(encode_message({1, ping_id, 0, 2048, 0, text}), packet));
  REQUIRE(packet.size() == kServerMessageHeaderBytes + 192);
  sock.send_to(packet, client_addr);

  // The reference client must authenticate it: it acknowledges our whole stream plus EOF
  // (range 1 = length + 1, spec 6.1/10) and its program receives the text.
  bool acked = false;
  while (!acked && Clock::now() < deadline) {
    auto d = sock.receive(1000);
    if (!d) continue;
    auto parsed = parse_client_packet(*d, ext);
    REQUIRE(std::holds_alternative<ClientPacketView>(parsed));
    auto r = session->open(std::get<ClientPacketView>(parsed), out);
    if (!std::holds_alternative<size_t>(r)) continue;  // a retransmitted Initiate already seen
    Message m = decode_message(Bytes(out.data(), std::get<size_t>(r)));
    if (m.range1 == text.size() + 1) acked = true;
  }
  CHECK(acked);
  std::string received;
  for (int i = 0; i < 50 && received != text; ++i) {
    Buf r = read_file(tmp.path + "/received");
    received.assign(r.begin(), r.end());
    if (received != text) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(received == text);
}

TEST_CASE("our ClientHandshake against reference curvecpserver" * doctest::timeout(60)) {
  if (!have_reference_tools()) {
    if (interop_required()) FAIL("nacl-tools (curvecpclient, curvecpserver, curvecpmessage) missing and CURVECP_REQUIRE_INTEROP=1");
    MESSAGE("nacl-tools not installed: skipped");
    return;
  }
  REQUIRE(crypto_initialize());
  TempDir tmp;
  SodiumRng rng;
  // The reference server runs on a key directory made by our make_key_directory.
  const std::string server_dir = tmp.path + "/serverkey";
  REQUIRE(make_key_directory(server_dir, rng).ok());
  auto server_pk = load_public_key(server_dir);
  REQUIRE(server_pk.ok());
  const Buf nonce_key = read_file(server_dir + "/.expertsonly/noncekey");

  uint16_t port;
  {
    UdpSocket probe;  // a free port for the server; released just before it binds
    port = probe.port();
  }
  Child server({"curvecpserver", kServerName, server_dir, "127.0.0.1", std::to_string(port), kExtHex,
                "curvecpmessage", "cat"},
               tmp.path, tmp.path + "/server.log");
  UdpSocket sock;
  const sockaddr_in server_addr = loopback(port);

  ClientConfig config;
  config.server_long_term = *server_pk;
  config.server_name = test::name_of(kServerName);
  REQUIRE(parse_extension(kExtHex, config.server_extension));
  KeyPair client_long_term = KeyPair::generate(rng);
  config.client_long_term_pk = client_long_term.pk;
  config.client_long_term_sk = std::move(client_long_term.sk);
  rng.fill(config.vouch_nonce);
  ClientHandshake client(std::move(config), rng, Timestamp{0});

  // Hello until a Cookie comes (the server may still be starting). Our own clock: each
  // round jumps to the next Hello time.
  Buf packet(kMaxPacketBytes);
  uint64_t cookie_counter = UINT64_MAX;
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (client.state() == ClientHandshake::State::sending_hellos && Clock::now() < deadline) {
    const size_t n = client.poll_hello(client.next_timeout(), packet);
    REQUIRE(n == kHelloBytes);
    sock.send_to(Bytes(packet.data(), n), server_addr);
    auto d = sock.receive(500);
    if (!d) continue;
    CHECK(d->size() == kCookieBytes);
    auto drop = client.handle_cookie(*d);
    if (drop) FAIL("cookie dropped: " << drop_reason_name(*drop));
    cookie_counter = safenonce_counter(nonce_key, Bytes(d->data() + wire::cookie_packet::kNonceOffset, 16));
  }
  REQUIRE(client.state() == ClientHandshake::State::have_cookie);
  // First cookie of a fresh key directory: safenonce counter 0, 2^20 values reserved.
  CHECK(cookie_counter == 0);
  CHECK(load_le64(read_file(server_dir + "/.expertsonly/noncecounter").data()) == (uint64_t{1} << 20));

  // Initiate carrying the first part of the stream (no EOF yet).
  const std::string part1 = "first part, inside the Initiate. ";
  const std::string part2 = "second part, in a Client Message.\n";
  size_t n = client.seal(encode_message({1, 0, 0, 0, 0, part1}), packet);
  REQUIRE(n == kInitiateHeaderBytes + 192);
  sock.send_to(Bytes(packet.data(), n), server_addr);

  // Collect the echo from authentic Server Messages; once the first one arrived, send the
  // rest with EOF as a Client Message, acknowledging what we got.
  std::string echo;
  bool sent_part2 = false;
  int server_messages = 0;
  Buf out(kMaxMessageBytes);
  while (echo.size() < part1.size() + part2.size() && Clock::now() < deadline) {
    auto d = sock.receive(1000);
    if (!d) {
      // Retransmit what is outstanding (the reference message layer expects it on loss).
      if (!sent_part2) {
        n = client.seal(encode_message({2, 0, 0, 0, 0, part1}), packet);
        if (n) sock.send_to(Bytes(packet.data(), n), server_addr);
      }
      continue;
    }
    auto r = client.open(*d, out);
    if (auto* reason = std::get_if<DropReason>(&r)) FAIL("server message dropped: " << drop_reason_name(*reason));
    ++server_messages;
    CHECK(client.state() == ClientHandshake::State::established);
    Message m = decode_message(Bytes(out.data(), std::get<size_t>(r)));
    if (!m.data.empty() && m.offset == echo.size()) echo += m.data;
    if (!sent_part2) {
      n = client.seal(encode_message({3, m.id, part1.size(), 2048, part1.size(), part2}), packet);
      REQUIRE(n == kClientMessageHeaderBytes + 192);
      CHECK(packet[7] == 'M');
      sock.send_to(Bytes(packet.data(), n), server_addr);
      sent_part2 = true;
    }
  }
  CHECK(server_messages >= 1);
  CHECK(echo == part1 + part2);

  // Our safenonce shares the directory with the running reference server: the lock and
  // the on-disk counter give it the next range, disjoint from the server's.
  auto ours = KeyDirNonceSource::open(server_dir, /*long_term=*/true, rng);
  REQUIRE(ours.ok());
  auto nonce = (*ours)->next_nonce16();
  REQUIRE(nonce.ok());
  CHECK(safenonce_counter(nonce_key, *nonce) == (uint64_t{1} << 20));
  CHECK(load_le64(read_file(server_dir + "/.expertsonly/noncecounter").data()) == (uint64_t{2} << 20));
}

}  // namespace
}  // namespace curvecp
