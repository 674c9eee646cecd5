// Interoperability at the message layer (CURVECP.md 5.2, 6): the reference
// curvecpmessage runs with its fds 8 and 9 on pipes owned by this test, our Stream talks
// to it over those pipes with a real monotonic clock, and data goes both ways byte-exact.
// This shows that reference-format messages parse and that the reference accepts ours.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "core/rng.h"
#include "scheduler/message.h"
#include "scheduler/stream.h"

using namespace curvecp;

namespace {

Timestamp monotonic_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return Timestamp{static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec};
}

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  SeededRng rng(seed);
  std::vector<uint8_t> v(n);
  rng.fill(v);
  return v;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void write_file(const std::string& path, const std::vector<uint8_t>& data) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// A scratch directory removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/curvecp-msg-interop-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    const std::string cmd = "rm -rf '" + path + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", path.c_str());
  }
};

// The reference curvecpmessage as a child with fd 8 (what it reads) and fd 9 (what it
// writes) on our pipes. Killed and reaped on destruction if still running.
class ReferenceChild {
 public:
  explicit ReferenceChild(const std::vector<std::string>& argv) {
    int to_child[2], from_child[2];
    REQUIRE(pipe(to_child) == 0);
    REQUIRE(pipe(from_child) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      // Child: fds 8/9 non-blocking, as the crypto processes hand them over (CURVECP.md 5.2).
      int in = fcntl(to_child[0], F_DUPFD, 10);
      int out = fcntl(from_child[1], F_DUPFD, 10);
      if (in < 0 || out < 0 || dup2(in, 8) < 0 || dup2(out, 9) < 0) _exit(126);
      fcntl(8, F_SETFL, O_NONBLOCK);
      fcntl(9, F_SETFL, O_NONBLOCK);
      for (int fd = 3; fd < 256; ++fd) {
        if (fd != 8 && fd != 9) close(fd);
      }
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(CURVECPMESSAGE_PATH, args.data());
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    write_fd_ = to_child[1];
    read_fd_ = from_child[0];
    fcntl(read_fd_, F_SETFL, O_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);
  }
  ~ReferenceChild() {
    if (write_fd_ >= 0) close(write_fd_);
    if (read_fd_ >= 0) close(read_fd_);
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  int read_fd() const { return read_fd_; }
  // Frames and writes one message (CURVECP.md 5.2: length byte b, then 16 b bytes).
  bool send(const uint8_t* msg, size_t n) {
    uint8_t frame[1 + 1088];
    frame[0] = static_cast<uint8_t>(n / 16);
    std::memcpy(frame + 1, msg, n);
    size_t done = 0;
    while (done < n + 1) {
      const ssize_t w = write(write_fd_, frame + done, n + 1 - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      done += static_cast<size_t>(w);
    }
    return true;
  }
  // Reads what is available and returns complete messages; false at EOF or on a framing error.
  bool receive(std::vector<std::vector<uint8_t>>& messages) {
    uint8_t buf[8192];
    bool open = true;
    for (;;) {
      const ssize_t r = read(read_fd_, buf, sizeof buf);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
      if (r <= 0) {
        // End of file: the messages read before it (the last acknowledgement, written
        // just before the reference exits) still count.
        open = false;
        break;
      }
      pending_.insert(pending_.end(), buf, buf + r);
    }
    size_t pos = 0;
    while (pos < pending_.size()) {
      const size_t b = pending_[pos];
      if (b == 0 || b > 68) return false;
      if (pending_.size() - pos < 1 + 16 * b) break;
      messages.emplace_back(pending_.begin() + static_cast<ptrdiff_t>(pos + 1),
                            pending_.begin() + static_cast<ptrdiff_t>(pos + 1 + 16 * b));
      pos += 1 + 16 * b;
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(pos));
    return open;
  }
  // Non-blocking check; true once the child has exited (status in exit_status()).
  bool poll_exit() {
    if (exited_) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exited_;
  }
  int exit_status() const { return exit_status_; }

 private:
  pid_t pid_ = -1;
  int write_fd_ = -1;
  int read_fd_ = -1;
  bool exited_ = false;
  int exit_status_ = -1;
  std::vector<uint8_t> pending_;
};

struct InteropResult {
  bool stream_done = false;
  bool child_exited = false;
  int child_status = -1;
  std::vector<uint8_t> received;
  StreamStats stats;
  uint64_t data_messages_from_peer = 0;
  uint64_t acks_naming_id = 0;
  uint64_t dropped = 0;  // messages the test dropped (loss > 0)
  // The reference's last message before it exited was one the test dropped. The reference
  // exits once its side is complete without waiting to hear that its final acknowledgement
  // arrived, so if that one is lost our stream cannot learn that its end was received (the
  // two generals; nothing in the protocol can tell it).
  bool last_peer_message_dropped = false;
};

// Drives `stream` against `child` until both are finished or `limit` passes.
// loss: fraction of messages dropped in each direction (seeded), to exercise both sides'
// retransmission, our ranges 2..6 and the 9 item 11 rule against the real reference.
// driver: if set, called every iteration instead of writing to_send and closing.
using Driver = std::function<void(Stream&, Timestamp)>;
InteropResult run_against(ReferenceChild& child, Stream& stream, const std::vector<uint8_t>& to_send,
                          StreamRole role, Duration limit, double loss = 0, const Driver& driver = {}) {
  InteropResult result;
  SeededRng loss_rng(99);
  const Timestamp deadline = monotonic_now() + limit;
  size_t written = 0;
  bool closed = false;
  bool got_first = false;
  bool child_eof = false;        // everything the reference wrote has been read
  bool child_closed_in = false;  // the reference no longer reads (a write failed)
  std::vector<uint8_t> out(1088);
  std::vector<std::vector<uint8_t>> messages;
  while (monotonic_now() < deadline) {
    Timestamp now = monotonic_now();
    if (driver) {
      driver(stream, now);
    } else if (written < to_send.size()) {
      written += stream.write(Bytes(to_send.data() + written, to_send.size() - written));
    }
    if (!driver && written == to_send.size() && !closed) {
      stream.close_write();
      closed = true;
    }
    messages.clear();
    if (!child_eof && !child.receive(messages)) child_eof = true;
    for (const auto& m : messages) {
      result.last_peer_message_dropped = false;
      if (loss > 0 && loss_rng.unit() < loss) {
        ++result.dropped;
        result.last_peer_message_dropped = true;
        continue;
      }
      Message parsed;
      if (parse_message(m, parsed) == ParseResult::ok && parsed.id != 0) ++result.data_messages_from_peer;
      stream.on_message(now, m);
      got_first = true;
    }
    uint8_t rbuf[16384];
    while (size_t n = stream.read(MutableBytes(rbuf, sizeof rbuf))) result.received.insert(result.received.end(), rbuf, rbuf + n);
    // A client's messages travel in Initiates (at most 640 bytes) until the server's
    // first message has arrived (CURVECP.md 4.6).
    const size_t max_message = role == StreamRole::client && !got_first ? 640 : 1088;
    now = monotonic_now();
    while (size_t n = stream.poll_transmit(now, out, max_message)) {
      CHECK(n <= max_message);
      Message parsed;
      REQUIRE(parse_message(Bytes(out.data(), n), parsed) == ParseResult::ok);
      if (parsed.ack.acked_id != 0) ++result.acks_naming_id;
      if (loss > 0 && loss_rng.unit() < loss) {
        ++result.dropped;
        continue;
      }
      if (!child_closed_in && !child.send(out.data(), n)) child_closed_in = true;
    }
    if (stream.done() && child.poll_exit()) break;
    // The reference has exited and everything it wrote has been read: nothing more can
    // arrive, so waiting on would only watch our retransmissions go nowhere.
    if (child_eof && child.poll_exit()) break;
    child.poll_exit();
    const Timestamp next = stream.next_timeout();
    now = monotonic_now();
    int wait_ms = 10;
    if (next <= now) {
      wait_ms = 0;
    } else if (next - now < Duration::milliseconds(10)) {
      wait_ms = static_cast<int>((next - now).ns / 1'000'000) + 1;
    }
    pollfd p{child.read_fd(), POLLIN, 0};
    poll(&p, child_eof ? 0 : 1, wait_ms);
  }
  // Give the reference a moment to finish its side (it polls for its program's exit).
  const Timestamp exit_deadline = monotonic_now() + Duration::seconds(5);
  while (!child.poll_exit() && monotonic_now() < exit_deadline) usleep(10'000);
  result.stream_done = stream.done();
  result.child_exited = child.poll_exit();
  result.child_status = child.exit_status();
  result.stats = stream.stats();
  return result;
}

}  // namespace

TEST_CASE("interop: reference curvecpmessage -c (client) against our server stream, data both ways") {
  TempDir dir;
  const auto from_ref = random_bytes(100'000, 1);
  const auto from_us = random_bytes(120'000, 2);
  write_file(dir.path + "/in", from_ref);
  ReferenceChild child({"curvecpmessage", "-c", "sh", "-c",
                        "cat '" + dir.path + "/in' >&7; exec 7>&-; cat <&6 > '" + dir.path + "/out'"});
  SeededRng rng(3);
  StreamConfig config;
  config.role = StreamRole::server;
  config.controller = "reference-chicago";
  auto stream = std::move(Stream::create(config, rng, monotonic_now()).value());
  const InteropResult r = run_against(child, *stream, from_us, StreamRole::server, Duration::seconds(30));
  CHECK(r.stream_done);
  CHECK(r.child_exited);
  CHECK(r.child_status == 0);
  CHECK(r.received == from_ref);
  CHECK(read_file(dir.path + "/out") == from_us);
  CHECK(r.stats.bad_messages == 0);
  CHECK_FALSE(r.stats.peer_is_curvecp);
  // Toward the reference every data message is acknowledged by its ID (CURVECP.md 7.7).
  CHECK(r.acks_naming_id >= r.data_messages_from_peer * 9 / 10);
  MESSAGE("server: sent ", r.stats.messages_sent, " messages, ", r.stats.retransmissions, " retransmissions, srtt ",
          r.stats.srtt.ns / 1000, " us");
}

TEST_CASE("interop: our client stream against reference curvecpmessage (server mode), data both ways") {
  TempDir dir;
  const auto from_ref = random_bytes(90'000, 4);
  const auto from_us = random_bytes(110'000, 5);
  write_file(dir.path + "/in", from_ref);
  // Server mode: the program's fd 0 is what we send, fd 1 what it sends back.
  ReferenceChild child({"curvecpmessage", "sh", "-c",
                        "cat > '" + dir.path + "/out'; cat '" + dir.path + "/in'"});
  SeededRng rng(6);
  StreamConfig config;
  config.role = StreamRole::client;
  config.controller = "reference-chicago";
  config.ping_at_start = true;
  auto stream = std::move(Stream::create(config, rng, monotonic_now()).value());
  const InteropResult r = run_against(child, *stream, from_us, StreamRole::client, Duration::seconds(30));
  CHECK(r.stream_done);
  CHECK(r.child_exited);
  CHECK(r.child_status == 0);
  CHECK(r.received == from_ref);
  CHECK(read_file(dir.path + "/out") == from_us);
  CHECK(r.stats.bad_messages == 0);
  MESSAGE("client: sent ", r.stats.messages_sent, " messages, ", r.stats.retransmissions, " retransmissions, srtt ",
          r.stats.srtt.ns / 1000, " us");
}

TEST_CASE("interop: reference curvecpmessage -c against our server stream, 3% message loss both ways") {
  TempDir dir;
  const auto from_ref = random_bytes(60'000, 7);
  const auto from_us = random_bytes(60'000, 8);
  write_file(dir.path + "/in", from_ref);
  ReferenceChild child({"curvecpmessage", "-c", "sh", "-c",
                        "cat '" + dir.path + "/in' >&7; exec 7>&-; cat <&6 > '" + dir.path + "/out'"});
  SeededRng rng(9);
  StreamConfig config;
  config.role = StreamRole::server;
  config.controller = "reference-chicago";
  auto stream = std::move(Stream::create(config, rng, monotonic_now()).value());
  const InteropResult r = run_against(child, *stream, from_us, StreamRole::server, Duration::seconds(40), 0.03);
  // Done, unless the reference's final acknowledgement was the message dropped last (it had
  // then received everything: its program wrote all of from_us, checked below).
  CHECK((r.stream_done || r.last_peer_message_dropped));
  CHECK(r.child_exited);
  CHECK(r.received == from_ref);
  CHECK(read_file(dir.path + "/out") == from_us);
  CHECK(r.dropped > 0);
  MESSAGE("lossy: dropped ", r.dropped, " messages; we sent ", r.stats.messages_sent, " messages, ",
          r.stats.retransmissions, " retransmissions, ", r.stats.timeouts, " timeouts");
}

TEST_CASE("interop: keepalives to reference curvecpmessage are acknowledged, at offset 0 and after data") {
  TempDir dir;
  const auto from_us = random_bytes(5'000, 10);
  ReferenceChild child({"curvecpmessage", "sh", "-c", "cat > '" + dir.path + "/out'"});
  SeededRng rng(11);
  StreamConfig config;
  config.role = StreamRole::client;
  config.controller = "chicago";
  config.ping_at_start = true;
  auto stream = std::move(Stream::create(config, rng, monotonic_now()).value());
  const Timestamp start = monotonic_now();
  // Keepalives at 0.4 s (nothing written yet: offset 0) and at 1.2 s (after 5000 bytes
  // were acknowledged); close at 1.6 s.
  struct Probe {
    Duration at;
    bool sent = false;
    Timestamp heard_before{};
    Timestamp acknowledged = Timestamp::never();
    Timestamp heard_after{};
  } probes[2] = {{Duration::milliseconds(400)}, {Duration::milliseconds(1200)}};
  bool wrote = false, closed = false;
  uint64_t acked_at_second = 0;
  const Driver driver = [&](Stream& s, Timestamp now) {
    for (auto& p : probes) {
      if (!p.sent && now - start >= p.at) {
        CHECK_FALSE(s.keepalive_outstanding());
        p.sent = true;
        p.heard_before = s.last_receive_time();
        s.send_keepalive(now);
      } else if (p.sent && p.acknowledged == Timestamp::never() && !s.keepalive_outstanding()) {
        p.acknowledged = now;
        p.heard_after = s.last_receive_time();
      }
    }
    if (!wrote && now - start >= Duration::milliseconds(800)) {
      wrote = true;
      CHECK(s.write(from_us) == from_us.size());
    }
    if (probes[1].sent && acked_at_second == 0) acked_at_second = s.stats().bytes_sent + 1;
    if (!closed && now - start >= Duration::milliseconds(1600)) {
      closed = true;
      s.close_write();
    }
  };
  const InteropResult r = run_against(child, *stream, {}, StreamRole::client, Duration::seconds(20), 0, driver);
  CHECK(r.stream_done);
  CHECK(r.child_exited);
  CHECK(read_file(dir.path + "/out") == from_us);
  CHECK(acked_at_second == from_us.size() + 1);  // the second keepalive went at offset 5000
  for (const auto& p : probes) {
    CHECK(p.sent);
    CHECK(p.acknowledged != Timestamp::never());
    CHECK(p.heard_after > p.heard_before);
    MESSAGE("keepalive at ", p.at.ns / 1'000'000, " ms acknowledged after ",
            (p.acknowledged - (start + p.at)).ns / 1000, " us");
  }
}

TEST_CASE("interop: abort() toward reference curvecpmessage ends its program's input after the transmitted prefix") {
  TempDir dir;
  const auto from_us = random_bytes(64'000'000, 12);
  ReferenceChild child({"curvecpmessage", "-c", "sh", "-c", "exec 7>&-; cat <&6 > '" + dir.path + "/out'"});
  SeededRng rng(13);
  StreamConfig config;
  config.role = StreamRole::server;
  config.controller = "chicago";
  auto stream = std::move(Stream::create(config, rng, monotonic_now()).value());
  const Timestamp start = monotonic_now();
  size_t written = 0;
  bool aborted = false;
  const Driver driver = [&](Stream& s, Timestamp now) {
    if (aborted) return;
    if (now - start >= Duration::milliseconds(150)) {
      aborted = true;
      s.abort();
      CHECK(s.send_space() == 0);
      return;
    }
    written += s.write(Bytes(from_us.data() + written, from_us.size() - written));
  };
  const InteropResult r = run_against(child, *stream, {}, StreamRole::server, Duration::seconds(30), 0, driver);
  CHECK(aborted);
  CHECK(r.stream_done);
  CHECK(r.child_exited);
  CHECK(r.child_status == 0);
  const auto out = read_file(dir.path + "/out");
  CHECK(out.size() > 0);
  CHECK(out.size() < written);  // written: what the send buffer held at the abort
  CHECK(out.size() == r.stats.bytes_sent);
  CHECK(std::equal(out.begin(), out.end(), from_us.begin()));
  MESSAGE("abort toward the reference: ", written, " bytes written, ", out.size(), " delivered before the FAIL");
}
