// Child spawning: descriptor mapping, environment, exit status, failures, signals.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "daemon/child_process.h"
#include "daemon/event_loop.h"
#include "daemon/fd_watcher.h"
#include "daemon/signal_watcher.h"
#include "daemon/timer.h"
#include "daemon/unique_fd.h"

using namespace curvecp;

namespace {

// Runs the loop until `done()` or 10 s; returns whether done() became true.
bool run_until(EventLoop& l, const std::function<bool()>& done) {
  Timestamp give_up = l.update_now() + Duration::seconds(10);
  std::unique_ptr<Timer> tick;
  tick = std::move(Timer::create(l, [&](Timestamp now) {
                     if (done() || now > give_up) {
                       l.stop();
                     } else {
                       tick->arm(now + Duration::milliseconds(5));
                     }
                   }).value());
  tick->arm(l.now());
  REQUIRE(l.run());
  return done();
}

}  // namespace

TEST_CASE("spawn: fds 6/7 mapped, others closed, environment passed, exit status collected") {
  ignore_sigpipe();
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  auto to_child = make_pipe(false, true);   // child reads fd 6
  auto from_child = make_pipe(true, false);  // child writes fd 7
  REQUIRE(to_child);
  REQUIRE(from_child);

  // None of our own descriptors may reach the program except through the mapping.
  std::string ours;
  for (int fd : {to_child->read_end.get(), to_child->write_end.get(), from_child->read_end.get(),
                 from_child->write_end.get()}) {
    // append() rather than `" " + std::to_string(fd)`: gcc 12 at -O3 reports a false
    // -Werror=restrict inside std::string for that operator+ (GCC bug 105329).
    if (fd != 6 && fd != 7) ours.append(" ").append(std::to_string(fd));
  }
  SpawnOptions opts;
  opts.argv = {"sh", "-c",
               "for f in" + ours + "; do [ -e /proc/$$/fd/$f ] && echo leak$f >&7; done; "
               "printf '%s:%s:' \"$PROTO\" \"$CURVECPTESTVAR\" >&7; cat <&6 >&7; exit 3"};
  opts.env = environment_with({"PROTO=CURVECP", "CURVECPTESTVAR=x y"});
  opts.fds = {{6, to_child->read_end.get()}, {7, from_child->write_end.get()}};
  std::optional<ExitStatus> status;
  auto child = ChildProcess::spawn(l, opts, [&](ExitStatus s, Timestamp) { status = s; });
  REQUIRE(child);
  CHECK(child.value()->pid() > 0);
  CHECK(child.value()->running());
  // Our copies of the child's ends must be closed, or EOF never comes.
  to_child->read_end.reset();
  from_child->write_end.reset();

  const std::string payload = "hello through fd 6";
  REQUIRE(::write(to_child->write_end.get(), payload.data(), payload.size()) == static_cast<ssize_t>(payload.size()));
  to_child->write_end.reset();

  std::string out;
  bool eof = false;
  auto w = FdWatcher::create(l, from_child->read_end.get(), [&](int, Timestamp) {
    char buf[256];
    ssize_t n;
    while ((n = ::read(from_child->read_end.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    if (n == 0) eof = true;
  });
  REQUIRE(w);
  w.value()->set_events(FdWatcher::kReadable);
  CHECK(run_until(l, [&] { return eof && status.has_value(); }));
  w.value()->close();
  CHECK(out == "CURVECP:x y:" + payload);
  REQUIRE(status);
  CHECK(status->code == 3);
  CHECK(status->signal == 0);
  CHECK_FALSE(status->success());
  CHECK_FALSE(child.value()->running());
  CHECK(child.value()->peek_exit()->code == 3);
}

TEST_CASE("spawn: fd 0/1 mapping for the server side, fd 2 inherited") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  auto in = make_pipe(false, true);
  auto out = make_pipe(true, false);
  REQUIRE(in);
  REQUIRE(out);
  SpawnOptions opts;
  opts.argv = {"sh", "-c", "tr a-z A-Z; [ -e /proc/$$/fd/2 ] && echo stderr-ok"};
  opts.env = environment_with({});
  opts.fds = {{0, in->read_end.get()}, {1, out->write_end.get()}};
  std::optional<ExitStatus> status;
  auto child = ChildProcess::spawn(l, opts, [&](ExitStatus s, Timestamp) { status = s; });
  REQUIRE(child);
  in->read_end.reset();
  out->write_end.reset();
  REQUIRE(::write(in->write_end.get(), "abc\n", 4) == 4);
  in->write_end.reset();
  std::string got;
  bool eof = false;
  auto w = FdWatcher::create(l, out->read_end.get(), [&](int, Timestamp) {
    char buf[256];
    ssize_t n;
    while ((n = ::read(out->read_end.get(), buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
    if (n == 0) eof = true;
  });
  REQUIRE(w);
  w.value()->set_events(FdWatcher::kReadable);
  CHECK(run_until(l, [&] { return eof && status.has_value(); }));
  CHECK(got == "ABC\nstderr-ok\n");
  CHECK(status->success());
}

TEST_CASE("spawn: a missing program is an error value, not a crash") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  SpawnOptions opts;
  opts.argv = {"/nonexistent/curvecp-test-program"};
  opts.env = environment_with({});
  auto child = ChildProcess::spawn(*loop.value(), opts, [](ExitStatus, Timestamp) {});
  REQUIRE_FALSE(child);
  CHECK(child.error().message.find("spawn /nonexistent/curvecp-test-program") != std::string::npos);
  SpawnOptions empty;
  CHECK_FALSE(ChildProcess::spawn(*loop.value(), empty, [](ExitStatus, Timestamp) {}));
}

TEST_CASE("spawn: kill reports the signal; destroying a running child terminates and reaps it") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  SpawnOptions opts;
  opts.argv = {"sleep", "30"};
  opts.env = environment_with({});
  std::optional<ExitStatus> status;
  auto child = ChildProcess::spawn(l, opts, [&](ExitStatus s, Timestamp) { status = s; });
  REQUIRE(child);
  CHECK(child.value()->kill(SIGKILL));
  CHECK(run_until(l, [&] { return status.has_value(); }));
  CHECK(status->signal == SIGKILL);
  CHECK_FALSE(child.value()->kill(SIGTERM));  // already gone

  auto orphan = ChildProcess::spawn(l, opts, [](ExitStatus, Timestamp) {});
  REQUIRE(orphan);
  pid_t pid = orphan.value()->pid();
  orphan.value().reset();  // SIGTERM; the loop reaps it
  // Reaped means the pid no longer exists (not even as a zombie).
  CHECK(run_until(l, [&] { return ::kill(pid, 0) != 0 && errno == ESRCH; }));
}

TEST_CASE("signals: a caught signal runs the handler in the loop") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  int got = 0;
  auto s = SignalWatcher::create(l, SIGUSR2, [&](int signum, Timestamp) { got = signum; });
  REQUIRE(s);
  ::kill(::getpid(), SIGUSR2);
  CHECK(run_until(l, [&] { return got != 0; }));
  CHECK(got == SIGUSR2);
}
