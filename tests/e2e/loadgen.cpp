// Load generator for the end-to-end tests: many client connections in one process, on
// one event loop, using the same client code as `curvecp connect` (client/client_connection.h).
// Each connection sends BYTES of a pseudo-random stream derived from its index to a
// server whose program echoes its input (`cat`), and checks every echoed byte.
//
// usage: loadgen --name NAME --server-key HEX [--ext HEX] --connections N --bytes B
//                [--timeout SECONDS] IP PORT
// Prints one summary line; exits 0 only if every connection delivered and got back all
// B bytes intact and closed cleanly in both directions, 1 otherwise, 100 on usage errors.
#include <CLI/CLI.hpp>

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
  std::unique_ptr<ClientConnection> connection;
  uint64_t sent = 0;
  uint64_t received = 0;
  bool closed_write = false;
  bool corrupt = false;
  bool finished = false;
  bool ok = false;
  std::string failure;
};

class LoadGenerator {
 public:
  LoadGenerator(EventLoop& loop, uint64_t bytes_per_flow) : loop_(loop), bytes_(bytes_per_flow) {}

  Status add(uint64_t index, ClientEngineConfig config, Rng& rng) {
    auto flow = std::make_unique<Flow>();
    flow->index = index;
    Flow* f = flow.get();
    UdpSocketOptions socket_options;
    // Hundreds of sockets in one process: small buffers, no GRO super-buffers.
    socket_options.buffer_bytes = 1 << 20;
    socket_options.allow_gro = false;
    socket_options.send_queue_packets = 256;
    auto c = ClientConnection::open(
        loop_, std::move(config), rng, [this, f](Timestamp now) { progress(*f, now); }, socket_options);
    if (!c) return c.error();
    flow->connection = std::move(*c);
    flows_.push_back(std::move(flow));
    progress(*f, loop_.now());
    return {};
  }

  // Called once every connection has finished.
  void set_all_done_handler(std::function<void(Timestamp)> h) { on_all_done_ = std::move(h); }
  size_t finished() const { return finished_; }
  size_t total() const { return flows_.size(); }
  const std::vector<std::unique_ptr<Flow>>& flows() const { return flows_; }

 private:
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
    if (f.sent == bytes_ && !f.closed_write) {
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

  void done(Flow& f, bool ok, std::string why) {
    f.finished = true;
    f.ok = ok;
    f.failure = std::move(why);
    if (++finished_ == flows_.size() && on_all_done_) on_all_done_(loop_.now());
  }

  EventLoop& loop_;
  uint64_t bytes_;
  std::vector<std::unique_ptr<Flow>> flows_;
  size_t finished_ = 0;
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
      (!ext_hex.empty() && !parse_extension(ext_hex, base.server_extension)) || connections == 0) {
    std::fprintf(stderr, "loadgen: bad arguments\n");
    return 100;
  }
  if (!crypto_initialize()) return 111;
  SodiumRng rng;
  auto loop = EventLoop::create();
  if (!loop) return 111;
  LoadGenerator gen(**loop, bytes);
  const Timestamp start = (*loop)->update_now();
  for (uint64_t i = 0; i < connections; ++i) {
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
    config.connection.idle_timeout = Duration::seconds(static_cast<int64_t>(timeout_s) + 1);
    config.handshake_timeout = Duration::seconds(static_cast<int64_t>(timeout_s) + 1);
    if (Status s = gen.add(i, std::move(config), rng); !s) {
      std::fprintf(stderr, "loadgen: connection %llu: %s\n", static_cast<unsigned long long>(i),
                   s.error().message.c_str());
      return 111;
    }
  }
  auto deadline = Timer::create(**loop, [&](Timestamp) { (*loop)->stop(); });
  if (!deadline) return 111;
  (*deadline)->arm(start + Duration::nanoseconds(static_cast<int64_t>(timeout_s * 1e9)));
  // Like `curvecp connect`, stay a moment after the last connection is done so that the
  // final (possibly delayed) acknowledgements reach the server.
  gen.set_all_done_handler([&](Timestamp now) { (*deadline)->arm(now + Duration::milliseconds(100)); });
  if (gen.finished() < gen.total()) (void)(*loop)->run();
  const double elapsed_s = ((*loop)->update_now() - start).seconds_f();

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
  std::printf("loadgen: %zu connections, %zu ok, %zu failed, %zu unfinished; %llu bytes echoed in %.2f s\n",
              gen.total(), ok, failed, unfinished, static_cast<unsigned long long>(moved), elapsed_s);
  deadline->reset();
  return ok == gen.total() ? 0 : 1;
}
