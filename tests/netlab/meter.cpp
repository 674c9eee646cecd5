// netlab_meter: the byte source and the metering sink of the netlab benchmark.
//
//   netlab_meter gen --seed N (--seconds S | --bytes N) [--report FILE]
//       writes a seeded pseudo-random stream to stdout for S seconds (or N bytes), then exits;
//       "bytes N" (the count written) goes to FILE, or to stderr.
//   netlab_meter sink --seed N --out FILE [--interval-ms MS]
//       reads stdin to EOF, checks every byte against the same seeded stream, and every MS
//       milliseconds (default 250) appends "EPOCH_S BYTES" to FILE: the wall-clock end of the
//       interval (CLOCK_REALTIME, so that it lines up with ping -D and the other flows) and the
//       bytes that arrived in it, also when none did. At EOF: "total N ok", or
//       "total N mismatch at OFFSET" and exit 111.
//
// Byte i of the stream is byte i%8 of splitmix64(seed + i/8), so the sink can check a stream
// whatever the chunking, and a benchmark run is byte-exact iff gen's count equals the sink's
// total and the sink says ok. Exit codes: 0 done, 100 usage, 111 failure.
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

[[noreturn]] void fail(int code, const std::string& what) {
  std::fprintf(stderr, "netlab_meter: %s\n", what.c_str());
  std::exit(code);
}

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

double epoch_s() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Fills buf with stream bytes [offset, offset + n), one splitmix64 word per 8 bytes.
void fill_stream(std::uint64_t seed, std::uint64_t offset, unsigned char* buf, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const std::uint64_t pos = offset + i;
    const std::uint64_t word = splitmix64(seed + pos / 8);
    for (unsigned shift = static_cast<unsigned>(pos % 8); shift < 8 && i < n; ++shift, ++i) {
      buf[i] = static_cast<unsigned char>(word >> (8 * shift));
    }
  }
}

struct Options {
  std::string mode, out, report;
  std::uint64_t seed = 1, bytes = 0;
  double seconds = 0, interval_ms = 250;
};

double parse_number(const std::string& flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || value < 0) fail(100, "bad value for " + flag + ": " + text);
  return value;
}

Options parse_options(int argc, char** argv) {
  if (argc < 2) fail(100, "usage: netlab_meter gen|sink --seed N ...");
  Options o;
  o.mode = argv[1];
  if (o.mode != "gen" && o.mode != "sink") fail(100, "unknown mode " + o.mode + " (gen or sink)");
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) fail(100, "missing value after " + flag);
    const char* value = argv[++i];
    if (flag == "--seed") o.seed = static_cast<std::uint64_t>(parse_number(flag, value));
    else if (flag == "--seconds") o.seconds = parse_number(flag, value);
    else if (flag == "--bytes") o.bytes = static_cast<std::uint64_t>(parse_number(flag, value));
    else if (flag == "--interval-ms") o.interval_ms = parse_number(flag, value);
    else if (flag == "--out") o.out = value;
    else if (flag == "--report") o.report = value;
    else fail(100, "unknown option " + flag);
  }
  if (o.mode == "gen" && o.seconds <= 0 && o.bytes == 0) fail(100, "gen needs --seconds or --bytes");
  if (o.mode == "sink" && o.out.empty()) fail(100, "sink needs --out FILE");
  if (o.interval_ms < 10) fail(100, "--interval-ms is at least 10");
  return o;
}

int run_gen(const Options& o) {
  signal(SIGPIPE, SIG_IGN);
  const std::int64_t end_ns = o.seconds > 0 ? mono_ns() + static_cast<std::int64_t>(o.seconds * 1e9) : 0;
  static unsigned char buf[65536];
  std::uint64_t written = 0;
  int rc = 0;
  while ((o.bytes == 0 || written < o.bytes) && (end_ns == 0 || mono_ns() < end_ns)) {
    std::size_t n = sizeof buf;
    if (o.bytes != 0 && o.bytes - written < n) n = static_cast<std::size_t>(o.bytes - written);
    fill_stream(o.seed, written, buf, n);
    std::size_t done = 0;
    while (done < n) {
      ssize_t w = write(1, buf + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        std::fprintf(stderr, "netlab_meter: write: %s\n", std::strerror(errno));
        rc = 111;
        break;
      }
      done += static_cast<std::size_t>(w);
      written += static_cast<std::uint64_t>(w);
    }
    if (rc != 0) break;
  }
  FILE* report = o.report.empty() ? stderr : std::fopen(o.report.c_str(), "w");
  if (report == nullptr) fail(111, "open " + o.report + ": " + std::strerror(errno));
  std::fprintf(report, "bytes %llu\n", static_cast<unsigned long long>(written));
  if (report != stderr) std::fclose(report);
  return rc;
}

int run_sink(const Options& o) {
  FILE* out = std::fopen(o.out.c_str(), "w");
  if (out == nullptr) fail(111, "open " + o.out + ": " + std::strerror(errno));
  const std::int64_t interval_ns = static_cast<std::int64_t>(o.interval_ms * 1e6);
  std::int64_t next_tick = mono_ns() + interval_ns;
  std::uint64_t total = 0, in_interval = 0;
  bool mismatch = false;
  std::uint64_t mismatch_at = 0;
  static unsigned char buf[65536];
  for (;;) {
    std::int64_t now = mono_ns();
    while (now >= next_tick) {
      std::fprintf(out, "%.3f %llu\n", epoch_s(), static_cast<unsigned long long>(in_interval));
      std::fflush(out);
      in_interval = 0;
      next_tick += interval_ns;
    }
    pollfd pfd{0, POLLIN, 0};
    int ready = poll(&pfd, 1, static_cast<int>((next_tick - now) / 1'000'000) + 1);
    if (ready < 0 && errno != EINTR) fail(111, std::string("poll: ") + std::strerror(errno));
    if (ready <= 0) continue;
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) fail(111, std::string("read: ") + std::strerror(errno));
    if (n == 0) break;
    if (!mismatch) {
      static unsigned char want[sizeof buf];
      fill_stream(o.seed, total, want, static_cast<std::size_t>(n));
      if (std::memcmp(buf, want, static_cast<std::size_t>(n)) != 0) {
        ssize_t i = 0;
        while (buf[i] == want[i]) ++i;
        mismatch = true;
        mismatch_at = total + static_cast<std::uint64_t>(i);
      }
    }
    total += static_cast<std::uint64_t>(n);
    in_interval += static_cast<std::uint64_t>(n);
  }
  std::fprintf(out, "%.3f %llu\n", epoch_s(), static_cast<unsigned long long>(in_interval));
  if (mismatch) std::fprintf(out, "total %llu mismatch at %llu\n", static_cast<unsigned long long>(total),
                             static_cast<unsigned long long>(mismatch_at));
  else std::fprintf(out, "total %llu ok\n", static_cast<unsigned long long>(total));
  std::fclose(out);
  return mismatch ? 111 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_options(argc, argv);
  return o.mode == "gen" ? run_gen(o) : run_sink(o);
}
