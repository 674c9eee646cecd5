// Child spawning: descriptor mapping, environment, exit status, failures, signals.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/child_process.h"
#include "daemon/event_loop.h"
#include "daemon/fd_watcher.h"
#include "daemon/process_group_reaper.h"
#include "daemon/signal_watcher.h"
#include "daemon/spawner.h"
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

// Runs the loop for `d` whatever happens (for checks that something does NOT happen).
void run_for(EventLoop& l, Duration d) {
  Timestamp until = l.update_now() + d;
  auto t = Timer::create(l, [&](Timestamp) { l.stop(); });
  REQUIRE(t);
  t.value()->arm(until);
  REQUIRE(l.run());
}

// Members of a killed group that were orphaned are reparented to init, and this
// container's init does not reap them, so their zombies would keep kill(-pgid, 0)
// succeeding. The tests make themselves a subreaper and reap those orphans here (never
// the leader, which belongs to the loop's reaper). Zombies only: a live member cannot be reaped.
void reap_orphans(pid_t pgid) {
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return;
  while (dirent* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0 || pid == pgid) continue;
    std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    std::getline(stat, line);
    size_t paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(line.substr(paren + 1));
    char state = 0;
    pid_t ppid = 0, pgrp = 0;
    fields >> state >> ppid >> pgrp;
    if (pgrp == pgid && ppid == ::getpid() && state == 'Z') ::waitpid(pid, nullptr, WNOHANG);
  }
  ::closedir(d);
}

bool group_gone(pid_t pgid) {
  reap_orphans(pgid);
  return ::kill(-pgid, 0) != 0 && errno == ESRCH;
}

// Collects what a child writes to a pipe, until EOF.
struct PipeReader {
  std::string text;
  bool eof = false;
  std::unique_ptr<FdWatcher> watcher;
  UniqueFd fd;
  PipeReader(EventLoop& l, UniqueFd read_end) : fd(std::move(read_end)) {
    watcher = std::move(FdWatcher::create(l, fd.get(), [this](int, Timestamp) {
                          char buf[256];
                          ssize_t n;
                          while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
                          if (n == 0) {
                            eof = true;
                            watcher->set_events(0);
                          }
                        }).value());
    watcher->set_events(FdWatcher::kReadable);
  }
};

// Spawns `script` under sh with fd 1 on a pipe read by `reader`.
std::unique_ptr<ChildProcess> spawn_script(EventLoop& l, const std::string& script, std::unique_ptr<PipeReader>& reader,
                                           std::optional<ExitStatus>* status = nullptr) {
  auto out = make_pipe(true, false);
  REQUIRE(out);
  SpawnOptions opts;
  opts.argv = {"sh", "-c", script};
  opts.env = environment_with({});
  opts.fds = {{1, out->write_end.get()}};
  auto child = ChildProcess::spawn(l, opts, [status](ExitStatus s, Timestamp) {
    if (status != nullptr) *status = s;
  });
  REQUIRE(child);
  out->write_end.reset();
  reader = std::make_unique<PipeReader>(l, std::move(out->read_end));
  return std::move(child.value());
}


// A loop (this process the subreaper of its children) and one group spawned from
// `script`, which has printed "ready". Its exit status lands in `status`.
struct ReadyGroup {
  std::unique_ptr<EventLoop> loop_owner;
  std::unique_ptr<PipeReader> reader;
  std::optional<ExitStatus> status;
  std::unique_ptr<ChildProcess> child;
  pid_t pgid = 0;
  explicit ReadyGroup(const std::string& script) {
    REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    auto loop = EventLoop::create();
    REQUIRE(loop);
    loop_owner = std::move(loop.value());
    child = spawn_script(*loop_owner, script, reader, &status);
    pgid = child->pgid();
    REQUIRE(run_until(*loop_owner, [&] { return reader->text == "ready\n"; }));
  }
  EventLoop& loop() { return *loop_owner; }
};

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

TEST_CASE("reaper: many children exiting are all reported; a child that is not ours is left to its owner") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  // A child of this process the reaper does not know: it exits first and must stay
  // unreaped (a zombie) for whoever started it.
  const pid_t foreign = ::fork();
  REQUIRE(foreign >= 0);
  if (foreign == 0) ::_exit(7);
  SpawnOptions opts;
  opts.env = environment_with({});
  constexpr int kChildren = 20;
  std::vector<std::unique_ptr<ChildProcess>> children;
  std::vector<std::optional<ExitStatus>> status(kChildren);
  for (int i = 0; i < kChildren; ++i) {
    opts.argv = {"sh", "-c", "exit " + std::to_string(i)};
    auto c = ChildProcess::spawn(l, opts, [&status, i](ExitStatus s, Timestamp) { status[static_cast<size_t>(i)] = s; });
    REQUIRE(c);
    children.push_back(std::move(*c));
  }
  CHECK(run_until(l, [&] { return std::all_of(status.begin(), status.end(), [](const auto& s) { return s.has_value(); }); }));
  for (int i = 0; i < kChildren; ++i) {
    REQUIRE(status[static_cast<size_t>(i)].has_value());
    CHECK(status[static_cast<size_t>(i)]->code == i);
  }
  CHECK(l.process_groups().watched_children() == 0);
  int st = 0;
  CHECK(::waitpid(foreign, &st, 0) == foreign);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 7);

  // Ours exiting while a foreign zombie waits: still reported (the fallback scan).
  const pid_t foreign2 = ::fork();
  REQUIRE(foreign2 >= 0);
  if (foreign2 == 0) ::_exit(9);
  run_for(l, Duration::milliseconds(100));  // it has exited (a zombie) before ours starts
  std::optional<ExitStatus> last;
  opts.argv = {"sh", "-c", "exit 3"};
  auto c = ChildProcess::spawn(l, opts, [&](ExitStatus s, Timestamp) { last = s; });
  REQUIRE(c);
  CHECK(run_until(l, [&] { return last.has_value(); }));
  CHECK(last->code == 3);
  CHECK(::waitpid(foreign2, &st, 0) == foreign2);
  CHECK(WEXITSTATUS(st) == 9);
}

TEST_CASE("spawn asynchronous: starts at once, runs on helper threads; terminate and destruction while starting") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  // Pipes as the server uses them; our copies of the child's ends are closed at once.
  auto in = make_pipe(false, true);
  auto out = make_pipe(true, false);
  REQUIRE(in);
  REQUIRE(out);
  SpawnOptions opts;
  opts.asynchronous = true;
  opts.argv = {"sh", "-c", "tr a-z A-Z; exit 5"};
  opts.env = environment_with({});
  opts.fds = {{0, in->read_end.get()}, {1, out->write_end.get()}};
  std::optional<ExitStatus> status;
  auto child = ChildProcess::spawn(l, opts, [&](ExitStatus s, Timestamp) { status = s; });
  REQUIRE(child);
  CHECK(child.value()->pid() == 0);  // starting
  CHECK_FALSE(child.value()->kill(SIGTERM));  // never kill(0)
  CHECK_FALSE(child.value()->peek_exit().has_value());
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
  CHECK(got == "ABC\n");
  CHECK(status->code == 5);
  CHECK(child.value()->pid() > 0);

  // Many at once: every exit is reported.
  std::vector<std::unique_ptr<ChildProcess>> many;
  int exits = 0;
  opts.fds.clear();
  opts.argv = {"true"};
  for (int i = 0; i < 40; ++i) {
    auto c = ChildProcess::spawn(l, opts, [&](ExitStatus s, Timestamp) { exits += s.success() ? 1 : 0; });
    REQUIRE(c);
    many.push_back(std::move(*c));
  }
  CHECK(run_until(l, [&] { return exits == 40; }));

  // terminate() while starting is applied once the child exists; its exit is reported.
  opts.argv = {"sleep", "30"};
  std::optional<ExitStatus> stopped;
  auto sleeper = ChildProcess::spawn(l, opts, [&](ExitStatus s, Timestamp) { stopped = s; });
  REQUIRE(sleeper);
  sleeper.value()->terminate(Duration::seconds(5));
  CHECK(run_until(l, [&] { return stopped.has_value(); }));
  CHECK(stopped->signal == SIGTERM);

  // Destroyed while starting: the child is stopped and reaped all the same.
  auto orphan = ChildProcess::spawn(l, opts, [](ExitStatus, Timestamp) {});
  REQUIRE(orphan);
  orphan.value().reset();
  CHECK(run_until(l, [&] { return l.process_groups().spawner().value()->in_progress() == 0; }));
  CHECK(run_until(l, [&] { return l.process_groups().watched_children() == 0; }));

  // A program that cannot be executed: exit code 127 through on_exit (and one log line).
  opts.argv = {"/nonexistent/curvecp-test-program"};
  std::optional<ExitStatus> missing;
  auto bad = ChildProcess::spawn(l, opts, [&](ExitStatus s, Timestamp) { missing = s; });
  REQUIRE(bad);
  CHECK(run_until(l, [&] { return missing.has_value(); }));
  CHECK(missing->code == 127);
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

TEST_CASE("process group: the program leads its own group; terminate() stops all of it, even after the owner is gone") {
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  std::unique_ptr<PipeReader> reader;
  auto child = spawn_script(l, "sleep 30 & echo ready; wait", reader);
  const pid_t pgid = child->pgid();
  CHECK(::getpgid(child->pid()) == child->pid());
  CHECK(::getsid(child->pid()) == child->pid());
  REQUIRE(run_until(l, [&] { return reader->text == "ready\n"; }));

  const Duration grace = Duration::seconds(2);
  const Timestamp start = l.update_now();
  child->terminate(grace);
  CHECK(child->terminated());
  child.reset();  // the escalation belongs to the loop, not to the ChildProcess
  CHECK(run_until(l, [&] { return group_gone(pgid) && reader->eof; }));
  // SIGTERM alone ends this group: well before the grace.
  CHECK(l.update_now() - start < grace);
  CHECK(run_until(l, [&] { return l.process_groups().pending() == 0; }));
}

TEST_CASE("process group: destroying a running child terminates its whole group") {
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  std::unique_ptr<PipeReader> reader;
  auto child = spawn_script(l, "sleep 30 & echo ready; wait", reader);
  const pid_t pgid = child->pgid();
  REQUIRE(run_until(l, [&] { return reader->text == "ready\n"; }));
  child.reset();
  CHECK(l.process_groups().pending() == 1);
  CHECK(run_until(l, [&] { return group_gone(pgid) && reader->eof; }));
}

TEST_CASE("process group: a group that ignores SIGTERM is SIGKILLed after the grace, not before") {
  // The ignored disposition is inherited by sleep as well.
  ReadyGroup g("trap '' TERM; sleep 30 & echo ready; wait");
  EventLoop& l = g.loop();
  auto& [loop_owner, reader, status, child, pgid] = g;

  const Duration grace = Duration::milliseconds(600);
  const Timestamp start = l.update_now();
  child->terminate(grace);
  run_for(l, grace / 2);
  CHECK_FALSE(status.has_value());
  CHECK(::kill(-pgid, 0) == 0);
  CHECK(l.process_groups().pending() == 1);

  CHECK(run_until(l, [&] { return status.has_value() && group_gone(pgid) && reader->eof; }));
  const Duration took = l.update_now() - start;
  CHECK(took >= grace);
  CHECK(took < grace + Duration::seconds(2));
  REQUIRE(status);
  CHECK(status->signal == SIGKILL);
  CHECK(l.process_groups().pending() == 0);
}

TEST_CASE("process group: kill_pending() cuts a group's grace short; finish() returns then") {
  ReadyGroup g("trap '' TERM; sleep 30 & echo ready; wait");
  EventLoop& l = g.loop();
  auto& [loop_owner, reader, status, child, pgid] = g;

  const Duration grace = Duration::seconds(30);
  child->terminate(grace);
  run_for(l, Duration::milliseconds(100));
  CHECK(l.process_groups().pending() == 1);
  CHECK(l.process_groups().kill_pending() == 1);
  CHECK(l.process_groups().pending() == 0);
  CHECK(l.process_groups().kill_pending() == 0);
  l.process_groups().finish();  // nothing pending: returns at once
  CHECK(run_until(l, [&] { return status.has_value() && group_gone(pgid) && reader->eof; }));
  REQUIRE(status);
  CHECK(status->signal == SIGKILL);
}

TEST_CASE("process group: finish() gives a group that cleans up on SIGTERM its time") {
  // The handler takes 0.3 s (a foreground sleep) and then exits 7.
  ReadyGroup g("trap 'sleep 0.3; exit 7' TERM; echo ready; while :; do sleep 0.05; done");
  EventLoop& l = g.loop();
  auto& [loop_owner, reader, status, child, pgid] = g;
  child->terminate(Duration::seconds(5));
  l.process_groups().finish();
  CHECK(l.process_groups().pending() == 0);
  CHECK_FALSE(process_group_exists(pgid));
  CHECK(run_until(l, [&] { return status.has_value(); }));
  REQUIRE(status);
  CHECK(status->signal == 0);
  CHECK(status->code == 7);
}

TEST_CASE("process group: a clean exit signals nothing, a group can be terminated after its leader") {
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  std::unique_ptr<PipeReader> reader;
  std::optional<ExitStatus> status;
  // The leader exits 0 at once, leaving a member that reports any SIGTERM it gets.
  auto child = spawn_script(
      l, "sh -c 'trap \"echo TERM; exit 1\" TERM; echo ready; while :; do sleep 0.05; done' & exit 0", reader,
      &status);
  const pid_t pgid = child->pgid();
  REQUIRE(run_until(l, [&] { return status.has_value() && reader->text == "ready\n"; }));
  CHECK(status->success());
  child.reset();
  CHECK(l.process_groups().pending() == 0);
  // A bounded look for a signal that must not come.
  run_for(l, Duration::milliseconds(400));
  CHECK(reader->text == "ready\n");
  CHECK(::kill(-pgid, 0) == 0);

  // The group outlives its leader and can still be terminated by id.
  l.process_groups().terminate(pgid, Duration::seconds(2), l.update_now());
  CHECK(run_until(l, [&] { return group_gone(pgid) && reader->eof; }));
  CHECK(reader->text == "ready\nTERM\n");
}

TEST_CASE("find_executable: PATH lookup like execvp") {
  auto sh = find_executable("sh");
  REQUIRE(sh);
  CHECK(sh.value().find('/') != std::string::npos);
  CHECK(::access(sh.value().c_str(), X_OK) == 0);
  CHECK(find_executable("/bin/sh").value() == "/bin/sh");
  auto missing = find_executable("curvecp-no-such-program");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "program not found or not executable: curvecp-no-such-program");
  CHECK_FALSE(find_executable("/nonexistent/prog"));
  CHECK_FALSE(find_executable("/etc/passwd"));  // not executable
  CHECK_FALSE(find_executable("/bin"));         // a directory
  CHECK_FALSE(find_executable(""));
}

TEST_CASE("spawn: an inherited descriptor without close-on-exec is closed, unless kept") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  // A descriptor as a parent process would hand it down: no close-on-exec.
  const int stray = ::open("/dev/null", O_RDONLY);
  REQUIRE(stray >= 3);
  for (bool close_others : {true, false}) {
    auto out = make_pipe(true, false);
    REQUIRE(out);
    SpawnOptions opts;
    opts.argv = {"sh", "-c", "if [ -e /proc/$$/fd/" + std::to_string(stray) + " ]; then echo kept; else echo closed; fi"};
    opts.env = environment_with({});
    opts.fds = {{1, out->write_end.get()}};
    opts.close_other_fds = close_others;
    std::optional<ExitStatus> status;
    auto child = ChildProcess::spawn(l, opts, [&](ExitStatus s, Timestamp) { status = s; });
    REQUIRE(child);
    out->write_end.reset();
    PipeReader reader(l, std::move(out->read_end));
    CHECK(run_until(l, [&] { return reader.eof && status.has_value(); }));
    reader.watcher->close();
    CHECK(reader.text == (close_others ? "closed\n" : "kept\n"));
  }
  ::close(stray);
}

TEST_CASE("spawn: mappings that swap descriptor numbers reach the right places") {
  auto loop = EventLoop::create();
  REQUIRE(loop);
  EventLoop& l = *loop.value();
  auto a = make_pipe(true, false);
  auto b = make_pipe(true, false);
  REQUIRE(a);
  REQUIRE(b);
  // Child fd 7 gets pipe a, child fd 6 gets pipe b, whatever our numbers are (they may
  // be 6 and 7 themselves).
  SpawnOptions opts;
  opts.argv = {"sh", "-c", "echo seven >&7; echo six >&6"};
  opts.env = environment_with({});
  opts.fds = {{7, a->write_end.get()}, {6, b->write_end.get()}};
  std::optional<ExitStatus> status;
  auto child = ChildProcess::spawn(l, opts, [&](ExitStatus s, Timestamp) { status = s; });
  REQUIRE(child);
  a->write_end.reset();
  b->write_end.reset();
  PipeReader ra(l, std::move(a->read_end));
  PipeReader rb(l, std::move(b->read_end));
  CHECK(run_until(l, [&] { return ra.eof && rb.eof && status.has_value(); }));
  ra.watcher->close();
  rb.watcher->close();
  CHECK(ra.text == "seven\n");
  CHECK(rb.text == "six\n");
  CHECK(status->success());
}

TEST_CASE("clean_environment_with: PATH, PROTO, CURVECP* and the listed names only") {
  ::setenv("CURVECP_TEST_KEEP", "1", 1);
  ::setenv("MEMTEST_SECRET", "s", 1);
  ::setenv("MEMTEST_PASSED", "p", 1);
  auto env = clean_environment_with({"MEMTEST_PASSED"}, {"PROTO=CURVECP", "CURVECPREMOTEIP=1.2.3.4"});
  auto has = [&](const std::string& entry) { return std::find(env.begin(), env.end(), entry) != env.end(); };
  auto has_name = [&](const std::string& name) {
    return std::any_of(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(name + "=", 0) == 0; });
  };
  CHECK(has("CURVECP_TEST_KEEP=1"));
  CHECK(has("MEMTEST_PASSED=p"));
  CHECK(has("PROTO=CURVECP"));
  CHECK(has("CURVECPREMOTEIP=1.2.3.4"));
  CHECK_FALSE(has_name("MEMTEST_SECRET"));
  CHECK_FALSE(has_name("HOME"));
  if (std::getenv("PATH") != nullptr) CHECK(has_name("PATH"));
  ::unsetenv("CURVECP_TEST_KEEP");
  ::unsetenv("MEMTEST_SECRET");
  ::unsetenv("MEMTEST_PASSED");
}
