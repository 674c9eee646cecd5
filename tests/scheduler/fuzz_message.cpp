// libFuzzer target for the message parser (CURVECP.md 6.1) and for a Stream fed
// arbitrary messages: neither may crash, overflow or break its invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/rng.h"
#include "scheduler/message.h"
#include "scheduler/stream.h"
#include "scheduler/window_extension.h"

using namespace curvecp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Message m;
  const ParseResult r = parse_message(Bytes(data, size), m);
  if (r == ParseResult::ok) {
    if (m.data.size() > kMessageMaxDataBytes) std::abort();
    if (48 + m.data.size() + m.padding.size() != size) std::abort();
    (void)parse_window_extension(m.padding);
    std::array<AckRange, 6> ranges;
    const size_t n = decode_ack_ranges(m.ack, ranges);
    for (size_t i = 1; i < n; ++i) {
      if (ranges[i].start < ranges[i - 1].stop || ranges[i].stop < ranges[i].start) std::abort();
    }
  }

  // The input split into messages (first byte of each chunk: length / 16), fed to a stream.
  static SeededRng rng(1);
  StreamConfig config;
  config.controller = "reference-chicago";
  config.send_buffer_bytes = 65536;
  config.receive_buffer_bytes = 65536;
  auto stream = std::move(Stream::create(config, rng, Timestamp{0}).value());
  static const uint8_t payload[3000] = {1, 2, 3};
  (void)stream->write(Bytes(payload, sizeof payload));
  uint8_t out[1088];
  int64_t t = 0;
  size_t pos = 0;
  while (pos < size) {
    const size_t len = std::min<size_t>(size - pos - 1, static_cast<size_t>(data[pos]) * 16);
    stream->on_message(Timestamp{t}, Bytes(data + pos + 1, len));
    pos += 1 + len;
    t += 1'000'000;
    for (int i = 0; i < 64; ++i) {
      const size_t n = stream->poll_transmit(Timestamp{t}, out, 1088);
      if (n == 0) break;
      if (n % 16 != 0 || n < 48 || n > 1088) std::abort();
    }
    uint8_t sink[4096];
    while (stream->read(sink) > 0) {
    }
    if (stream->readable() > config.receive_buffer_bytes) std::abort();
  }
  return 0;
}
