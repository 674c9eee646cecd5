#include "client/forward_listen.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "client/client_connection.h"
#include "client/command_output.h"
#include "core/bytes.h"
#include "daemon/attachment.h"
#include "daemon/command_registry.h"
#include "daemon/control_protocol.h"
#include "daemon/control_server.h"
#include "daemon/event_loop.h"
#include "daemon/fd_watcher.h"
#include "daemon/log.h"
#include "daemon/signal_watcher.h"
#include "daemon/sockaddr.h"
#include "daemon/timer.h"
#include "daemon/unique_fd.h"

namespace curvecp {

namespace {

// After accept() fails for want of descriptors (EMFILE, ENFILE): pause this long rather
// than spin on a listener that stays readable.
constexpr Duration kAcceptPause = Duration::milliseconds(200);

// One forwarded TCP client and its CurveCP connection. The attachment is declared after
// the connection, so it goes first (its socket is reset or closed before the stream).
struct Forward {
  uint64_t serial = 0;
  Address from;
  Timestamp started;
  std::unique_ptr<ClientConnection> connection;
  std::unique_ptr<Attachment> attachment;
};

class ListenSession : public ControlTarget {
 public:
  ListenSession(ListenOptions options, Rng& rng) : options_(std::move(options)), rng_(rng) {}
  int run();
  std::vector<ConnectionInfo> control_connections(Timestamp now) const override;
  Status control_set_priority(uint64_t id, const Priority& p, Timestamp now) override;

 private:
  Status start();
  void tear_down();
  Status open_listener();
  void on_acceptable(Timestamp now);
  void accept_one(UniqueFd socket, const Address& from, Timestamp now);
  Result<std::unique_ptr<ClientConnection>> open_connection(uint64_t serial);
  void on_signal(int signum, Timestamp now);
  // Moves bytes for one forward and ends it when its connection has ended.
  void step(uint64_t serial, Timestamp now);
  void end(uint64_t serial, Timestamp now);
  void log_end(const Forward& f, Timestamp now);
  void close_listener();
  void check_finished();

  ListenOptions options_;
  Rng& rng_;
  std::unique_ptr<EventLoop> loop_;
  std::vector<std::unique_ptr<SignalWatcher>> signals_;
  UniqueFd listener_;
  std::unique_ptr<FdWatcher> listen_watcher_;  // destroyed before listener_ closes
  std::unique_ptr<Timer> accept_pause_;
  std::unique_ptr<Timer> reaper_;              // destroys ended forwards outside their callbacks
  std::map<uint64_t, std::unique_ptr<Forward>> forwards_;
  std::vector<std::unique_ptr<Forward>> ended_;
  std::unique_ptr<ControlServer> control_;
  uint64_t next_serial_ = 1;
  uint64_t refused_ = 0;
  int signal_ = 0;
  bool stepping_ = false;
};

int ListenSession::run() {
  ignore_sigpipe();
  int exit_code = 0;
  if (Status s = start(); !s) {
    print_command_error("connect", s.error().message);
    exit_code = kExitTemporary;
  } else if (Status r = loop_->run(); !r) {
    print_command_error("connect", r.error().message);
    exit_code = kExitTemporary;
  }
  tear_down();
  return exit_code;
}

void ListenSession::tear_down() {
  // Every handle before the loop that frees them.
  control_.reset();
  forwards_.clear();  // after a second signal: reset what is left
  ended_.clear();
  close_listener();
  accept_pause_.reset();
  reaper_.reset();
  signals_.clear();
  loop_.reset();
}

Status ListenSession::start() {
  auto loop = EventLoop::create();
  if (!loop) return loop.error();
  loop_ = std::move(*loop);
  loop_->update_now();
  for (int signum : {SIGINT, SIGTERM, SIGHUP}) {
    auto w = SignalWatcher::create(*loop_, signum, [this](int s, Timestamp now) { on_signal(s, now); });
    if (!w) return make_error("cannot install signal handlers: " + w.error().message);
    signals_.push_back(std::move(*w));
  }
  auto reaper = Timer::create(*loop_, [this](Timestamp) { ended_.clear(); check_finished(); });
  if (!reaper) return reaper.error();
  reaper_ = std::move(*reaper);
  auto pause = Timer::create(*loop_, [this](Timestamp) {
    if (listen_watcher_) listen_watcher_->set_events(FdWatcher::kReadable);
  });
  if (!pause) return pause.error();
  accept_pause_ = std::move(*pause);
  if (!options_.control_path.empty()) {
    auto control = ControlServer::open(*loop_, options_.control_path, [this](std::string_view line, Timestamp now) {
      return answer_control_request(line, *this, now);
    });
    if (control) {
      control_ = std::move(*control);
    } else if (options_.control_required) {
      return control.error();
    } else if (options_.verbose) {
      log_verbose("no control socket: " + control.error().message);
    }
  }
  if (Status s = open_listener(); !s) return s;
  return {};
}

Status ListenSession::open_listener() {
  sockaddr_storage ss{};
  const socklen_t len = to_sockaddr(options_.listen, ss);
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(errno_text("socket", errno));
  listener_.reset(fd);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const std::string where = options_.listen.to_string();
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    return make_error(errno_text(("listen on " + where).c_str(), errno));
  }
  if (::listen(fd, 128) != 0) return make_error(errno_text(("listen on " + where).c_str(), errno));
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  auto w = FdWatcher::create(*loop_, fd, [this](int, Timestamp now) { on_acceptable(now); });
  if (!w) return w.error();
  listen_watcher_ = std::move(*w);
  listen_watcher_->set_events(FdWatcher::kReadable);
  // Port 0 asks the kernel for a free port: the line names the one it gave (tests).
  log_info("listening on " + from_sockaddr(reinterpret_cast<sockaddr*>(&bound), bound_len).to_string() +
           ", forwarding to " + options_.engine.server.to_string());
  return {};
}

void ListenSession::close_listener() {
  if (listen_watcher_) listen_watcher_->close();
  listen_watcher_.reset();
  listener_.reset();
}

void ListenSession::on_acceptable(Timestamp now) {
  // A few per wake-up, so a flood of TCP clients cannot starve running transfers.
  for (int i = 0; i < 16 && listener_.valid(); ++i) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = ::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      log_error(errno_text("accept", errno));
      listen_watcher_->set_events(0);
      accept_pause_->arm(now + kAcceptPause);
      break;
    }
    accept_one(UniqueFd(fd), from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len), now);
  }
}

// Resets `socket` at once (SO_LINGER 0): the TCP client sees a failure, not an end.
void reset_socket(UniqueFd socket) {
  linger lg{1, 0};
  ::setsockopt(socket.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

void ListenSession::accept_one(UniqueFd socket, const Address& from, Timestamp now) {
  const uint64_t serial = next_serial_++;
  const std::string tag = "#" + std::to_string(serial) + " from=" + from.to_string();
  if (forwards_.size() >= options_.max_forwards) {
    ++refused_;
    log_error(tag + ": refused: " + std::to_string(forwards_.size()) +
              " forwarded connections already (--max-forwards)");
    reset_socket(std::move(socket));
    return;
  }
  auto connection = open_connection(serial);
  if (!connection) {
    log_error(tag + ": " + connection.error().message);
    reset_socket(std::move(socket));
    return;
  }
  auto f = std::make_unique<Forward>();
  f->serial = serial;
  f->from = from;
  f->started = now;
  f->connection = std::move(*connection);
  auto attachment = Attachment::forward_from(*loop_, std::move(socket), [this, serial](Timestamp t) { step(serial, t); });
  if (!attachment) {
    log_error(tag + ": " + attachment.error().message);
    f->connection->engine().abort(now);
    f->connection->service(now);
    ended_.push_back(std::move(f));
    reaper_->arm(now);
    return;
  }
  f->attachment = std::move(*attachment);
  log_info(tag + " start server=" + f->connection->engine().server().to_string());
  forwards_[serial] = std::move(f);
  step(serial, now);
}

Result<std::unique_ptr<ClientConnection>> ListenSession::open_connection(uint64_t serial) {
  // A copy of the template per connection: the handshake makes its own short-term key.
  ClientEngineConfig config;
  const ClientEngineConfig& t = options_.engine;
  config.crypto.server_long_term = t.crypto.server_long_term;
  config.crypto.server_name = t.crypto.server_name;
  config.crypto.server_extension = t.crypto.server_extension;
  config.crypto.client_extension = t.crypto.client_extension;
  config.crypto.client_long_term_pk = t.crypto.client_long_term_pk;
  config.crypto.client_long_term_sk = SecretKey::from_bytes(Bytes(t.crypto.client_long_term_sk.data(), 32));
  auto nonce = options_.vouch_nonce();
  if (!nonce) return make_error("nonce-generation disaster: " + nonce.error().message);
  config.crypto.vouch_nonce = *nonce;
  config.stream = t.stream;
  config.server = t.server;
  config.more_servers = t.more_servers;
  config.handshake_timeout = t.handshake_timeout;
  config.connection = t.connection;
  return ClientConnection::open(*loop_, std::move(config), rng_, [this, serial](Timestamp now) { step(serial, now); });
}

void ListenSession::step(uint64_t serial, Timestamp now) {
  auto it = forwards_.find(serial);
  if (it == forwards_.end() || stepping_) return;
  stepping_ = true;
  Forward& f = *it->second;
  ClientEngine& engine = f.connection->engine();
  Connection& c = engine.connection();
  if (f.attachment && f.attachment->transfer(c, now)) f.connection->service(now);
  bool over = engine.phase() == ClientEngine::Phase::done;
  if (engine.phase() == ClientEngine::Phase::failed) {
    // RST to the TCP client before anything closes: a failure never reads as an end.
    f.attachment->stop(kProgramStopGrace);
    over = c.closed() || !c.failed();  // wait while our FAIL goes out (abort_timeout)
  }
  stepping_ = false;
  if (over) end(serial, now);
}

void ListenSession::end(uint64_t serial, Timestamp now) {
  auto it = forwards_.find(serial);
  if (it == forwards_.end()) return;
  log_end(*it->second, now);
  // Not destroyed here: this may run inside the connection's own callback.
  ended_.push_back(std::move(it->second));
  forwards_.erase(it);
  reaper_->arm(now);
}

// "#N ended (REASON) from=IP:PORT sent=N received=N duration=S.mmms[: why]": bytes from
// the TCP client to the server and back.
void ListenSession::log_end(const Forward& f, Timestamp now) {
  const ClientEngine& engine = f.connection->engine();
  const bool failed = engine.phase() == ClientEngine::Phase::failed;
  const TcpBridgeStats* stats = f.attachment ? f.attachment->forward_stats() : nullptr;
  const int64_t ms = (now - f.started).ns / 1000000;
  char duration[32];
  std::snprintf(duration, sizeof duration, "%lld.%03llds", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  std::string line = "#" + std::to_string(f.serial);
  line.append(" ended (").append(failed ? end_reason_name(engine.reason()) : "finished").append(")");
  line.append(" from=").append(f.from.to_string());
  line.append(" sent=").append(std::to_string(stats ? stats->bytes_from_tcp : 0));
  line.append(" received=").append(std::to_string(stats ? stats->bytes_to_tcp : 0));
  line.append(" duration=").append(duration);
  if (!failed) {
    log_info(line);
    return;
  }
  const std::string tcp_error = f.attachment ? f.attachment->failure_message() : std::string();
  line.append(": ").append(!tcp_error.empty()                      ? tcp_error
                           : engine.reason() == EndReason::aborted ? std::string("interrupted")
                                                                   : engine.failure());
  log_error(line);
}

void ListenSession::on_signal(int signum, Timestamp now) {
  if (signal_ != 0) {
    log_error(std::string(strsignal(signum)) + " again: resetting " + std::to_string(forwards_.size()) +
              " connection(s)");
    loop_->stop();
    return;
  }
  signal_ = signum;
  log_info(std::string(strsignal(signum)) + ": closing the listener, failing " + std::to_string(forwards_.size()) +
           " connection(s)");
  close_listener();
  std::vector<uint64_t> serials;
  for (const auto& [serial, f] : forwards_) serials.push_back(serial);
  for (uint64_t serial : serials) {
    auto it = forwards_.find(serial);
    if (it == forwards_.end()) continue;
    Forward& f = *it->second;
    f.attachment->stop(kProgramStopGrace);
    f.connection->engine().abort(now);
    f.connection->service(now);
    step(serial, now);
  }
  check_finished();
}

void ListenSession::check_finished() {
  if (signal_ != 0 && forwards_.empty() && ended_.empty()) loop_->stop();
}

std::vector<ConnectionInfo> ListenSession::control_connections(Timestamp now) const {
  std::vector<ConnectionInfo> out;
  for (const auto& [serial, f] : forwards_) {
    ConnectionInfo info;
    info.id = serial;
    info.peer_key = encode_hex(options_.engine.crypto.server_long_term.bytes);
    info.address = f->connection->engine().server().to_string();
    info.age_s = static_cast<double>((now - f->started).ns) / 1e9;
    fill_stream_figures(info, f->connection->engine().connection().stream());
    out.push_back(std::move(info));
  }
  return out;
}

Status ListenSession::control_set_priority(uint64_t id, const Priority& p, Timestamp now) {
  auto it = forwards_.find(id);
  if (it == forwards_.end()) return make_error("no connection " + std::to_string(id));
  if (Status s = it->second->connection->engine().connection().set_priority(p, now); !s) {
    return make_error("connection " + std::to_string(id) + ": " + s.error().message);
  }
  it->second->connection->service(now);
  return {};
}

}  // namespace

int run_listen_session(ListenOptions options, Rng& rng) {
  ListenSession session(std::move(options), rng);
  return session.run();
}

}  // namespace curvecp
