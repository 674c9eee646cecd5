// libFuzzer target: the server's handshake state machine and connection table
// (daemon/server_endpoint.h, crypto/server.h) with a fixed key, fed Hello, Initiate and
// Message packets (recorded from a real client, then mutated, replayed, reordered, sent
// from a second address) and raw datagrams, with the clock moving and the application
// writing. The input format is in tests/daemon/fuzz_world.h. Checks the endpoint's own
// promises: it never sends to an unproven address more than 3x what came from there.
#include <cstdint>
#include <cstring>
#include <vector>

#include "tests/daemon/fuzz_world.h"

using namespace curvecp;
using namespace curvecp::fuzz;

namespace {

struct Run {
  SeededRng rng{kServerSeed};
  CountingNonces nonces;
  std::unique_ptr<ServerEndpoint> server = world().make_server(rng, nonces);
  Timestamp now{0};
  std::vector<uint8_t> buf = std::vector<uint8_t>(2048);
  uint64_t from_other = 0, to_other = 0;

  void deliver(const Address& from, Bytes d) {
    if (from == kOtherAddress) from_other += d.size();
    server->handle_datagram(now, from, d);
    service();
  }
  // Whether some connection sends to the other address as its proven one (its Initiate
  // came from there, or it moved there after answering a challenge).
  bool other_proven() const {
    for (uint32_t id = 0; id < server->capacity(); ++id) {
      if (server->connection(id) != nullptr && server->peer(id) == kOtherAddress) return true;
    }
    return false;
  }
  void service() {
    Address to;
    while (size_t n = server->poll_transmit(now, buf, to)) {
      // While no connection has proven the other address, it gets at most 3x what it
      // sent (counted generously: every datagram from there, authentic or not).
      if (to == kOtherAddress && !other_proven()) {
        to_other += n;
        if (to_other > 3 * from_other) __builtin_trap();
      }
    }
    while (server->poll_event()) {
    }
    if (server->next_timeout() < now) __builtin_trap();  // "due" means now: poll drained it
  }
  void application(size_t n, bool done) {
    for (uint32_t id = 0; id < server->capacity(); ++id) {
      Connection* c = server->connection(id);
      if (c == nullptr) continue;
      std::array<uint8_t, 4096> scratch;
      while (c->stream().read(scratch) > 0) {
      }
      std::vector<uint8_t> data(n, 'x');
      c->stream().write(data);
      if (done) {
        c->stream().close_write();
        c->set_application_done(now, false);
      }
      server->wake(id);
    }
    service();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const World& w = world();
  const auto& packets = w.to_server;
  Run r;
  Ops ops(data, size);
  uint8_t op = 0, a = 0, b = 0, c = 0;
  while (ops.next(op)) {
    switch (op % 8) {
      case 0:
        if (!ops.next(a)) return 0;
        r.deliver(kClientAddress, packets[a % packets.size()]);
        break;
      case 1: {
        if (!ops.next(a) || !ops.next(b) || !ops.next(c)) return 0;
        std::vector<uint8_t> p = packets[a % packets.size()];
        p[b % p.size()] ^= c == 0 ? 1 : c;
        r.deliver(kClientAddress, p);
        break;
      }
      case 2:
        if (!ops.next(a)) return 0;
        r.deliver(kOtherAddress, packets[a % packets.size()]);
        break;
      case 3:
        if (!ops.next(a)) return 0;
        r.now = r.now + Duration::milliseconds(16 * a);
        r.service();
        break;
      case 4: {
        if (!ops.next(a)) return 0;
        const uint8_t* raw = ops.take(a * size_t{8});
        if (raw == nullptr) return 0;
        r.deliver(kClientAddress, Bytes(raw, a * size_t{8}));
        break;
      }
      case 5:
        if (!ops.next(a)) return 0;
        r.application(a * size_t{64}, false);
        break;
      case 6:
        r.application(0, true);
        break;
      case 7:
        if (!ops.next(a) || !ops.next(b)) return 0;
        r.server->begin_batch();
        r.server->handle_datagram(r.now, kClientAddress, packets[a % packets.size()]);
        r.server->handle_datagram(r.now, kClientAddress, packets[b % packets.size()]);
        r.server->end_batch();
        r.service();
        break;
    }
  }
  return 0;
}
