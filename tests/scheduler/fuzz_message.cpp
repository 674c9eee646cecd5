// libFuzzer target for the message parser (CURVECP.md 6.1) and for a Stream fed
// arbitrary messages: neither may crash, overflow or break its invariants.
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/rng.h"
#include "scheduler/message.h"
#include "scheduler/stream.h"
#include "scheduler/window_extension.h"

using namespace curvecp;

namespace {

// Real messages from two streams talking back to back (data with the window extension,
// acknowledgements, the end of stream, both controllers), as seeds. Each message is a seed
// by itself (the parser's view of the whole input) and also framed the way the stream half
// reads its input: a byte len/16, then the message.
std::vector<std::vector<uint8_t>> seeds() {
  std::vector<std::vector<uint8_t>> out;
  std::vector<uint8_t> framed;
  for (const char* controller : {"reference-chicago", "chicago"}) {
    SeededRng rng(7);
    StreamConfig config;
    config.controller = controller;
    auto a = std::move(Stream::create(config, rng, Timestamp{0}).value());
    auto b = std::move(Stream::create(config, rng, Timestamp{0}).value());
    static const uint8_t payload[5000] = {9, 8, 7};
    (void)a->write(Bytes(payload, sizeof payload));
    a->close_write();
    (void)b->write(Bytes(payload, 100));
    uint8_t buf[1088];
    int64_t t = 0;
    for (int round = 0; round < 20 && out.size() < 40; ++round) {
      t += 2'000'000;
      for (Stream* from : {a.get(), b.get()}) {
        Stream* to = from == a.get() ? b.get() : a.get();
        while (size_t n = from->poll_transmit(Timestamp{t}, MutableBytes(buf, sizeof buf), sizeof buf)) {
          out.emplace_back(buf, buf + n);
          framed.push_back(static_cast<uint8_t>(n / 16));
          framed.insert(framed.end(), buf, buf + n);
          to->on_message(Timestamp{t}, Bytes(buf, n));
        }
        uint8_t sink[8192];
        while (to->read(MutableBytes(sink, sizeof sink)) > 0) {
        }
      }
    }
  }
  out.push_back(std::move(framed));
  return out;
}

}  // namespace

// With CURVECP_FUZZ_SEEDS=DIR in the environment, writes the seeds into DIR first (how the
// checked-in corpus tests/scheduler/corpus/fuzz_message was made; see its README).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("CURVECP_FUZZ_SEEDS");
  if (dir == nullptr) return 0;
  ::mkdir(dir, 0755);
  int i = 0;
  for (const auto& seed : seeds()) {
    char name[32];
    std::snprintf(name, sizeof name, "/seed-%02d", i++);
    if (FILE* f = std::fopen((std::string(dir) + name).c_str(), "wb")) {
      std::fwrite(seed.data(), 1, seed.size(), f);
      std::fclose(f);
    }
  }
  return 0;
}

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
