#include "client/connect_session.h"

#include <signal.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "client/client_connection.h"
#include "client/command_output.h"
#include "client/stdio_relay.h"
#include "core/bytes.h"
#include "daemon/command_registry.h"
#include "daemon/attachment.h"
#include "daemon/control_protocol.h"
#include "daemon/control_server.h"
#include "daemon/event_loop.h"
#include "daemon/process_group_reaper.h"
#include "daemon/log.h"
#include "daemon/signal_watcher.h"

namespace curvecp {

namespace {

// The program's descriptors on the client side (CURVECP.md 5.3, curvecpmessage -c).
constexpr int kProgramReadFd = 6;   // data from the server
constexpr int kProgramWriteFd = 7;  // data to the server

class ConnectSession : public ControlTarget {
 public:
  ConnectSession(ConnectOptions options, Rng& rng) : options_(std::move(options)), rng_(rng) {}
  int run();
  // ControlTarget: the one connection, id 1.
  std::vector<ConnectionInfo> control_connections(Timestamp now) const override;
  Status control_set_priority(uint64_t id, const Priority& p, Timestamp now) override;

 private:
  // Loop, signal watchers, socket and (netcat mode) the stdio relay.
  Status start();
  Status start_relay();
  Status start_control();
  // Stops what is left, flushes standard output, returns the exit status.
  int tear_down();
  void on_progress(Timestamp now);
  void on_signal(int signum, Timestamp now);
  // Moves program bytes, applies the lifecycle, and ends the run when the connection has.
  void step(Timestamp now);
  void start_program(Timestamp now);
  void report_handshake(Timestamp now);
  int status_at_end();
  void finish(int exit_code, const std::string& error = {});
  bool netcat() const { return options_.program.empty(); }

  ConnectOptions options_;
  Rng& rng_;
  // Destruction runs bottom-up: the attachment goes first (it holds the pipe ends the
  // relay's writer waits on), the loop last (it frees the closed handles).
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<StdioRelay> relay_;
  std::unique_ptr<ClientConnection> connection_;
  std::vector<std::unique_ptr<SignalWatcher>> signals_;
  std::unique_ptr<Attachment> attachment_;
  std::unique_ptr<ControlServer> control_;  // refers to this session; reset first
  std::string peer_key_hex_;
  Timestamp started_;
  bool reported_cookie_ = false;
  bool reported_established_ = false;
  uint32_t reported_hellos_ = 0;
  int signal_ = 0;  // the signal that interrupted us, if any
  bool stepping_ = false;
  bool finished_ = false;
  bool hurry_ = false;                // a second signal: exit without waiting for anything
  bool waiting_for_program_ = false;  // tear_down() gives a stopped program its grace
  int exit_code_ = 0;
};

int ConnectSession::run() {
  ignore_sigpipe();
  if (Status s = start(); !s) {
    print_command_error("connect", s.error().message);
    return kExitTemporary;
  }
  if (!finished_) {
    on_progress(loop_->update_now());
    if (!finished_) {
      if (Status s = loop_->run(); !s && !finished_) finish(kExitTemporary, s.error().message);
    }
  }
  return tear_down();
}

Status ConnectSession::start() {
  auto loop = EventLoop::create();
  if (!loop) return loop.error();
  loop_ = std::move(*loop);
  started_ = loop_->update_now();
  for (int signum : {SIGINT, SIGTERM, SIGHUP}) {
    auto w = SignalWatcher::create(*loop_, signum, [this](int s, Timestamp now) { on_signal(s, now); });
    if (!w) return make_error("cannot install signal handlers: " + w.error().message);
    signals_.push_back(std::move(*w));
  }
  peer_key_hex_ = encode_hex(options_.engine.crypto.server_long_term.bytes);
  if (Status s = start_control(); !s) return s;
  auto connection = ClientConnection::open(*loop_, std::move(options_.engine), rng_,
                                           [this](Timestamp now) { on_progress(now); });
  if (!connection) return connection.error();
  connection_ = std::move(*connection);
  if (options_.verbose) {
    const auto& addresses = connection_->engine().addresses();
    std::string others;
    for (size_t i = 1; i < addresses.size(); ++i) others += (i == 1 ? " (then " : ", ") + addresses[i].to_string();
    if (!others.empty()) others += ", in turn)";
    log_verbose("sending Hellos to " + addresses[0].to_string() + others + " from " +
                connection_->local_address().to_string());
  }
  return netcat() ? start_relay() : Status{};
}

Status ConnectSession::start_control() {
  if (options_.control_path.empty()) return {};
  auto control = ControlServer::open(*loop_, options_.control_path, [this](std::string_view line, Timestamp now) {
    return answer_control_request(line, *this, now);
  });
  if (!control) {
    if (options_.control_required) return control.error();
    if (options_.verbose) std::fprintf(stderr, "curvecp: connect: no control socket: %s\n", control.error().message.c_str());
    options_.control_path.clear();
    return {};
  }
  control_ = std::move(*control);
  if (options_.verbose) std::fprintf(stderr, "curvecp: connect: control socket %s\n", options_.control_path.c_str());
  return {};
}

std::vector<ConnectionInfo> ConnectSession::control_connections(Timestamp now) const {
  if (!connection_) return {};
  ConnectionInfo info;
  info.id = 1;
  info.peer_key = peer_key_hex_;
  info.address = connection_->engine().server().to_string();
  info.age_s = static_cast<double>((now - started_).ns) / 1e9;
  fill_stream_figures(info, connection_->engine().connection().stream());
  return {info};
}

Status ConnectSession::control_set_priority(uint64_t id, const Priority& p, Timestamp now) {
  if (id != 1 || !connection_) return make_error("no connection " + std::to_string(id) + " (connect has only 1)");
  if (Status s = connection_->engine().connection().set_priority(p, now); !s) {
    return make_error("connection 1: " + s.error().message);
  }
  connection_->service(now);
  return {};
}

Status ConnectSession::start_relay() {
  // stdin may be read before the Cookie arrives: the bytes wait in the send buffer.
  StdioRelay::LoopEnds ends;
  auto relay = StdioRelay::start(0, 1, ends);
  if (!relay) return relay.error();
  relay_ = std::move(*relay);
  StdioRelay* r = relay_.get();
  auto attachment = Attachment::relay(
      *loop_, std::move(ends.to_output), std::move(ends.from_input), [r] { return !r->input_error().empty(); },
      [this](Timestamp now) { step(now); });
  if (!attachment) return attachment.error();
  attachment_ = std::move(*attachment);
  return {};
}

int ConnectSession::tear_down() {
  control_.reset();
  // A run that ends in failure stops the program's group before its pipes close.
  if (attachment_ && exit_code_ != 0 && !attachment_->done()) attachment_->stop(kProgramStopGrace);
  attachment_.reset();
  if (relay_) {
    if (Status s = relay_->finish_output(); !s && exit_code_ == 0) {
      print_command_error("connect", s.error().message);
      exit_code_ = kExitTemporary;
    }
  }
  connection_.reset();
  // A program that was stopped gets the rest of its grace to exit on its SIGTERM (its
  // TERM handler may clean up) before we exit: the reaper's destructor, at loop_.reset(),
  // would send SIGKILL at once. A second signal, before or during this wait, does not wait.
  if (loop_ && !hurry_ && loop_->process_groups().pending() > 0) {
    log_verbose("waiting for the stopped program to exit");
    waiting_for_program_ = true;
    loop_->process_groups().finish();
  }
  signals_.clear();
  relay_.reset();
  loop_.reset();
  return exit_code_;
}

void ConnectSession::finish(int exit_code, const std::string& error) {
  if (finished_) return;
  finished_ = true;
  exit_code_ = exit_code;
  if (!error.empty()) print_command_error("connect", error);
  if (loop_) loop_->stop();
}

void ConnectSession::on_signal(int signum, Timestamp now) {
  if (waiting_for_program_) {
    // Exiting, and the stopped program has not gone yet: stop waiting for it.
    if (loop_->process_groups().kill_pending() > 0) log_verbose("signal " + std::to_string(signum) + ": killing the program");
    return;
  }
  if (finished_) return;
  if (signal_ != 0) {
    // A second signal: stop waiting for the server to acknowledge our FAIL.
    hurry_ = true;
    finish(128 + signal_, "interrupted by signal " + std::to_string(signal_) + " (" + strsignal(signal_) + ")");
    return;
  }
  signal_ = signum;
  // The program first, then the server hears FAIL at once: the far program is stopped
  // within about a round trip instead of after an idle timeout.
  if (attachment_) attachment_->stop(kProgramStopGrace);
  connection_->engine().abort(now);
  connection_->service(now);
  step(now);
}

void ConnectSession::on_progress(Timestamp now) {
  if (finished_) return;
  report_handshake(now);
  ClientEngine& engine = connection_->engine();
  // Like the reference, the program starts only once the server has answered (4.5).
  if (!netcat() && !attachment_ && signal_ == 0 && engine.has_cookie() && !engine.finished()) start_program(now);
  step(now);
}

// Milliseconds with one decimal, as the handshake lines print them.
std::string format_ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", ms);
  return buf;
}

void ConnectSession::report_handshake(Timestamp now) {
  if (!options_.verbose) return;
  ClientEngine& engine = connection_->engine();
  const double ms = static_cast<double>((now - started_).ns) / 1e6;
  if (engine.hellos_sent() > reported_hellos_) {
    reported_hellos_ = engine.hellos_sent();
    log_verbose("Hello " + std::to_string(reported_hellos_) + " sent to " + engine.server().to_string() + " at " +
                std::to_string(std::lround(ms)) + " ms");
  }
  if (engine.has_cookie() && !reported_cookie_) {
    reported_cookie_ = true;
    log_verbose("Cookie received at " + format_ms(ms) + " ms; sending Initiate");
  }
  if (engine.established() && !reported_established_) {
    reported_established_ = true;
    log_verbose("server accepted (first Server Message) at " + format_ms(ms) + " ms");
  }
}

void ConnectSession::step(Timestamp now) {
  if (finished_ || stepping_) return;
  stepping_ = true;
  ClientEngine& engine = connection_->engine();
  Connection& c = engine.connection();
  if (attachment_ && attachment_->transfer(c, now)) connection_->service(now);
  report_handshake(now);
  if (engine.phase() == ClientEngine::Phase::failed) {
    // Stop the program before its pipes close: a failure never reads as end of input.
    if (attachment_) attachment_->stop(kProgramStopGrace);
    // Wait while our FAIL goes out (bounded by the connection's abort_timeout).
    if (c.closed() || !c.failed()) {
      if (signal_ != 0) {
        finish(128 + signal_,
               "interrupted by signal " + std::to_string(signal_) + " (" + strsignal(signal_) + ")");
      } else if (engine.reason() == EndReason::program_failed) {
        finish(status_at_end());
      } else {
        finish(kExitTemporary, engine.failure());
      }
    }
  } else if (engine.phase() == ClientEngine::Phase::done) {
    finish(status_at_end());
  }
  stepping_ = false;
}

void ConnectSession::start_program(Timestamp now) {
  const Address& server = connection_->engine().server();
  const Address& local = connection_->local_address();
  ProgramSpec spec;
  spec.argv = options_.program;
  spec.read_fd = kProgramReadFd;
  spec.write_fd = kProgramWriteFd;
  spec.env_overrides = options_.program_env;
  spec.env_overrides.push_back("CURVECPREMOTEIP=" + server.ip_string());
  spec.env_overrides.push_back("CURVECPREMOTEPORT=" + std::to_string(server.port));
  spec.env_overrides.push_back("CURVECPLOCALIP=" + local.ip_string());
  spec.env_overrides.push_back("CURVECPLOCALPORT=" + std::to_string(local.port));
  if (control_) {
    spec.env_overrides.push_back(std::string(kControlPathEnv) + "=" + control_->path());
    spec.env_overrides.push_back(std::string(kConnectionIdEnv) + "=1");
  }
  auto attachment = Attachment::spawn(*loop_, spec, [this](Timestamp t) { step(t); });
  if (!attachment) {
    // The server hears FAIL at once rather than waiting for a program that never came.
    print_command_error("connect", attachment.error().message);
    connection_->engine().abort(now);
    connection_->service(now);
    return;
  }
  attachment_ = std::move(*attachment);
}

int ConnectSession::status_at_end() {
  Stream& stream = connection_->stream();
  const std::optional<ExitStatus> status = attachment_ ? attachment_->exit_status() : std::nullopt;
  if (status) {
    if (status->signal != 0) {
      print_command_error("connect", "program killed by signal " + std::to_string(status->signal));
      return kExitTemporary;
    }
    if (status->code != 0) return static_cast<int>(status->code);
  }
  if (netcat() && relay_ && !relay_->input_error().empty()) {
    print_command_error("connect", relay_->input_error());
    return kExitTemporary;
  }
  if (stream.read_finished() && stream.read_failed()) {
    print_command_error("connect", "the server ended its stream with a failure");
    return kExitTemporary;
  }
  return 0;
}

}  // namespace

int run_connect_session(ConnectOptions options, Rng& rng) {
  ConnectSession session(std::move(options), rng);
  return session.run();
}

}  // namespace curvecp
