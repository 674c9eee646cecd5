// Benchmark (prints figures, asserts nothing): one sender Stream and one receiver Stream
// back to back in memory, no crypto, no loss, an unpaced controller. Reports application
// MB/s through both message layers on one core, messages per second, and heap
// allocations per message once the transfer is in steady state.
//   usage: bench_stream [megabytes] [reference]
// With "reference" the window marker is removed from every message, so both ends treat
// each other as reference peers: 128 KiB window, one acknowledgement per data message.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <new>
#include <string_view>
#include <vector>

#include "core/rng.h"
#include "scheduler/congestion.h"
#include "scheduler/stream.h"

using namespace curvecp;

namespace {

uint64_t g_allocations = 0;

class Unpaced final : public CongestionController {
 public:
  std::string_view name() const override { return "bench-unpaced"; }
  void on_ack(const AckSample&, const PathState&) override {}
  void on_loss(const LossSample&, const PathState&) override {}
  Timestamp next_send_time(Timestamp now) const override { return now; }
  double rate_bytes_per_s() const override { return 0; }
};

}  // namespace

// The counting replacements allocate with malloc and free with free. They are kept out of
// line: inlined into their callers at -O3, gcc 12 pairs the operator new call it sees with
// the free() inside operator delete and reports a false -Werror=mismatched-new-delete.
[[gnu::noinline]] void* operator new(size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, size_t) noexcept { std::free(p); }

int main(int argc, char** argv) {
  const uint64_t total = (argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000) * 1'000'000ull;
  const bool reference = argc > 2 && std::string_view(argv[2]) == "reference";
  auto strip = [&](std::vector<uint8_t>& m) {
    if (reference) std::fill(m.begin() + 48, m.begin() + 64, 0);
  };
  register_controller("bench-unpaced", [](Rng&, Timestamp) { return std::make_unique<Unpaced>(); });
  SeededRng rng(1);
  StreamConfig sc;
  sc.controller = "bench-unpaced";
  sc.role = StreamRole::server;
  StreamConfig rc = sc;
  rc.role = StreamRole::client;
  Timestamp now{1'000'000};
  auto sender = std::move(Stream::create(sc, rng, now).value());
  auto receiver = std::move(Stream::create(rc, rng, now).value());

  std::vector<uint8_t> src(1 << 16, 0x5a), sink(1 << 16);
  // A message queue per direction, preallocated: the wire.
  std::vector<std::vector<uint8_t>> ring(4096, std::vector<uint8_t>(1088));
  std::vector<size_t> lens(4096);
  uint64_t written = 0, received = 0, messages = 0, alloc_at_steady = 0, messages_at_steady = 0;
  bool closed = false;
  const auto start = std::chrono::steady_clock::now();
  while (!(sender->write_finished() && receiver->read_finished())) {
    now = now + Duration::microseconds(10);
    while (written < total && sender->send_space() > 0) {
      written += sender->write(Bytes(src.data(), static_cast<size_t>(std::min<uint64_t>(src.size(), total - written))));
    }
    if (written == total && !closed) {
      sender->close_write();
      receiver->close_write();
      closed = true;
    }
    size_t n_data = 0;
    while (n_data < 256) {
      const size_t n = sender->poll_transmit(now, ring[n_data], 1088);
      if (!n) break;
      lens[n_data++] = n;
    }
    for (size_t i = 0; i < n_data; ++i) {
      strip(ring[i]);
      receiver->on_message(now, Bytes(ring[i].data(), lens[i]));
    }
    messages += n_data;
    while (size_t r = receiver->read(sink)) received += r;
    size_t n_ack = 0;
    while (n_ack < 256) {
      const size_t n = receiver->poll_transmit(now, ring[n_ack], 1088);
      if (!n) break;
      lens[n_ack++] = n;
    }
    for (size_t i = 0; i < n_ack; ++i) {
      strip(ring[i]);
      sender->on_message(now, Bytes(ring[i].data(), lens[i]));
    }
    messages += n_ack;
    if (!alloc_at_steady && received > total / 10) {
      alloc_at_steady = g_allocations;
      messages_at_steady = messages;
    }
    if (n_data == 0 && n_ack == 0 && sender->next_timeout() > now && receiver->next_timeout() > now) {
      now = earliest(sender->next_timeout(), receiver->next_timeout());
      if (now == Timestamp::never()) break;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const uint64_t steady_messages = messages - messages_at_steady;
  std::printf("transferred %llu bytes in %.3f s: %.1f MB/s application data, %.0f messages/s (data + acks)\n",
              static_cast<unsigned long long>(received), seconds, static_cast<double>(received) / seconds / 1e6,
              static_cast<double>(messages) / seconds);
  std::printf("steady state: %llu heap allocations over %llu messages\n",
              static_cast<unsigned long long>(g_allocations - alloc_at_steady),
              static_cast<unsigned long long>(steady_messages));
  StreamStats s = sender->stats();
  std::printf("sender: %llu messages, %llu retransmissions; receiver sent %llu messages\n",
              static_cast<unsigned long long>(s.messages_sent), static_cast<unsigned long long>(s.retransmissions),
              static_cast<unsigned long long>(receiver->stats().messages_sent));
  return received == total ? 0 : 1;
}
