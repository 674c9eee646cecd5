#include "daemon/server.h"

#include <cstdio>
#include <variant>

#include "core/bytes.h"
#include "crypto/packets.h"
#include "daemon/child_process.h"
#include "daemon/pump.h"
#include "daemon/unique_fd.h"
#include "scheduler/congestion.h"

namespace curvecp {

namespace {

// Flush the socket queue once this many packets are waiting, so GSO runs stay long but
// the first packets do not wait for the whole burst.
constexpr size_t kFlushThreshold = 256;
// A cookie opens under the current or the previous minute key: at most 2 rotations old
// (spec 3.3). Initiates for a C' that ended within this window are replays.
constexpr Duration kCookieLifetime = kMinuteKeyRotation * 2;
// Smallest wait before servicing a connection whose deadline has already passed.
constexpr Duration kMinRetry = Duration::microseconds(20);

}  // namespace

const char* server_event_name(ServerEvent e) {
  switch (e) {
    case ServerEvent::hello_answered: return "hello_answered";
    case ServerEvent::connection_accepted: return "accepted";
    case ServerEvent::connection_finished: return "finished";
    case ServerEvent::connection_idle: return "idle_timeout";
    case ServerEvent::connection_close_timeout: return "close_timeout";
    case ServerEvent::connection_nonce_end: return "nonce_end";
    case ServerEvent::spawn_failed: return "spawn_failed";
    case ServerEvent::refused_draining: return "refused_draining";
    case ServerEvent::roamed: return "roamed";
    case ServerEvent::send_queue_full: return "send_queue_full";
    case ServerEvent::count_: break;
  }
  return "?";
}

// One connection. The pump refers to the stream, so ~Connection destroys it first.
struct Server::Connection {
  uint32_t id = 0;
  ServerSession session;
  Address peer;
  std::unique_ptr<Stream> stream;
  std::unique_ptr<ChildProcess> child;
  std::unique_ptr<Pump> pump;  // destroyed first: refers to *stream
  bool program_exited = false;
  bool dirty = false;
  bool blocked = false;  // waiting for socket send space
  bool ended = false;
  Timestamp finished_at = Timestamp::never();  // program gone and stream done: lingering

  ~Connection() {
    pump.reset();
    child.reset();
  }
};

Server::Server(EventLoop& loop, ServerConfig config, Rng& rng)
    : loop_(loop), config_(std::move(config)), rng_(rng), deadlines_(config_.max_connections) {}

Server::~Server() {
  // Children still running are sent SIGTERM by ~ChildProcess and reaped by the loop.
  for (auto& c : slots_) c.reset();
  ended_.clear();
}

Result<std::unique_ptr<Server>> Server::create(EventLoop& loop, ServerConfig config, SecretKey long_term,
                                               NonceSource& nonces, Rng& rng) {
  if (config.program.empty()) return make_error("no program to run");
  if (config.max_connections == 0) return make_error("max-connections must be at least 1");
  Timestamp now = loop.update_now();
  if (!make_controller(config.scheduler, rng, now)) return make_error("unknown scheduler: " + config.scheduler);

  std::unique_ptr<Server> s(new Server(loop, std::move(config), rng));
  Server* self = s.get();
  s->crypto_ = std::make_unique<ServerCrypto>(std::move(long_term), s->config_.name, s->config_.extension, nonces,
                                              rng, now);
  auto socket = UdpSocket::open(loop, s->config_.bind,
                                [self](std::span<const Datagram> batch, Timestamp t) { self->on_datagrams(batch, t); });
  if (!socket) return socket.error();
  s->socket_ = std::move(socket.value());
  s->socket_->set_writable_handler([self](Timestamp t) { self->on_socket_writable(t); });
  auto timer = Timer::create(loop, [self](Timestamp t) { self->on_timer(t); });
  if (!timer) return timer.error();
  s->timer_ = std::move(timer.value());

  const uint32_t n = s->config_.max_connections;
  s->slots_.resize(n);
  s->free_ids_.reserve(n);
  for (uint32_t i = n; i > 0; --i) s->free_ids_.push_back(i - 1);
  s->by_key_.reserve(n);
  s->dirty_.reserve(n);
  s->blocked_.reserve(n);
  s->due_.reserve(n);
  s->ended_.reserve(n);
  s->message_.resize(kMaxMessageBytes);
  s->rearm_timer(now);
  return s;
}

// --- callbacks (each ends with finish_callback) ---

void Server::on_datagrams(std::span<const Datagram> batch, Timestamp now) {
  for (const Datagram& d : batch) handle_datagram(d, now);
  // Service every touched connection once per batch: acknowledgements and data for many
  // received packets go out together.
  for (size_t i = 0; i < dirty_.size(); ++i) {
    Connection* c = slots_[dirty_[i]].get();
    if (c == nullptr || !c->dirty) continue;
    c->dirty = false;
    service(*c, now);
  }
  dirty_.clear();
  finish_callback(now);
}

void Server::on_timer(Timestamp now) {
  reap_ended();
  crypto_->on_timer(now);
  forget_old_ended(now);
  // Collect first, then service: service() may move deadlines around in the heap.
  due_.clear();
  while (!deadlines_.empty() && deadlines_.top_deadline() <= now) {
    uint32_t id = deadlines_.top_id();
    deadlines_.remove(id);
    due_.push_back(id);
  }
  for (uint32_t id : due_) {
    if (Connection* c = slots_[id].get()) service(*c, now);
  }
  finish_callback(now);
}

void Server::on_socket_writable(Timestamp now) {
  std::vector<uint32_t> waiting;
  waiting.swap(blocked_);
  for (uint32_t id : waiting) {
    Connection* c = slots_[id].get();
    if (c == nullptr || !c->blocked) continue;
    c->blocked = false;
    service(*c, now);
  }
  waiting.clear();
  if (blocked_.empty()) blocked_.swap(waiting);  // keep the reserved capacity
  finish_callback(now);
}

void Server::on_pump_activity(uint32_t id, Timestamp now) {
  // Called from inside the pump's own watcher: service, but leave destruction to
  // reap_ended() on a later callback (the timer is armed at once when needed).
  if (Connection* c = slots_[id].get()) service(*c, now);
  socket_->flush();
  rearm_timer(now);
}

void Server::on_program_exit(uint32_t id, const ExitStatus& status, Timestamp now) {
  Connection* c = slots_[id].get();
  if (c == nullptr) return;
  c->program_exited = true;
  if (config_.verbose) {
    std::fprintf(stderr, "curvecp serve: %s program exited (%s %lld)\n", c->peer.to_string().c_str(),
                 status.signal ? "signal" : "status", static_cast<long long>(status.signal ? status.signal : status.code));
  }
  c->pump->on_program_exit(status, now);  // may call on_pump_activity
  service(*c, now);
  socket_->flush();
  rearm_timer(now);
}

void Server::finish_callback(Timestamp now) {
  socket_->flush();
  reap_ended();
  rearm_timer(now);
}

// --- packets ---

void Server::handle_datagram(const Datagram& d, Timestamp now) {
  auto parsed = parse_client_packet(d.data, crypto_->extension());
  if (auto* why = std::get_if<DropReason>(&parsed)) {
    drops_.add(*why);
    return;
  }
  const ClientPacketView& view = std::get<ClientPacketView>(parsed);
  if (view.type == ClientPacketType::hello) {
    answer_hello(view, d.from);
    return;
  }
  auto it = by_key_.find(view.client_short_term);
  if (it == by_key_.end()) {
    if (view.type == ClientPacketType::initiate) {
      accept_connection(view, d.from, now);
    } else {
      drops_.add(DropReason::unknown_connection);
    }
    return;
  }
  // A packet for an existing connection (a later Initiate is plain data, spec 3.5 A).
  Connection& c = *slots_[it->second];
  auto opened = c.session.open(view, message_);
  if (auto* why = std::get_if<DropReason>(&opened)) {
    drops_.add(*why);
    return;
  }
  // Authenticated and newer than anything before (the nonce check precedes the box,
  // spec 3.8): only now may the client's address change (unlike the reference, 3.10).
  if (d.from != c.peer) {
    c.peer = d.from;
    events_.add(ServerEvent::roamed);
  }
  c.stream->on_message(now, Bytes(message_.data(), std::get<size_t>(opened)));
  mark_dirty(c);
}

void Server::answer_hello(const ClientPacketView& view, const Address& from) {
  if (draining_) {
    events_.add(ServerEvent::refused_draining);
    return;
  }
  MutableBytes out = socket_->prepare_send();
  if (out.empty()) {
    socket_->flush();
    out = socket_->prepare_send();
  }
  if (out.empty()) {
    events_.add(ServerEvent::send_queue_full);
    return;
  }
  auto answered = crypto_->answer_hello(view, out);
  if (auto* why = std::get_if<DropReason>(&answered)) {
    drops_.add(*why);
    if (crypto_->nonce_failed() && !nonce_disaster_) {
      nonce_disaster_ = true;
      std::fprintf(stderr, "curvecp: fatal: nonce-generation disaster (key directory not writable?)\n");
      begin_drain();
    }
    return;
  }
  socket_->commit_send(from, std::get<size_t>(answered));
  events_.add(ServerEvent::hello_answered);
}

void Server::accept_connection(const ClientPacketView& view, const Address& from, Timestamp now) {
  if (draining_) {
    events_.add(ServerEvent::refused_draining);
    return;
  }
  if (free_ids_.empty()) {
    drops_.add(DropReason::table_full);  // spec 3.5 B.1: silently, existing ones continue
    return;
  }
  if (recently_ended_keys_.count(view.client_short_term) != 0) {
    // Either a replay of a captured Initiate or a client whose connection we ended:
    // neither may start the program again. (The entry ages out with the cookie.)
    drops_.add(DropReason::replayed_nonce);
    return;
  }
  auto accepted = crypto_->accept_initiate(view, message_);
  if (auto* why = std::get_if<DropReason>(&accepted)) {
    drops_.add(*why);
    return;
  }
  AcceptedInitiate& a = std::get<AcceptedInitiate>(accepted);
  uint32_t id = free_ids_.back();
  auto conn = start_connection(id, std::move(a.session), from, now);
  if (!conn) {
    events_.add(ServerEvent::spawn_failed);
    if (config_.verbose) std::fprintf(stderr, "curvecp serve: %s\n", conn.error().message.c_str());
    return;
  }
  free_ids_.pop_back();
  Connection& c = *conn.value();
  slots_[id] = std::move(conn.value());
  by_key_.emplace(c.session.client_short_term(), id);
  events_.add(ServerEvent::connection_accepted);
  if (config_.verbose) {
    std::fprintf(stderr, "curvecp serve: connection from %s key %s\n", from.to_string().c_str(),
                 encode_hex(c.session.client_long_term().view()).c_str());
  }
  c.stream->on_message(now, Bytes(message_.data(), a.message_bytes));
  mark_dirty(c);
}

Result<std::unique_ptr<Server::Connection>> Server::start_connection(uint32_t id, ServerSession session,
                                                                     const Address& from, Timestamp now) {
  auto c = std::make_unique<Connection>();
  c->id = id;
  c->session = std::move(session);
  c->peer = from;

  StreamConfig sc;
  sc.role = StreamRole::server;
  sc.controller = config_.scheduler;
  auto stream = Stream::create(sc, rng_, now);
  if (!stream) return stream.error();
  c->stream = std::move(stream.value());

  // Program fd 0 reads what the client sends, fd 1 writes to the client, fd 2 is ours
  // (CURVECP.md 5.3 server mode). Our ends are non-blocking, the program's blocking.
  auto input = make_pipe(false, true);
  if (!input) return input.error();
  auto output = make_pipe(true, false);
  if (!output) return output.error();
  const Address& local = socket_->local_address();
  SpawnOptions opts;
  opts.argv = config_.program;
  opts.env = environment_with({
      "PROTO=CURVECP",
      "CURVECPREMOTEPK=" + encode_hex(c->session.client_long_term().view()),
      "CURVECPREMOTEEXT=" + encode_hex(c->session.client_extension()),
      "CURVECPREMOTEIP=" + from.ip_string(),
      "CURVECPREMOTEPORT=" + std::to_string(from.port),
      "CURVECPLOCALIP=" + local.ip_string(),
      "CURVECPLOCALPORT=" + std::to_string(local.port),
  });
  opts.fds = {{0, input->read_end.get()}, {1, output->write_end.get()}};
  auto child = ChildProcess::spawn(loop_, opts,
                                   [this, id](ExitStatus status, Timestamp t) { on_program_exit(id, status, t); });
  if (!child) return child.error();
  c->child = std::move(child.value());
  input->read_end.reset();
  output->write_end.reset();

  ChildProcess* process = c->child.get();
  auto pump = Pump::create(
      loop_, *c->stream, std::move(input->write_end), std::move(output->read_end),
      [this, id](Timestamp t) { on_pump_activity(id, t); }, [process] { return process->peek_exit(); });
  if (!pump) return pump.error();  // ~Connection terminates the child
  c->pump = std::move(pump.value());
  return c;
}

// --- per-connection work ---

void Server::mark_dirty(Connection& c) {
  if (c.dirty || c.ended) return;
  c.dirty = true;
  dirty_.push_back(c.id);
}

void Server::service(Connection& c, Timestamp now) {
  if (c.ended) return;
  c.pump->on_stream_progress(now);
  if (!c.blocked && !transmit(c, now)) {
    end_connection(c, ServerEvent::connection_nonce_end);
    return;
  }
  // Program output that arrived during transmit (send space freed by acks) is picked up
  // by the pump's own watcher; deliver anything newly readable now.
  c.pump->on_stream_progress(now);

  if (now - c.stream->last_receive_time() >= config_.idle_timeout) {
    end_connection(c, ServerEvent::connection_idle);
    return;
  }
  if (c.program_exited && c.pump->finished() && c.stream->done()) {
    if (c.finished_at == Timestamp::never()) c.finished_at = now;
    if (now >= c.finished_at + config_.linger) {
      end_connection(c, ServerEvent::connection_finished);
      return;
    }
  }
  // The program is gone and the peer has said all it will say: a peer that stays silent
  // for close_timeout (instead of idle_timeout) while we wait for its acknowledgements has
  // left without them (spec 9 item 12).
  const bool closing = c.program_exited && c.pump->finished() && c.stream->read_finished();
  if (closing && now - c.stream->last_receive_time() >= config_.close_timeout) {
    end_connection(c, ServerEvent::connection_close_timeout);
    return;
  }
  Timestamp deadline = earliest(c.stream->next_timeout(), c.stream->last_receive_time() + config_.idle_timeout);
  if (c.finished_at != Timestamp::never()) deadline = earliest(deadline, c.finished_at + config_.linger);
  if (closing) deadline = earliest(deadline, c.stream->last_receive_time() + config_.close_timeout);
  // A connection waiting for socket space resumes from on_socket_writable(); until then
  // only its idle timeout matters.
  if (c.blocked) deadline = c.stream->last_receive_time() + config_.idle_timeout;
  // poll_transmit has just returned 0 at `now`, so a deadline that has already passed can
  // only repeat that answer: wait a little rather than spin the loop.
  if (deadline <= now) deadline = now + kMinRetry;
  deadlines_.set(c.id, deadline);
}

bool Server::transmit(Connection& c, Timestamp now) {
  for (;;) {
    if (socket_->send_queue_free() == 0) {
      socket_->flush();
      if (socket_->send_queue_free() == 0) {
        // The kernel's buffer is full: resume from on_socket_writable().
        c.blocked = true;
        blocked_.push_back(c.id);
        return true;
      }
    }
    size_t n = c.stream->poll_transmit(now, message_, kMaxMessageBytes);
    if (n == 0) return true;
    MutableBytes out = socket_->prepare_send();
    size_t packet = c.session.seal(Bytes(message_.data(), n), out);
    if (packet == 0) return false;
    socket_->commit_send(c.peer, packet);
    if (socket_->send_queue_size() >= kFlushThreshold) socket_->flush();
  }
}

void Server::end_connection(Connection& c, ServerEvent why) {
  if (c.ended) return;
  c.ended = true;
  events_.add(why);
  if (config_.verbose) {
    StreamStats st = c.stream->stats();
    std::fprintf(stderr, "curvecp serve: %s ended (%s) sent=%llu received=%llu retransmissions=%llu\n",
                 c.peer.to_string().c_str(), server_event_name(why), static_cast<unsigned long long>(st.bytes_sent),
                 static_cast<unsigned long long>(st.bytes_received),
                 static_cast<unsigned long long>(st.retransmissions));
  }
  by_key_.erase(c.session.client_short_term());
  remember_ended(c.session.client_short_term(), loop_.now());
  deadlines_.remove(c.id);
  uint32_t id = c.id;
  // Destroyed later (reap_ended): we may be inside this connection's pump callback.
  ended_.push_back(std::move(slots_[id]));
  free_ids_.push_back(id);
}

void Server::forget_old_ended(Timestamp now) {
  while (!recently_ended_.empty() && now - recently_ended_.front().at >= kCookieLifetime) {
    recently_ended_keys_.erase(recently_ended_.front().key);
    recently_ended_.pop_front();
  }
}

void Server::remember_ended(const PublicKey& key, Timestamp now) {
  forget_old_ended(now);
  if (recently_ended_keys_.insert(key).second) recently_ended_.push_back(Ended{key, now});
}

void Server::reap_ended() {
  if (ended_.empty()) return;
  ended_.clear();  // closes pipes (program sees EOF/EPIPE), SIGTERMs a program still running
  check_drained();
}

void Server::rearm_timer(Timestamp now) {
  Timestamp deadline = earliest(deadlines_.top_deadline(), crypto_->next_rotation());
  if (!ended_.empty()) deadline = now;  // reap on the next loop iteration
  timer_->arm(deadline);
}

// --- shutdown and reporting ---

void Server::begin_drain(std::function<void()> on_drained) {
  draining_ = true;
  if (on_drained) on_drained_ = std::move(on_drained);
  check_drained();
}

void Server::check_drained() {
  if (draining_ && by_key_.empty() && ended_.empty() && on_drained_) {
    auto done = std::move(on_drained_);
    on_drained_ = nullptr;
    done();
  }
}

std::string Server::connection_lines(Timestamp now, size_t limit) const {
  std::string out;
  for (const auto& slot : slots_) {
    if (!slot || limit == 0) continue;
    --limit;
    const Connection& c = *slot;
    StreamStats st = c.stream->stats();
    Timestamp next = c.stream->next_timeout();
    out += "curvecp serve: " + c.peer.to_string() + " program=" + (c.program_exited ? "exited" : "running") +
           " input=" + (c.pump->input_finished() ? "closed" : "open") +
           " output=" + (c.pump->output_finished() ? "closed" : "open") +
           " write_finished=" + (c.stream->write_finished() ? "1" : "0") +
           " read_finished=" + (c.stream->read_finished() ? "1" : "0") +
           " sent=" + std::to_string(st.bytes_sent) + " received=" + std::to_string(st.bytes_received) +
           " in_flight=" + std::to_string(st.bytes_in_flight) +
           " next_timeout_ms=" + (next == Timestamp::never() ? std::string("never") : std::to_string((next - now).ns / 1000000)) +
           " idle_ms=" + std::to_string((now - c.stream->last_receive_time()).ns / 1000000) + "\n";
  }
  return out;
}

std::string Server::counters_line() const {
  std::string line = "curvecp serve: connections=" + std::to_string(by_key_.size());
  for (size_t i = 0; i < Counters<ServerEvent>::size; ++i) {
    auto e = static_cast<ServerEvent>(i);
    // append() rather than `" " + std::string(...) + "="`: gcc 12 at -O3 reports a false
    // -Werror=restrict inside std::string for that operator+ chain (GCC bug 105329).
    line.append(" ").append(server_event_name(e)).append("=").append(std::to_string(events_.get(e)));
  }
  line += " drops=" + std::to_string(drops_.total());
  for (size_t i = 0; i < DropCounters::size; ++i) {
    auto r = static_cast<DropReason>(i);
    if (drops_.get(r) == 0) continue;
    line.append(" ").append(drop_reason_name(r)).append("=").append(std::to_string(drops_.get(r)));
  }
  const UdpSocketStats& u = socket_->stats();
  line += " datagrams_in=" + std::to_string(u.datagrams_received) + " datagrams_out=" +
          std::to_string(u.datagrams_sent) + " gso_sends=" + std::to_string(u.gso_sends);
  return line;
}

}  // namespace curvecp
