#include "client/connect_session.h"

#include <signal.h>

#include <memory>
#include <optional>

#include "client/client_connection.h"
#include "client/stdio_relay.h"
#include "core/bytes.h"
#include "daemon/child_process.h"
#include "daemon/command_registry.h"
#include "daemon/event_loop.h"
#include "daemon/pump.h"
#include "daemon/signal_watcher.h"
#include "daemon/timer.h"
#include "daemon/unique_fd.h"

namespace curvecp {

namespace {

// The program's descriptors on the client side (CURVECP.md 5.3, curvecpmessage -c).
constexpr int kProgramReadFd = 6;   // data from the server
constexpr int kProgramWriteFd = 7;  // data to the server

class ConnectSession {
 public:
  ConnectSession(ConnectOptions options, Rng& rng) : options_(std::move(options)), rng_(rng) {}
  int run();

 private:
  void on_progress(Timestamp now);
  void on_pump_activity(Timestamp now);
  void start_program(Timestamp now);
  void on_program_exit(ExitStatus status, Timestamp now);
  void check_finished(Timestamp now);
  int status_after_program(const ExitStatus& status);
  void finish(int exit_code, const std::string& error = {});
  // Both directions are done: true once the stream has nothing left to send (its last
  // acknowledgement may be delayed, scheduler/ack_scheduler.h), or kFlushGrace later.
  bool flushed(Timestamp now);
  bool netcat() const { return options_.program.empty(); }

  ConnectOptions options_;
  Rng& rng_;
  // Destruction runs bottom-up: the pump goes first (it holds the stream and the pipe
  // ends the relay's writer waits on), the loop last (it frees the closed handles).
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<StdioRelay> relay_;
  std::unique_ptr<ClientConnection> connection_;
  std::unique_ptr<ChildProcess> child_;
  std::optional<ExitStatus> program_status_;
  std::unique_ptr<Timer> linger_timer_;
  Timestamp linger_deadline_ = Timestamp::never();
  Timestamp flush_deadline_ = Timestamp::never();
  std::vector<std::unique_ptr<SignalWatcher>> signals_;
  std::unique_ptr<Pump> pump_;
  bool finished_ = false;
  int exit_code_ = 0;
};

int ConnectSession::run() {
  ignore_sigpipe();
  auto loop = EventLoop::create();
  if (!loop) {
    print_error("connect: " + loop.error().message);
    return kExitTemporary;
  }
  loop_ = std::move(*loop);

  for (int signum : {SIGINT, SIGTERM, SIGHUP}) {
    auto w = SignalWatcher::create(*loop_, signum, [this](int s, Timestamp) {
      finish(kExitTemporary, "connect: interrupted by signal " + std::to_string(s));
    });
    if (w) signals_.push_back(std::move(*w));
  }
  auto timer = Timer::create(*loop_, [this](Timestamp now) { check_finished(now); });
  if (!timer) {
    print_error("connect: " + timer.error().message);
    return kExitTemporary;
  }
  linger_timer_ = std::move(*timer);

  auto connection = ClientConnection::open(*loop_, std::move(options_.engine), rng_,
                                           [this](Timestamp now) { on_progress(now); });
  if (!connection) {
    print_error("connect: " + connection.error().message);
    return kExitTemporary;
  }
  connection_ = std::move(*connection);

  if (netcat()) {
    // stdin may be read before the Cookie arrives: the bytes wait in the send buffer.
    StdioRelay::LoopEnds ends;
    auto relay = StdioRelay::start(0, 1, ends);
    if (!relay) {
      print_error("connect: " + relay.error().message);
      return kExitTemporary;
    }
    relay_ = std::move(*relay);
    auto pump = Pump::create(*loop_, connection_->stream(), std::move(ends.to_output), std::move(ends.from_input),
                             [this](Timestamp now) { on_pump_activity(now); });
    if (!pump) {
      finish(kExitTemporary, "connect: " + pump.error().message);
    } else {
      pump_ = std::move(*pump);
    }
  }

  if (!finished_) {
    on_progress(loop_->update_now());
    if (!finished_) {
      if (Status s = loop_->run(); !s && !finished_) finish(kExitTemporary, "connect: " + s.error().message);
    }
  }

  pump_.reset();
  if (relay_) {
    if (Status s = relay_->finish_output(); !s && exit_code_ == 0) {
      print_error("connect: " + s.error().message);
      exit_code_ = kExitTemporary;
    }
    if (std::string e = relay_->input_error(); !e.empty() && exit_code_ == 0) {
      print_error("connect: " + e);
      exit_code_ = kExitTemporary;
    }
  }
  child_.reset();  // a program still running (failure paths) is sent SIGTERM
  connection_.reset();
  linger_timer_.reset();
  signals_.clear();
  relay_.reset();
  loop_.reset();
  return exit_code_;
}

void ConnectSession::finish(int exit_code, const std::string& error) {
  if (finished_) return;
  finished_ = true;
  exit_code_ = exit_code;
  if (!error.empty()) print_error(error);
  if (loop_) loop_->stop();
}

bool ConnectSession::flushed(Timestamp now) {
  // The server needs our acknowledgement of its EOF and there is no TIME-WAIT (CURVECP.md
  // 9 item 12): at least let a delayed one leave before the socket closes.
  constexpr Duration kFlushGrace = Duration::milliseconds(50);
  if (flush_deadline_ == Timestamp::never()) {
    flush_deadline_ = now + kFlushGrace;
    linger_timer_->arm(flush_deadline_);
  }
  return connection_->stream().next_timeout() == Timestamp::never() || now >= flush_deadline_;
}

void ConnectSession::on_progress(Timestamp now) {
  if (finished_) return;
  ClientEngine& engine = connection_->engine();
  if (engine.phase() == ClientEngine::Phase::failed) {
    finish(kExitTemporary, "connect: " + engine.failure());
    return;
  }
  // Like the reference, the program starts only once the server has answered (4.5).
  if (!netcat() && !child_ && !program_status_ && engine.has_cookie()) start_program(now);
  if (pump_) pump_->on_stream_progress(now);
  check_finished(now);
}

void ConnectSession::on_pump_activity(Timestamp now) {
  if (finished_) return;
  connection_->service(now);
  check_finished(now);
}

void ConnectSession::start_program(Timestamp now) {
  auto to_program = make_pipe(/*nonblocking_read=*/false, /*nonblocking_write=*/true);
  auto from_program = make_pipe(/*nonblocking_read=*/true, /*nonblocking_write=*/false);
  if (!to_program || !from_program) {
    finish(kExitTemporary, "connect: " + (to_program ? from_program.error() : to_program.error()).message);
    return;
  }
  const Address& server = connection_->engine().server();
  const Address& local = connection_->local_address();
  std::vector<std::string> env = options_.program_env;
  env.push_back("CURVECPREMOTEIP=" + server.ip_string());
  env.push_back("CURVECPREMOTEPORT=" + std::to_string(server.port));
  env.push_back("CURVECPLOCALIP=" + local.ip_string());
  env.push_back("CURVECPLOCALPORT=" + std::to_string(local.port));

  SpawnOptions spawn;
  spawn.argv = options_.program;
  spawn.env = environment_with(env);
  spawn.fds = {{kProgramReadFd, to_program->read_end.get()}, {kProgramWriteFd, from_program->write_end.get()}};
  auto child = ChildProcess::spawn(*loop_, spawn, [this](ExitStatus s, Timestamp t) { on_program_exit(s, t); });
  if (!child) {
    finish(kExitTemporary, "connect: " + child.error().message);
    return;
  }
  child_ = std::move(*child);
  // The program holds its ends now; ours must go, or its EOFs would never show.
  to_program->read_end.reset();
  from_program->write_end.reset();
  ChildProcess* c = child_.get();
  auto pump = Pump::create(
      *loop_, connection_->stream(), std::move(to_program->write_end), std::move(from_program->read_end),
      [this](Timestamp t) { on_pump_activity(t); }, [c] { return c->peek_exit(); });
  if (!pump) {
    finish(kExitTemporary, "connect: " + pump.error().message);
    return;
  }
  pump_ = std::move(*pump);
  (void)now;
}

void ConnectSession::on_program_exit(ExitStatus status, Timestamp now) {
  program_status_ = status;
  if (pump_) pump_->on_program_exit(status, now);
  connection_->service(now);
  if (!finished_) {
    linger_deadline_ = now + options_.linger_after_exit;
    linger_timer_->arm(linger_deadline_);
    check_finished(now);
  }
}

int ConnectSession::status_after_program(const ExitStatus& status) {
  if (status.signal != 0) {
    print_error("connect: program killed by signal " + std::to_string(status.signal));
    return kExitTemporary;
  }
  if (status.code != 0) return static_cast<int>(status.code);
  if (connection_->stream().read_finished() && connection_->stream().read_failed()) {
    print_error("connect: the server ended its stream with a failure");
    return kExitTemporary;
  }
  return 0;
}

void ConnectSession::check_finished(Timestamp now) {
  if (finished_) return;
  ClientEngine& engine = connection_->engine();
  if (engine.phase() == ClientEngine::Phase::failed) {
    finish(kExitTemporary, "connect: " + engine.failure());
    return;
  }
  Stream& stream = connection_->stream();
  const bool pump_done = pump_ && pump_->finished();
  if (netcat()) {
    if (stream.done() && pump_done && flushed(now)) {
      if (stream.read_failed()) {
        finish(kExitTemporary, "connect: the server ended its stream with a failure");
      } else {
        finish(0);
      }
    }
    return;
  }
  if (!program_status_) return;  // the program decides when we are done (4.9)
  if (stream.done() && pump_done) {
    if (flushed(now)) finish(status_after_program(*program_status_));
    return;
  }
  // A failed program has nothing more to hear: stop once our (FAIL) EOF has been
  // acknowledged, so the far end knows. Otherwise the program is gone but the server has
  // not finished its stream: give it linger_after_exit, then stop anyway.
  if (!program_status_->success() && pump_ && pump_->output_finished() && stream.write_finished()) {
    finish(status_after_program(*program_status_));
    return;
  }
  if (now >= linger_deadline_) finish(status_after_program(*program_status_));
}

}  // namespace

int run_connect_session(ConnectOptions options, Rng& rng) {
  ConnectSession session(std::move(options), rng);
  return session.run();
}

}  // namespace curvecp
