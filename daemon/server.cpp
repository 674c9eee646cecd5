#include "daemon/server.h"

#include <cstdio>

#include "core/bytes.h"

namespace curvecp {

namespace {

// Flush the socket queue once this many packets are waiting, so GSO runs stay long but
// the first packets do not wait for the whole burst.
constexpr size_t kFlushThreshold = 256;
// Rounds of (program I/O, transmit, events) per callback: each round can only be caused
// by the previous one's events, so this bounds the work without cutting any short (the
// timer is armed at once if something is still due).
constexpr int kMaxRounds = 4;

}  // namespace

Server::~Server() {
  // Programs still running are stopped (process group SIGTERM, then SIGKILL) by
  // ~Attachment; the loop reaps them.
  programs_.clear();
}

Result<std::unique_ptr<Server>> Server::create(EventLoop& loop, ServerConfig config, SecretKey long_term,
                                               NonceSource& nonces, Rng& rng) {
  if (config.program.empty()) return make_error("no program to run");
  const Timestamp now = loop.update_now();
  auto endpoint = ServerEndpoint::create(config.endpoint, std::move(long_term), nonces, rng, now);
  if (!endpoint) return endpoint.error();

  std::unique_ptr<Server> s(new Server(loop, std::move(config)));
  Server* self = s.get();
  s->endpoint_ = std::move(*endpoint);
  auto socket = UdpSocket::open(loop, s->config_.bind,
                                [self](std::span<const Datagram> batch, Timestamp t) { self->on_datagrams(batch, t); });
  if (!socket) return socket.error();
  s->socket_ = std::move(*socket);
  s->socket_->set_writable_handler([self](Timestamp t) { self->on_socket_writable(t); });
  auto timer = Timer::create(loop, [self](Timestamp t) { self->on_timer(t); });
  if (!timer) return timer.error();
  s->timer_ = std::move(*timer);

  const uint32_t n = s->endpoint_->capacity();
  s->programs_.resize(n);
  s->woken_.reserve(n);
  s->woken_flag_.assign(n, 0);
  s->process(now);
  return s;
}

// --- libuv callbacks: each feeds the endpoint and ends with process() ---

void Server::on_datagrams(std::span<const Datagram> batch, Timestamp now) {
  // Established connections first, then Hellos and new Initiates within the endpoint's
  // per-batch handshake budget (curvecp-serve(1), --handshakes-per-wakeup).
  endpoint_->begin_batch(now);
  for (const bool handshakes : {false, true}) {
    for (const Datagram& d : batch) {
      if (endpoint_->is_handshake(d.data) != handshakes) continue;
      endpoint_->handle_datagram(now, d.from, d.data);
      // Drained after every datagram: a closed id may be reused by the next Initiate.
      handle_events(now);
    }
  }
  endpoint_->end_batch();
  if (endpoint_->nonce_disaster() && !disaster_reported_) {
    disaster_reported_ = true;
    std::fprintf(stderr, "curvecp: fatal: nonce-generation disaster (key directory not writable?)\n");
  }
  process(now);
}

void Server::on_timer(Timestamp now) { process(now); }

void Server::on_socket_writable(Timestamp now) {
  blocked_ = false;
  process(now);
}

void Server::on_wake(uint32_t id, Timestamp now) {
  mark_woken(id);
  if (!processing_) process(now);
}

void Server::mark_woken(uint32_t id) {
  if (id >= woken_flag_.size() || woken_flag_[id]) return;
  woken_flag_[id] = 1;
  woken_.push_back(id);
}

void Server::process(Timestamp now) {
  processing_ = true;
  // Handshakes the last wake-ups deferred (the endpoint's budget), one at a time.
  while (endpoint_->run_deferred_handshake(now)) handle_events(now);
  for (int round = 0; round < kMaxRounds; ++round) {
    // Program I/O first: bytes from programs leave in this callback's datagrams.
    for (size_t i = 0; i < woken_.size(); ++i) {
      const uint32_t id = woken_[i];
      woken_flag_[id] = 0;
      transfer(id, now);
    }
    woken_.clear();
    transmit(now);
    if (!handle_events(now) && woken_.empty()) break;
  }
  processing_ = false;
  socket_->flush();
  Timestamp deadline = endpoint_->next_timeout();
  if (deadline <= now) {
    // Work is due at once. With a full send queue only on_socket_writable can do it:
    // arming the timer then would spin the loop.
    deadline = blocked_ ? Timestamp::never() : now;
  }
  if (!woken_.empty()) deadline = now;
  timer_->arm(deadline);
  check_drained();
}

void Server::transmit(Timestamp now) {
  Address to;
  while (!blocked_) {
    if (socket_->send_queue_free() == 0) {
      socket_->flush();
      if (socket_->send_queue_free() == 0) {
        blocked_ = true;  // the kernel's buffer is full: on_socket_writable resumes
        return;
      }
    }
    MutableBytes out = socket_->prepare_send();
    const size_t n = endpoint_->poll_transmit(now, out, to);
    if (n == 0) return;
    socket_->commit_send(to, n);
    if (socket_->send_queue_size() >= kFlushThreshold) socket_->flush();
  }
}

// Returns true if any event was handled (which may have created work).
bool Server::handle_events(Timestamp now) {
  bool any = false;
  while (auto e = endpoint_->poll_event()) {
    any = true;
    const uint32_t id = e->id;
    switch (e->kind) {
      case EndpointEvent::Kind::opened:
        open_program(id, now);
        break;
      case EndpointEvent::Kind::progress:
        mark_woken(id);
        break;
      case EndpointEvent::Kind::failed:
        if (config_.verbose) {
          std::fprintf(stderr, "curvecp serve: %s failed (%s): stopping its program\n", e->peer.to_string().c_str(),
                       end_reason_name(e->reason));
        }
        // Stop the program's group before its pipes close (ARCHITECTURE.md, failure
        // semantics): it must not read the failure as end of input.
        if (programs_[id]) programs_[id]->stop(config_.stop_grace);
        programs_[id].reset();
        break;
      case EndpointEvent::Kind::closed:
        if (config_.verbose) {
          std::fprintf(stderr, "curvecp serve: %s ended (%s) sent=%llu received=%llu retransmissions=%llu\n",
                       e->peer.to_string().c_str(), end_reason_name(e->reason),
                       static_cast<unsigned long long>(e->stats.bytes_sent),
                       static_cast<unsigned long long>(e->stats.bytes_received),
                       static_cast<unsigned long long>(e->stats.retransmissions));
        }
        programs_[id].reset();
        break;
    }
  }
  return any;
}

void Server::open_program(uint32_t id, Timestamp now) {
  if (endpoint_->connection(id) == nullptr) return;
  const ServerSession& session = endpoint_->session(id);
  const Address& from = endpoint_->peer(id);
  const Address& local = socket_->local_address();
  ProgramSpec spec;
  spec.argv = config_.program;
  spec.read_fd = 0;
  spec.write_fd = 1;
  spec.env_overrides = {
      "PROTO=CURVECP",
      "CURVECPREMOTEPK=" + encode_hex(session.client_long_term().view()),
      "CURVECPREMOTEEXT=" + encode_hex(session.client_extension()),
      "CURVECPREMOTEIP=" + from.ip_string(),
      "CURVECPREMOTEPORT=" + std::to_string(from.port),
      "CURVECPLOCALIP=" + local.ip_string(),
      "CURVECPLOCALPORT=" + std::to_string(local.port),
  };
  if (config_.verbose) {
    std::fprintf(stderr, "curvecp serve: connection from %s key %s\n", from.to_string().c_str(),
                 encode_hex(session.client_long_term().view()).c_str());
  }
  auto program = Attachment::spawn(loop_, spec, [this, id](Timestamp t) { on_wake(id, t); });
  if (!program) {
    // The client learns at once (FAIL), instead of waiting for a program that never came.
    ++spawn_failures_;
    std::fprintf(stderr, "curvecp serve: %s: %s\n", from.to_string().c_str(), program.error().message.c_str());
    endpoint_->abort(id, now);
    return;
  }
  programs_[id] = std::move(*program);
  mark_woken(id);  // the Initiate's data may already be waiting
}

void Server::transfer(uint32_t id, Timestamp now) {
  Connection* c = endpoint_->connection(id);
  Attachment* program = programs_[id].get();
  if (c == nullptr || program == nullptr) return;
  const bool was_done = c->application_done();
  if (!program->transfer(*c, now)) return;
  if (config_.verbose && !was_done && c->application_done() && program->exit_status()) {
    const ExitStatus& st = *program->exit_status();
    std::fprintf(stderr, "curvecp serve: %s program exited (%s %lld)\n", endpoint_->peer(id).to_string().c_str(),
                 st.signal ? "signal" : "status", static_cast<long long>(st.signal ? st.signal : st.code));
  }
  endpoint_->wake(id);
}

// --- shutdown and reporting ---

void Server::begin_drain() {
  endpoint_->begin_drain();
  check_drained();
}

void Server::abort_all() {
  const Timestamp now = loop_.update_now();
  endpoint_->begin_drain();
  endpoint_->abort_all(now);
  process(now);
}

void Server::check_drained() {
  if (endpoint_->draining() && endpoint_->connection_count() == 0 && on_drained_) {
    auto done = std::move(on_drained_);
    on_drained_ = nullptr;
    done();
  }
}

std::string Server::connection_lines(Timestamp now, size_t limit) const {
  // append() throughout: see ServerEndpoint::counters_text (gcc 12 -O3 false -Wrestrict).
  auto field = [](std::string& out, const char* name, const std::string& value) {
    out.append(" ").append(name).append("=").append(value);
  };
  std::string out;
  for (uint32_t id = 0; id < endpoint_->capacity() && limit > 0; ++id) {
    const Connection* c = endpoint_->connection(id);
    if (c == nullptr) continue;
    --limit;
    const Stream& s = c->stream();
    const Attachment* program = programs_[id].get();
    const StreamStats st = s.stats();
    const Timestamp next = c->next_timeout();
    out.append("curvecp serve: ").append(endpoint_->peer(id).to_string());
    field(out, "program", program == nullptr ? "none" : program->exit_status() ? "exited" : "running");
    field(out, "write_finished", s.write_finished() ? "1" : "0");
    field(out, "read_finished", s.read_finished() ? "1" : "0");
    field(out, "failed", c->failed() ? end_reason_name(c->reason()) : "no");
    field(out, "sent", std::to_string(st.bytes_sent));
    field(out, "received", std::to_string(st.bytes_received));
    field(out, "in_flight", std::to_string(st.bytes_in_flight));
    field(out, "peer_is_curvecp", st.peer_is_curvecp ? "1" : "0");
    field(out, "peer_window", std::to_string(st.peer_window_bytes));
    field(out, "keepalives", std::to_string(c->keepalives_sent()));
    field(out, "next_timeout_ms", next == Timestamp::never() ? "never" : std::to_string((next - now).ns / 1000000));
    field(out, "idle_ms", std::to_string((now - c->last_heard()).ns / 1000000));
    out.append("\n");
  }
  return out;
}

std::string Server::counters_line() const {
  const UdpSocketStats& u = socket_->stats();
  std::string line = "curvecp serve: ";
  line.append(endpoint_->counters_text());
  line.append(" spawn_failed=").append(std::to_string(spawn_failures_));
  line.append(" datagrams_in=").append(std::to_string(u.datagrams_received));
  line.append(" datagrams_out=").append(std::to_string(u.datagrams_sent));
  line.append(" gso_sends=").append(std::to_string(u.gso_sends));
  return line;
}

}  // namespace curvecp
