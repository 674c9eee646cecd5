// Load generator for the end-to-end tests: many client connections in one process, on
// one event loop, using the same client code as `curvecp connect` (client/client_connection.h).
// Each connection sends BYTES of a pseudo-random stream derived from its index to a
// server whose program echoes its input (`cat`), and checks every echoed byte.
//
// usage: loadgen --name NAME --server-key HEX [--ext HEX] --connections N --bytes B
//                [--timeout SECONDS] [--rate PER_SECOND] [--hold SECONDS] IP PORT
// By default all N connections start at once. --rate starts them at that pace instead
// (short connections: each is released once finished, so sockets do not pile up).
// --hold keeps every connection open after its echo has arrived until all N have theirs
// and then HOLD seconds more (printing "loadgen: holding N connections" when that starts),
// before any of them sends its EOF: N concurrent established connections.
// --restart-after S (default 60): a connection whose handshake has not completed S seconds
// after it started starts over with new keys and a new Hello, as a person would rerun
// the command: its cookie may have gone stale (60-120 s, CURVECP.md 3.3) while the server
// was busy, and the client engine keeps resending that Initiate until its handshake
// timeout. The summary line counts these restarts.
// --release-file PATH (with --hold): hold until PATH exists, HOLD seconds at most, so that
// several generators (tests/bench/scale.sh) hold their connections at the same time and
// release them together.
// Prints one summary line; exits 0 only if every connection delivered and got back all
// B bytes intact and closed cleanly in both directions, 1 otherwise, 100 on usage errors.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/client_connection.h"
#include "core/address.h"
#include "core/bytes.h"
#include "crypto/init.h"
#include "crypto/server_name.h"
#include "crypto/sodium_rng.h"
#include "daemon/event_loop.h"
#include "daemon/timer.h"

namespace {

using namespace curvecp;

// Byte `offset` of connection `index`'s stream: splitmix64 of (index, offset / 8).
uint8_t pattern_byte(uint64_t index, uint64_t offset) {
  uint64_t z = (index << 40) + (offset >> 3) + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<uint8_t>(z >> (8 * (offset & 7)));
}

struct Flow {
  uint64_t index = 0;
  Timestamp started_at;
  Timestamp finished_at;
  std::unique_ptr<ClientConnection> connection;
  uint64_t sent = 0;
  uint64_t received = 0;
  bool closed_write = false;
  bool corrupt = false;
  bool finished = false;
  bool echo_in = false;  // all B bytes came back
  bool ok = false;
  std::string failure;
};

class LoadGenerator {
 public:
  // expected: how many connections will be added in all.
  LoadGenerator(EventLoop& loop, uint64_t bytes_per_flow, bool hold, size_t expected)
      : loop_(loop), bytes_(bytes_per_flow), hold_(hold), expected_(expected) {}

  Status add(uint64_t index, ClientEngineConfig config, Rng& rng) {
    auto flow = std::make_unique<Flow>();
    flow->index = index;
    Flow* f = flow.get();
    if (Status st = open(*f, std::move(config), rng); !st) return st;
    flows_.push_back(std::move(flow));
    progress(*f, loop_.now());
    return {};
  }

  // --restart-after: flows still in their handshake `after` since they (re)started begin
  // again with a connection made by `make_config`. Returns how many did.
  size_t restart_stuck(Timestamp now, Duration after, const std::function<ClientEngineConfig()>& make_config,
                       Rng& rng) {
    size_t n = 0;
    for (auto& f : flows_) {
      if (f->finished || !f->connection || f->connection->engine().established()) continue;
      if (now - f->started_at < after) continue;
      f->connection.reset();
      // The new connection's stream starts empty: what the old one took counts for nothing
      // (not resetting this left the restarted flow with nothing to send, waiting forever).
      f->sent = 0;
      f->received = 0;
      f->closed_write = false;
      if (Status st = open(*f, make_config(), rng); !st) {
        done(*f, false, "restart: " + st.error().message);
        continue;
      }
      ++n;
      ++restarts_;
      progress(*f, now);
    }
    return n;
  }
  size_t restarts() const { return restarts_; }
  // One progress line on stderr: where the flows are.
  void report(Timestamp now, Timestamp start) const {
    size_t established = 0, failed = 0;
    for (const auto& f : flows_) {
      if (f->finished && !f->ok) ++failed;
      if (!f->finished && f->connection && f->connection->engine().established()) ++established;
    }
    std::fprintf(stderr, "loadgen: %.0f s: %zu started, %zu established and open, %zu echoed, %zu finished (%zu failed), %zu restarts\n",
                 (now - start).seconds_f(), flows_.size(), established, echoed_, finished_, failed, restarts_);
  }

  // --hold: called once every connection has its echo or has failed (none has sent its
  // EOF yet).
  void set_all_echoed_handler(std::function<void(Timestamp)> h) { on_all_echoed_ = std::move(h); }
  // --hold: every connection sends its EOF now.
  void release_all(Timestamp now) {
    hold_ = false;
    for (auto& f : flows_) {
      if (!f->finished) progress(*f, now);
    }
  }
  size_t echoed() const { return echoed_; }
  // Frees the connections (sockets) of flows finished at least `linger` ago; the linger
  // lets a final acknowledgement out first, as `curvecp connect` stays a moment.
  void sweep(Timestamp now, Duration linger) {
    for (auto& f : flows_) {
      if (f->finished && f->connection && now - f->finished_at >= linger) f->connection.reset();
    }
  }
  // Called once every connection has finished.
  void set_all_done_handler(std::function<void(Timestamp)> h) { on_all_done_ = std::move(h); }
  size_t finished() const { return finished_; }
  size_t total() const { return flows_.size(); }
  const std::vector<std::unique_ptr<Flow>>& flows() const { return flows_; }

 private:
  Status open(Flow& f, ClientEngineConfig config, Rng& rng) {
    UdpSocketOptions socket_options;
    // Hundreds of sockets in one process: small buffers, no GRO super-buffers.
    socket_options.buffer_bytes = 1 << 20;
    socket_options.allow_gro = false;
    socket_options.send_queue_packets = 64;
    Flow* p = &f;
    auto c = ClientConnection::open(
        loop_, std::move(config), rng, [this, p](Timestamp now) { progress(*p, now); }, socket_options);
    if (!c) return c.error();
    f.connection = std::move(*c);
    f.started_at = loop_.now();
    return {};
  }

  void progress(Flow& f, Timestamp now) {
    if (f.finished) return;
    Stream& s = f.connection->stream();
    // Send the pattern as space allows, then our EOF.
    uint8_t chunk[16384];
    while (f.sent < bytes_ && s.send_space() > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>({sizeof chunk, s.send_space(), bytes_ - f.sent}));
      for (size_t i = 0; i < n; ++i) chunk[i] = pattern_byte(f.index, f.sent + i);
      size_t w = s.write(Bytes(chunk, n));
      f.sent += w;
      if (w < n) break;
    }
    if (f.sent == bytes_ && !f.closed_write && !hold_) {
      s.close_write();
      f.closed_write = true;
    }
    // Check the echo.
    while (s.readable() > 0) {
      size_t n = s.read(MutableBytes(chunk, sizeof chunk));
      if (n == 0) break;
      for (size_t i = 0; i < n && !f.corrupt; ++i) {
        if (f.received + i >= bytes_ || chunk[i] != pattern_byte(f.index, f.received + i)) f.corrupt = true;
      }
      f.received += n;
      if (f.received == bytes_ && !f.echo_in) {
        f.echo_in = true;
        ++echoed_;
        settle(now);
      }
    }
    f.connection->service(now);

    ClientEngine& e = f.connection->engine();
    if (e.phase() == ClientEngine::Phase::failed) {
      done(f, false, e.failure());
    } else if (f.corrupt) {
      done(f, false, "echo differs from what was sent at or after byte " + std::to_string(f.received));
    } else if (s.done()) {
      e.connection().set_application_done(now, false);
      if (s.read_failed()) {
        done(f, false, "server ended the stream with FAIL");
      } else if (f.received != bytes_) {
        done(f, false, "echo ended after " + std::to_string(f.received) + " bytes");
      } else {
        done(f, true, "");
      }
    }
  }

  // --hold waits for every flow to have its echo or to have ended without it (a failure,
  // which then shows in the summary), never for a flow that cannot echo any more.
  void settle(Timestamp now) {
    if (++settled_ == expected_ && on_all_echoed_) on_all_echoed_(now);
  }

  void done(Flow& f, bool ok, std::string why) {
    if (!f.echo_in) settle(loop_.now());
    f.finished = true;
    f.finished_at = loop_.now();
    f.ok = ok;
    f.failure = std::move(why);
    if (++finished_ == expected_ && on_all_done_) on_all_done_(loop_.now());
  }

  EventLoop& loop_;
  uint64_t bytes_;
  bool hold_;
  size_t expected_;
  std::vector<std::unique_ptr<Flow>> flows_;
  size_t finished_ = 0;
  size_t echoed_ = 0;
  size_t settled_ = 0;
  size_t restarts_ = 0;
  std::function<void(Timestamp)> on_all_echoed_;
  std::function<void(Timestamp)> on_all_done_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"curvecp load generator: N echo connections in one process"};
  std::string name, key_hex, ext_hex, ip, port_text;
  uint64_t connections = 1, bytes = 1 << 20;
  double timeout_s = 300;
  app.add_option("--name", name)->required();
  app.add_option("--server-key", key_hex)->required();
  app.add_option("--ext", ext_hex);
  app.add_option("--connections", connections);
  app.add_option("--bytes", bytes);
  app.add_option("--timeout", timeout_s);
  double rate = 0, hold_s = 0, restart_s = 60;
  app.add_option("--rate", rate, "Start connections at this many per second (default: all at once)");
  app.add_option("--hold", hold_s, "Hold all connections open this many seconds after every echo is in");
  std::string release_file;
  app.add_option("--release-file", release_file, "With --hold: release as soon as this file exists");
  app.add_option("--restart-after", restart_s, "Start a handshake over after this many seconds without success (0: never)");
  app.add_option("IP", ip)->required();
  app.add_option("PORT", port_text)->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 100;
  }

  ClientConfig base;
  auto port = parse_port(port_text);
  auto server = port ? Address::parse(ip, *port) : std::nullopt;
  auto sname = encode_server_name(name);
  if (!parse_public_key(key_hex, base.server_long_term) || !server || !sname ||
      (!ext_hex.empty() && !parse_extension(ext_hex, base.server_extension)) || connections == 0 ||
      !(rate >= 0) || !(hold_s >= 0) || !(restart_s >= 0)) {
    std::fprintf(stderr, "loadgen: bad arguments\n");
    return 100;
  }
  if (!crypto_initialize()) return 111;
  SodiumRng rng;
  auto loop = EventLoop::create();
  if (!loop) return 111;
  EventLoop& l = **loop;
  LoadGenerator gen(l, bytes, hold_s > 0, connections);
  const Timestamp start = l.update_now();
  uint64_t added = 0;
  bool add_failed = false;
  auto make_config = [&]() {
    ClientEngineConfig config;
    config.server = *server;
    config.crypto.server_long_term = base.server_long_term;
    config.crypto.server_extension = base.server_extension;
    config.crypto.server_name = *sname;
    KeyPair pair = KeyPair::generate(rng);
    config.crypto.client_long_term_pk = pair.pk;
    config.crypto.client_long_term_sk = std::move(pair.sk);
    rng.fill(config.crypto.vouch_nonce);
    // Some connections wait a long time for their turn under load: the test bounds time.
    config.connection.idle_timeout = Duration::seconds(static_cast<int64_t>(timeout_s + hold_s) + 1);
    config.handshake_timeout = Duration::seconds(static_cast<int64_t>(timeout_s) + 1);
    return config;
  };
  auto add_one = [&]() {
    if (Status st = gen.add(added, make_config(), rng); !st) {
      std::fprintf(stderr, "loadgen: connection %llu: %s\n", static_cast<unsigned long long>(added),
                   st.error().message.c_str());
      add_failed = true;
      l.stop();
      return;
    }
    ++added;
  };
  if (rate == 0) {
    while (added < connections && !add_failed) add_one();
    if (add_failed) return 111;
  }
  // --rate: a 1 ms tick starts the connections due by now and frees finished ones.
  std::unique_ptr<Timer> tick;
  Timestamp next_sweep = start;
  if (rate > 0) {
    auto t = Timer::create(l, [&](Timestamp now) {
      const double due = std::min<double>(static_cast<double>(connections), (now - start).seconds_f() * rate + 1);
      while (static_cast<double>(added) < due && !add_failed) add_one();
      if (now >= next_sweep) {
        gen.sweep(now, ConnectionConfig{}.linger);
        next_sweep = now + Duration::milliseconds(100);
      }
      if (added < connections || gen.finished() < connections) tick->arm(now + Duration::milliseconds(1));
    });
    if (!t) return 111;
    tick = std::move(t.value());
    tick->arm(start);
  }
  // --restart-after: once a second, handshakes stuck for that long start over.
  std::unique_ptr<Timer> restart_tick;
  if (restart_s > 0) {
    const Duration after = Duration::nanoseconds(static_cast<int64_t>(restart_s * 1e9));
    auto t = Timer::create(l, [&, after](Timestamp now) {
      gen.restart_stuck(now, after, make_config, rng);
      restart_tick->arm(now + Duration::seconds(1));
    });
    if (!t) return 111;
    restart_tick = std::move(t.value());
    restart_tick->arm(start + Duration::seconds(1));
  }
  // Progress every 10 s on stderr (a stuck run shows where it is stuck).
  std::unique_ptr<Timer> report_tick;
  {
    auto t = Timer::create(l, [&](Timestamp now) {
      gen.report(now, start);
      report_tick->arm(now + Duration::seconds(10));
    });
    if (!t) return 111;
    report_tick = std::move(t.value());
    report_tick->arm(start + Duration::seconds(10));
  }
  auto deadline = Timer::create(l, [&](Timestamp) { l.stop(); });
  if (!deadline) return 111;
  (*deadline)->arm(start + Duration::nanoseconds(static_cast<int64_t>((timeout_s + hold_s) * 1e9)));
  // --hold: once every echo is in, hold all connections open, then let them end.
  Timestamp hold_until = start;
  std::unique_ptr<Timer>* release_timer = nullptr;
  auto release = Timer::create(l, [&](Timestamp now) {
    if (!release_file.empty() && now < hold_until && ::access(release_file.c_str(), F_OK) != 0) {
      (*release_timer)->arm(std::min(hold_until, now + Duration::milliseconds(200)));
      return;
    }
    gen.release_all(now);
  });
  if (!release) return 111;
  release_timer = &release.value();
  gen.set_all_echoed_handler([&](Timestamp now) {
    if (hold_s <= 0) return;
    std::printf("loadgen: holding %zu connections for %.1f s\n", gen.echoed(), hold_s);
    std::fflush(stdout);
    hold_until = now + Duration::nanoseconds(static_cast<int64_t>(hold_s * 1e9));
    (*release)->arm(release_file.empty() ? hold_until : now);
  });
  // Stay as long as a connection lingers (ConnectionConfig::linger, 2 s) after the last
  // one is done, re-acknowledging a server's final EOF whose first acknowledgement was
  // lost: leaving at once made the server count such connections as failed (10 000
  // released at once overflow its socket's receive queue).
  gen.set_all_done_handler([&](Timestamp now) { (*deadline)->arm(now + ConnectionConfig{}.linger); });
  if (gen.finished() < connections) (void)l.run();
  if (add_failed) return 111;
  const double elapsed_s = (l.update_now() - start).seconds_f();

  size_t ok = 0, failed = 0, unfinished = 0;
  uint64_t moved = 0;
  for (const auto& f : gen.flows()) {
    moved += f->received;
    if (!f->finished) {
      ++unfinished;
    } else if (f->ok) {
      ++ok;
    } else {
      if (failed < 5) {
        std::fprintf(stderr, "loadgen: connection %llu failed: %s\n", static_cast<unsigned long long>(f->index),
                     f->failure.c_str());
      }
      ++failed;
    }
  }
  unfinished += connections - gen.total();  // never started (deadline)
  std::printf("loadgen: %llu connections, %zu ok, %zu failed, %zu unfinished; %llu bytes echoed in %.2f s; %zu handshakes restarted\n",
              static_cast<unsigned long long>(connections), ok, failed, unfinished,
              static_cast<unsigned long long>(moved), elapsed_s, gen.restarts());
  tick.reset();
  restart_tick.reset();
  report_tick.reset();
  release->reset();
  deadline->reset();
  return ok == connections ? 0 : 1;
}
