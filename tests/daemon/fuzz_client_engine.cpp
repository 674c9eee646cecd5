// libFuzzer target: the client's handshake state machine and connection
// (client/client_engine.h, crypto/client.h), fed Cookie and Server Message packets
// (recorded from a real server, then mutated, replayed, reordered, sent from a wrong
// address) and raw datagrams, with the clock moving, the application writing, aborts and
// ICMP errors. The input format is in tests/daemon/fuzz_world.h; here opcode 6 aborts
// when its lowest bit of the next byte is set, and otherwise reports an ICMP error.
#include <cerrno>
#include <cstdint>
#include <vector>

#include "tests/daemon/fuzz_world.h"

using namespace curvecp;
using namespace curvecp::fuzz;

namespace {

struct Run {
  SeededRng rng{kClientSeed};
  std::unique_ptr<ClientEngine> client = world().make_client(rng);
  Timestamp now{0};
  std::vector<uint8_t> buf = std::vector<uint8_t>(2048);

  void deliver(const Address& from, Bytes d) {
    client->handle_datagram(now, from, d);
    service();
  }
  void service() {
    while (client->poll_transmit(now, buf) > 0) {
    }
    std::array<uint8_t, 4096> scratch;
    while (client->stream().read(scratch) > 0) {
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const World& w = world();
  const auto& packets = w.to_client;
  Run r;
  r.service();  // the first Hello
  Ops ops(data, size);
  uint8_t op = 0, a = 0, b = 0, c = 0;
  while (ops.next(op)) {
    switch (op % 8) {
      case 0:
        if (!ops.next(a)) return 0;
        r.deliver(kServerAddress, packets[a % packets.size()]);
        break;
      case 1: {
        if (!ops.next(a) || !ops.next(b) || !ops.next(c)) return 0;
        std::vector<uint8_t> p = packets[a % packets.size()];
        p[b % p.size()] ^= c == 0 ? 1 : c;
        r.deliver(kServerAddress, p);
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
        r.deliver(kServerAddress, Bytes(raw, a * size_t{8}));
        break;
      }
      case 5: {
        if (!ops.next(a)) return 0;
        std::vector<uint8_t> out(a * size_t{64}, 'y');
        r.client->stream().write(out);
        r.service();
        break;
      }
      case 6:
        if (!ops.next(a)) return 0;
        if (a & 1) {
          r.client->abort(r.now);
        } else {
          r.client->handle_unreachable(r.now, kServerAddress, ECONNREFUSED);
        }
        r.service();
        break;
      case 7:
        if (!ops.next(a) || !ops.next(b)) return 0;
        r.client->handle_datagram(r.now, kServerAddress, packets[a % packets.size()]);
        r.client->handle_datagram(r.now, kServerAddress, packets[b % packets.size()]);
        r.service();
        break;
    }
  }
  return 0;
}
