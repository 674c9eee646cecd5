#include "daemon/server.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include <uv.h>

#include "core/bytes.h"
#include "daemon/log.h"
#include "scheduler/priority.h"
#include "daemon/control_server.h"

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
  if (config.program.empty() && !config.forward) return make_error("no program to run");
  const Timestamp now = loop.update_now();
  std::unique_ptr<Server> s(new Server(loop, std::move(config)));
  Server* self = s.get();
  s->config_.endpoint.admit = [self](const PublicKey& key, const Address& from) { return self->admit(key, from); };
  auto endpoint = ServerEndpoint::create(s->config_.endpoint, std::move(long_term), nonces, rng, now);
  if (!endpoint) return endpoint.error();
  s->endpoint_ = std::move(*endpoint);
  auto socket = UdpSocket::open(loop, s->config_.bind,
                                [self](std::span<const Datagram> batch, Timestamp t) { self->on_datagrams(batch, t); });
  if (!socket) return socket.error();
  s->socket_ = std::move(*socket);
  s->socket_->set_writable_handler([self](Timestamp t) { self->on_socket_writable(t); });
  s->socket_->set_receive_done_handler([self](Timestamp t) { self->on_datagrams_done(t); });
  auto timer = Timer::create(loop, [self](Timestamp t) { self->on_timer(t); });
  if (!timer) return timer.error();
  s->timer_ = std::move(*timer);

  const uint32_t n = s->endpoint_->capacity();
  s->programs_.resize(n);
  s->log_info_.resize(n);
  s->woken_.reserve(n);
  s->woken_flag_.assign(n, 0);
  s->public_ids_.assign(n, 0);
  s->opened_at_.assign(n, now);
  s->process(now);
  return s;
}

// The loop thread's CPU time. Handshakes are charged this rather than the wall clock: on
// a loaded host a handshake's wall time includes the time other processes had the CPU,
// and the budget then shut out far more handshakes than it should (clients resent their
// Hellos; docs/MEMORY.md).
static uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// --- libuv callbacks: each feeds the endpoint and ends with process() ---

void Server::on_datagrams(std::span<const Datagram> batch, Timestamp now) {
  // Established connections first, then Hellos and new Initiates within the endpoint's
  // per-batch handshake budget (curvecp-serve(1), --handshakes-per-wakeup).
  // The timer is armed once after the wake-up's last batch (on_datagrams_done), not after
  // each: under a flood a timerfd_settime per batch was a sixth of the daemon's time.
  in_receive_ = true;
  endpoint_->begin_batch(now);
  for (const bool handshakes : {false, true}) {
    for (const Datagram& d : batch) {
      if (endpoint_->is_handshake(d.data) != handshakes) continue;
      // The kernel's receive time, so that RTT samples leave out how long this process was
      // not scheduled; never earlier than the last time the endpoint was given.
      const Timestamp at = std::clamp(d.arrived, clock_floor_, now);
      clock_floor_ = at;
      // The CPU clock is a system call: read only around a handshake the endpoint may
      // handle now. One it will defer (others wait already, or the budget is spent) costs
      // the budget nothing, and a flood is made of those.
      const bool may_charge = handshakes && endpoint_->handshake_may_run(at);
      const uint64_t started_ns = may_charge ? thread_cpu_ns() : 0;
      endpoint_->handle_datagram(at, d.from, d.data);
      // Drained after every datagram: a closed id may be reused by the next Initiate.
      handle_events(at);
      // Handshakes are charged what they took (the endpoint's time budget).
      if (may_charge && endpoint_->handshake_to_charge()) {
        endpoint_->charge_handshake(Duration::nanoseconds(static_cast<int64_t>(thread_cpu_ns() - started_ns)));
      }
    }
  }
  endpoint_->end_batch();
  if (endpoint_->nonce_disaster() && !disaster_reported_) {
    disaster_reported_ = true;
    log_error("nonce-generation disaster (key directory not writable?): draining");
  }
  process(now);
}

// The wake-up's last batch is handled: the timer was left alone for each of them.
void Server::on_datagrams_done(Timestamp now) {
  in_receive_ = false;
  arm_timer(now);
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
  clock_floor_ = std::max(clock_floor_, now);
  processing_ = true;
  // Handshakes the last wake-ups deferred (the endpoint's budget), one at a time.
  for (uint64_t started_ns = thread_cpu_ns(); endpoint_->run_deferred_handshake(now); started_ns = thread_cpu_ns()) {
    handle_events(now);
    endpoint_->charge_handshake(Duration::nanoseconds(static_cast<int64_t>(thread_cpu_ns() - started_ns)));
  }
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
  if (!in_receive_) arm_timer(now);
  check_drained();
}

void Server::arm_timer(Timestamp now) {
  Timestamp deadline = endpoint_->next_timeout();
  if (deadline <= now) {
    // Work is due at once. With a full send queue only on_socket_writable can do it:
    // arming the timer then would spin the loop.
    deadline = blocked_ ? Timestamp::never() : now;
  }
  if (!woken_.empty()) deadline = now;
  timer_->arm(deadline, now);
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
        if (!e->refused && log_enabled(LogLevel::verbose)) {
          log_verbose("#" + std::to_string(log_info_[id].serial) + " " + e->peer.to_string() + " failed (" +
                      end_reason_name(e->reason) + "): stopping its program");
        }
        // Stop the program's group before its pipes close (ARCHITECTURE.md, failure
        // semantics): it must not read the failure as end of input.
        if (programs_[id]) programs_[id]->stop(config_.stop_grace);
        programs_[id].reset();
        break;
      case EndpointEvent::Kind::closed:
        if (!e->refused) log_end(*e);
        log_info_[id] = LogInfo{};
        programs_[id].reset();
        public_ids_[id] = 0;
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
  public_ids_[id] = next_public_id_++;
  opened_at_[id] = now;
  ProgramSpec spec;
  spec.argv = config_.program;
  spec.read_fd = 0;
  spec.write_fd = 1;
  const std::string key_hex = encode_hex(session.client_long_term().view());
  spec.clean_env = config_.clean_env;
  spec.pass_env = config_.pass_env;
  spec.keep_fds = config_.keep_fds;
  spec.one_socket = config_.program_socket;
  // The loop must not sleep while each child waits for a CPU to exec (daemon/spawner.h).
  spec.asynchronous = true;
  spec.env_overrides = {
      "PROTO=CURVECP",
      "CURVECPREMOTEPK=" + key_hex,
      "CURVECPREMOTEEXT=" + encode_hex(session.client_extension()),
      "CURVECPREMOTEIP=" + from.ip_string(),
      "CURVECPREMOTEPORT=" + std::to_string(from.port),
      "CURVECPLOCALIP=" + local.ip_string(),
      "CURVECPLOCALPORT=" + std::to_string(local.port),
  };
  const AllowEntry* entry = config_.allow ? config_.allow->find(session.client_long_term()) : nullptr;
  if (entry != nullptr && !entry->label.empty()) spec.env_overrides.push_back("CURVECPCLIENTLABEL=" + entry->label);
  LogInfo& info = log_info_[id];
  info = LogInfo{++serial_, key_hex, now};
  std::string line = "#" + std::to_string(info.serial) + " start key=" + key_hex + " from=" + from.to_string();
  if (entry != nullptr && entry->priority) {
    // The key's class from the allow file, before the first byte of the program is sent.
    if (Status set = endpoint_->connection(id)->stream().set_priority(*entry->priority, now); !set) {
      log_error("#" + std::to_string(info.serial) + " priority: " + set.error().message);
    }
    line.append(" priority=").append(format_priority(*entry->priority));
  }
  if (!control_path_.empty()) {
    spec.env_overrides.push_back(std::string(kControlPathEnv) + "=" + control_path_);
    spec.env_overrides.push_back(std::string(kConnectionIdEnv) + "=" + std::to_string(public_ids_[id]));
  }
  if (entry != nullptr && !entry->label.empty()) line.append(" label=\"").append(entry->label).append("\"");
  if (config_.forward) line.append(" forward=").append(config_.forward->to_string());
  log_info(line);
  auto wake = [this, id](Timestamp t) { on_wake(id, t); };
  auto program = config_.forward
                     ? Attachment::forward_to(loop_, *config_.forward, config_.forward_connect_timeout, wake)
                     : Attachment::spawn(loop_, spec, wake);
  if (!program) {
    // The client learns at once (FAIL), instead of waiting for a program that never came.
    ++spawn_failures_;
    log_error("#" + std::to_string(info.serial) + " " + from.to_string() + ": " + program.error().message);
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
  if (c->failed() && !program->failure_message().empty()) {
    // Forwarding: the TCP side failed (refused, timed out, reset); the client hears FAIL.
    log_error("#" + std::to_string(log_info_[id].serial) + " " + endpoint_->peer(id).to_string() + ": " +
              program->failure_message());
  }
  if (log_enabled(LogLevel::verbose) && !was_done && c->application_done() && program->exit_status()) {
    const ExitStatus& st = *program->exit_status();
    log_verbose("#" + std::to_string(log_info_[id].serial) + " " + endpoint_->peer(id).to_string() +
                " program exited (" + (st.signal ? "signal " : "status ") +
                std::to_string(st.signal ? st.signal : st.code) + ")");
  }
  endpoint_->wake(id);
}

// --- admission and connection log ---

bool Server::admit(const PublicKey& key, const Address& from) {
  if (!config_.allow || config_.allow->find(key) != nullptr) return true;
  log_info("refused key=" + encode_hex(key.view()) + " from=" + from.to_string() + ": not in the allow list");
  return false;
}

// "#N ended (REASON) key=HEX from=IP:PORT received=N sent=N duration=S.mmms": bytes
// from the client and to it, time since the program started.
void Server::log_end(const EndpointEvent& e) {
  const LogInfo& info = log_info_[e.id];
  if (info.serial == 0 || !log_enabled(LogLevel::normal)) return;
  const int64_t ms = (loop_.now() - info.started).ns / 1000000;
  char duration[32];
  std::snprintf(duration, sizeof duration, "%lld.%03llds", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  std::string line = "#" + std::to_string(info.serial);
  line.append(" ended (").append(end_reason_name(e.reason)).append(")");
  line.append(" key=").append(info.key_hex).append(" from=").append(e.peer.to_string());
  line.append(" received=").append(std::to_string(e.stats.bytes_received));
  line.append(" sent=").append(std::to_string(e.stats.bytes_sent));
  line.append(" duration=").append(duration);
  line.append(" retransmissions=").append(std::to_string(e.stats.retransmissions));
  log_info(line);
}

// --- shutdown and reporting ---

void Server::begin_drain() {
  endpoint_->begin_drain();
  // Connections whose program is done stop waiting the full idle timeout for a silent
  // peer (Connection::set_draining): a shutdown is not held up by dead clients.
  for (uint32_t id = 0; id < programs_.size(); ++id) {
    if (Connection* c = endpoint_->connection(id)) {
      c->set_draining();
      endpoint_->wake(id);  // its deadline may now be earlier: settle it again
    }
  }
  process(loop_.update_now());
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
    out.append(endpoint_->peer(id).to_string());
    field(out, "program", program == nullptr ? "none" : program->exit_status() ? "exited" : "running");
    field(out, "write_finished", s.write_finished() ? "1" : "0");
    field(out, "read_finished", s.read_finished() ? "1" : "0");
    field(out, "failed", c->failed() ? end_reason_name(c->reason()) : "no");
    field(out, "priority", format_priority(s.priority()));
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

std::vector<ConnectionInfo> Server::control_connections(Timestamp now) const {
  std::vector<ConnectionInfo> out;
  for (uint32_t id = 0; id < endpoint_->capacity(); ++id) {
    const Connection* c = endpoint_->connection(id);
    if (c == nullptr || public_ids_[id] == 0) continue;
    ConnectionInfo info;
    info.id = public_ids_[id];
    info.peer_key = encode_hex(endpoint_->session(id).client_long_term().view());
    info.address = endpoint_->peer(id).to_string();
    info.age_s = static_cast<double>((now - opened_at_[id]).ns) / 1e9;
    fill_stream_figures(info, c->stream());
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const ConnectionInfo& a, const ConnectionInfo& b) { return a.id < b.id; });
  return out;
}

Status Server::control_set_priority(uint64_t public_id, const Priority& p, Timestamp now) {
  for (uint32_t id = 0; id < endpoint_->capacity(); ++id) {
    if (public_ids_[id] != public_id || endpoint_->connection(id) == nullptr) continue;
    if (Status s = endpoint_->set_priority(id, p, now); !s) {
      return make_error("connection " + std::to_string(public_id) + ": " + s.error().message);
    }
    if (!processing_) process(now);
    return {};
  }
  return make_error("no connection " + std::to_string(public_id));
}

std::string Server::counters_line() const {
  const UdpSocketStats& u = socket_->stats();
  std::string line = endpoint_->counters_text();
  line.append(" spawn_failed=").append(std::to_string(spawn_failures_));
  line.append(" datagrams_in=").append(std::to_string(u.datagrams_received));
  line.append(" datagrams_out=").append(std::to_string(u.datagrams_sent));
  line.append(" gso_sends=").append(std::to_string(u.gso_sends));
  return line;
}

}  // namespace curvecp
