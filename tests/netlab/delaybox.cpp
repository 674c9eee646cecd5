// delaybox: a user-space path emulator joining two TUN devices, for the namespace testbed.
//
// The kernels this project is tested on have no netem, so there is no in-kernel propagation
// delay (a tbf queue's delay depends on load). Like mahimahi's mm-delay, this program reads
// every IP packet from one TUN device and writes it to the other after a fixed one-way delay,
// per direction, with optional seeded random loss and a drop-tail queue bounded in bytes.
//
// The TUN devices are expected to exist already (ip -n NS tuntap add dev NAME mode tun); the
// program enters each namespace (setns), attaches to the device (TUNSETIFF, IFF_NO_PI) and
// returns to its own namespace. Plain POSIX: one ppoll loop and CLOCK_MONOTONIC; signals are
// blocked except inside ppoll, so SIGTERM/SIGINT end the loop at once and cleanly.
//
// Usage: delaybox --a NS:DEV --b NS:DEV [--delay-ms MS] [--delay-ab-ms MS] [--delay-ba-ms MS]
//                 [--loss P] [--seed N] [--queue-bytes N] [--time-limit-s S] [--realtime PRIO]
// Prints "delaybox ready" on stdout once both devices are attached, counters on stderr at exit
// and on SIGUSR1 (so that a benchmark can take them between runs on one topology): per
// direction, packets forwarded, lost, tail-dropped, and how late they left (the box was not
// scheduled when they were due): more than 1, 5 and 20 ms late, and the latest.
// --realtime PRIO runs the box SCHED_FIFO at that priority (1-99): a path's routers do not
// share a CPU with the end hosts, so a busy host must not stall the path itself (measured:
// on a host at load ~10 the box at normal priority released packets up to tens of ms
// late, which a delay-based controller takes for queueing). Refused (no CAP_SYS_NICE):
// a warning on stderr, and the box runs at normal priority.
// Exit codes: 0 on a signal or the time limit, 100 usage, 111 setup failure.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t stop_requested = 0;
volatile sig_atomic_t counters_requested = 0;
void on_stop_signal(int) { stop_requested = 1; }
void on_counters_signal(int) { counters_requested = 1; }

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void fail(int code, const std::string& what) {
  std::fprintf(stderr, "delaybox: %s\n", what.c_str());
  std::exit(code);
}

// Opens the existing TUN device `dev` inside network namespace `ns` (a name under
// /var/run/netns) and returns a non-blocking fd; the fd stays bound to that namespace's
// device after the thread returns to its own namespace.
int open_tun_in_namespace(const std::string& ns, const std::string& dev) {
  int self_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self_ns < 0) fail(111, std::string("open /proc/self/ns/net: ") + std::strerror(errno));
  std::string ns_path = "/var/run/netns/" + ns;
  int target_ns = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target_ns < 0) fail(111, "open " + ns_path + ": " + std::strerror(errno));
  if (setns(target_ns, CLONE_NEWNET) != 0) fail(111, "setns " + ns + ": " + std::strerror(errno));
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail(111, std::string("open /dev/net/tun: ") + std::strerror(errno));
  ifreq req{};
  req.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (dev.size() >= IFNAMSIZ) fail(100, "device name too long: " + dev);
  std::memcpy(req.ifr_name, dev.c_str(), dev.size());
  if (ioctl(fd, TUNSETIFF, &req) != 0) fail(111, "TUNSETIFF " + ns + ":" + dev + ": " + std::strerror(errno));
  if (setns(self_ns, CLONE_NEWNET) != 0) fail(111, std::string("setns back: ") + std::strerror(errno));
  close(self_ns);
  close(target_ns);
  return fd;
}

struct Packet {
  std::int64_t release_ns;
  std::vector<unsigned char> bytes;
};

// One direction of the path: packets read from `in_fd` wait `delay_ns` in a drop-tail queue
// of at most `queue_limit_bytes`, then are written to `out_fd`.
struct Direction {
  const char* name;
  int in_fd;
  int out_fd;
  std::int64_t delay_ns;
  std::deque<Packet> queue;
  std::size_t queued_bytes = 0;
  std::uint64_t forwarded = 0, lost = 0, tail_dropped = 0, write_errors = 0;
  // Packets released more than 1, 5 and 20 ms after they were due, and the latest (ns).
  std::uint64_t late_1ms = 0, late_5ms = 0, late_20ms = 0;
  std::int64_t max_late_ns = 0;
};

struct Options {
  std::string a_ns, a_dev, b_ns, b_dev;
  double delay_ab_ms = 0, delay_ba_ms = 0, loss = 0, time_limit_s = 0;
  std::uint64_t seed = 1;
  std::size_t queue_bytes = 4u << 20;  // 4 MiB: far above any tbf buffer in front of it
  int realtime_priority = 0;           // SCHED_FIFO priority; 0: normal scheduling
};

void split_ns_dev(const std::string& arg, std::string& ns, std::string& dev) {
  auto colon = arg.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == arg.size()) fail(100, "expected NS:DEV, got " + arg);
  ns = arg.substr(0, colon);
  dev = arg.substr(colon + 1);
}

double parse_number(const std::string& flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || value < 0) fail(100, "bad value for " + flag + ": " + text);
  return value;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) fail(100, "missing value after " + flag);
    const char* value = argv[++i];
    if (flag == "--a") split_ns_dev(value, o.a_ns, o.a_dev);
    else if (flag == "--b") split_ns_dev(value, o.b_ns, o.b_dev);
    else if (flag == "--delay-ms") o.delay_ab_ms = o.delay_ba_ms = parse_number(flag, value);
    else if (flag == "--delay-ab-ms") o.delay_ab_ms = parse_number(flag, value);
    else if (flag == "--delay-ba-ms") o.delay_ba_ms = parse_number(flag, value);
    else if (flag == "--loss") {
      o.loss = parse_number(flag, value);
      if (o.loss > 1) fail(100, "--loss is a probability in [0, 1]");
    } else if (flag == "--seed") o.seed = static_cast<std::uint64_t>(parse_number(flag, value));
    else if (flag == "--queue-bytes") o.queue_bytes = static_cast<std::size_t>(parse_number(flag, value));
    else if (flag == "--time-limit-s") o.time_limit_s = parse_number(flag, value);
    else if (flag == "--realtime") {
      const double prio = parse_number(flag, value);
      if (prio < 1 || prio > 99 || prio != static_cast<int>(prio)) fail(100, "--realtime is a priority 1-99");
      o.realtime_priority = static_cast<int>(prio);
    }
    else fail(100, "unknown option " + flag);
  }
  if (o.a_ns.empty() || o.b_ns.empty()) fail(100, "usage: delaybox --a NS:DEV --b NS:DEV [--delay-ms MS] ...");
  return o;
}

void print_counters(const Direction (&dirs)[2]) {
  for (const Direction& d : dirs) {
    std::fprintf(stderr,
                 "delaybox %s: forwarded %llu lost %llu tail_dropped %llu write_errors %llu late_1ms %llu late_5ms %llu "
                 "late_20ms %llu max_late_ms %.1f\n",
                 d.name, static_cast<unsigned long long>(d.forwarded), static_cast<unsigned long long>(d.lost),
                 static_cast<unsigned long long>(d.tail_dropped), static_cast<unsigned long long>(d.write_errors),
                 static_cast<unsigned long long>(d.late_1ms), static_cast<unsigned long long>(d.late_5ms),
                 static_cast<unsigned long long>(d.late_20ms), static_cast<double>(d.max_late_ns) / 1e6);
  }
  std::fflush(stderr);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse_options(argc, argv);
  if (opt.realtime_priority > 0) {
    sched_param param{};
    param.sched_priority = opt.realtime_priority;
    if (sched_setscheduler(0, SCHED_FIFO, &param) != 0) {
      std::fprintf(stderr, "delaybox: warning: SCHED_FIFO %d refused (%s): normal priority\n", opt.realtime_priority,
                   std::strerror(errno));
    }
  }

  sigset_t blocked, during_poll;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGUSR1);
  sigprocmask(SIG_BLOCK, &blocked, &during_poll);
  sigdelset(&during_poll, SIGTERM);
  sigdelset(&during_poll, SIGINT);
  sigdelset(&during_poll, SIGUSR1);
  struct sigaction sa{};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  struct sigaction su{};
  su.sa_handler = on_counters_signal;
  sigaction(SIGUSR1, &su, nullptr);

  int a_fd = open_tun_in_namespace(opt.a_ns, opt.a_dev);
  int b_fd = open_tun_in_namespace(opt.b_ns, opt.b_dev);
  Direction dirs[2] = {
      {"a->b", a_fd, b_fd, static_cast<std::int64_t>(opt.delay_ab_ms * 1e6), {}},
      {"b->a", b_fd, a_fd, static_cast<std::int64_t>(opt.delay_ba_ms * 1e6), {}},
  };
  std::mt19937_64 rng(opt.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::printf("delaybox ready\n");
  std::fflush(stdout);

  const std::int64_t start_ns = now_ns();
  const std::int64_t end_ns = opt.time_limit_s > 0 ? start_ns + static_cast<std::int64_t>(opt.time_limit_s * 1e9) : 0;
  unsigned char buffer[65536];
  while (!stop_requested) {
    if (counters_requested) {
      counters_requested = 0;
      print_counters(dirs);
    }
    std::int64_t now = now_ns();
    if (end_ns != 0 && now >= end_ns) break;
    // Release every packet that is due; a TUN write never blocks (the kernel drops instead).
    for (Direction& d : dirs) {
      while (!d.queue.empty() && d.queue.front().release_ns <= now) {
        Packet& p = d.queue.front();
        const std::int64_t late_ns = now - p.release_ns;
        if (late_ns > 1'000'000) ++d.late_1ms;
        if (late_ns > 5'000'000) ++d.late_5ms;
        if (late_ns > 20'000'000) ++d.late_20ms;
        if (late_ns > d.max_late_ns) d.max_late_ns = late_ns;
        if (write(d.out_fd, p.bytes.data(), p.bytes.size()) == static_cast<ssize_t>(p.bytes.size())) ++d.forwarded;
        else ++d.write_errors;
        d.queued_bytes -= p.bytes.size();
        d.queue.pop_front();
      }
    }
    std::int64_t wake_ns = end_ns;
    for (Direction& d : dirs) {
      if (!d.queue.empty() && (wake_ns == 0 || d.queue.front().release_ns < wake_ns)) wake_ns = d.queue.front().release_ns;
    }
    timespec timeout{};
    timespec* timeout_ptr = nullptr;
    if (wake_ns != 0) {
      std::int64_t wait_ns = wake_ns > now ? wake_ns - now : 0;
      timeout.tv_sec = wait_ns / 1'000'000'000;
      timeout.tv_nsec = wait_ns % 1'000'000'000;
      timeout_ptr = &timeout;
    }
    pollfd fds[2] = {{a_fd, POLLIN, 0}, {b_fd, POLLIN, 0}};
    int ready = ppoll(fds, 2, timeout_ptr, &during_poll);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fail(111, std::string("ppoll: ") + std::strerror(errno));
    }
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      Direction& d = dirs[i];
      for (;;) {
        ssize_t n = read(d.in_fd, buffer, sizeof buffer);
        if (n <= 0) break;  // EAGAIN: drained
        // Each packet's own arrival: a box preempted while draining a burst stamped the
        // later packets with the burst's start and delayed them that much less than the
        // path's delay (chicago saw RTTs 3 ms below the propagation delay on a busy host).
        const std::int64_t arrival_ns = now_ns();
        if (opt.loss > 0 && uniform(rng) < opt.loss) {
          ++d.lost;
          continue;
        }
        if (d.queued_bytes + static_cast<std::size_t>(n) > opt.queue_bytes) {
          ++d.tail_dropped;
          continue;
        }
        d.queue.push_back(Packet{arrival_ns + d.delay_ns, std::vector<unsigned char>(buffer, buffer + n)});
        d.queued_bytes += static_cast<std::size_t>(n);
      }
    }
  }
  print_counters(dirs);
  close(a_fd);
  close(b_fd);
  return 0;
}
