#include "daemon/server_endpoint.h"

#include <cstring>
#include <limits>
#include <variant>

#include "crypto/box.h"
#include "crypto/packets.h"
#include "daemon/refusal.h"
#include "scheduler/congestion.h"

namespace curvecp {

namespace {

// A cookie opens under the current or the previous minute key: at most 2 rotations old
// (CURVECP.md 3.3). Initiates for a C' that ended within this window are replays.
constexpr Duration kCookieLifetime = kMinuteKeyRotation * 2;
// Smallest wait before servicing a connection whose deadline has already passed: its
// poll_message has just answered 0 at `now`, so polling again at once would spin.
constexpr Duration kMinRetry = Duration::microseconds(20);
// "Already due": work is queued that poll_transmit will hand out at once.
constexpr Timestamp kDueNow{std::numeric_limits<int64_t>::min()};

// Eviction when the table is full (curvecp-serve(1)): a connection that has moved no
// data for this long since it was accepted, or failing that one silent for this long.
// Below both, connections are left alone and the newcomer is dropped: a flood of
// Initiates must not churn live connections.
constexpr Duration kEvictNoDataAfter = Duration::seconds(10);
constexpr Duration kEvictSilentAfter = Duration::seconds(30);
// A path-validation challenge as it leaves: the Server Message header and the message.
constexpr size_t kChallengePacketBytes = kServerMessageHeaderBytes + PathValidator::kChallengeMessageBytes;

// Per-source caps: the address without its port (IPv4-mapped IPv6 as IPv4), or family
// none for loopback and unknown families, which are exempt.
Address source_key_of(const Address& a) {
  static constexpr std::array<uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  Address k;
  k.family = a.family;
  k.ip = a.ip;
  if (a.family == Address::Family::ipv6 && std::memcmp(a.ip.data(), kMapped.data(), kMapped.size()) == 0) {
    k.family = Address::Family::ipv4;
    k.ip = {};
    std::memcpy(k.ip.data(), a.ip.data() + 12, 4);
  }
  static constexpr std::array<uint8_t, 16> kLoopback6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const bool loopback = (k.family == Address::Family::ipv4 && k.ip[0] == 127) ||
                        (k.family == Address::Family::ipv6 && k.ip == kLoopback6);
  if (loopback || k.family == Address::Family::none) return Address{};
  return k;
}

// The /24 (IPv4) or /56 (IPv6) of a source key.
Address network_key_of(const Address& source) {
  Address k = source;
  if (k.family == Address::Family::ipv4) k.ip[3] = 0;
  if (k.family == Address::Family::ipv6) std::fill(k.ip.begin() + 7, k.ip.end(), uint8_t{0});
  return k;
}

EndpointEvent event(EndpointEvent::Kind kind, uint32_t id, EndReason reason = EndReason::none) {
  EndpointEvent e;
  e.kind = kind;
  e.id = id;
  e.reason = reason;
  return e;
}

}  // namespace

const char* server_event_name(ServerEvent e) {
  switch (e) {
    case ServerEvent::hello_answered: return "hello_answered";
    case ServerEvent::connection_accepted: return "accepted";
    case ServerEvent::connection_finished: return "finished";
    case ServerEvent::connection_failed: return "failed";
    case ServerEvent::connection_close_timeout: return "close_timeout";
    case ServerEvent::refused_draining: return "refused_draining";
    case ServerEvent::roamed: return "roamed";
    case ServerEvent::cookie_queue_full: return "cookie_queue_full";
    case ServerEvent::refused_not_allowed: return "refused_not_allowed";
    case ServerEvent::path_challenge: return "path_challenge";
    case ServerEvent::refused_source_cap: return "refused_source_cap";
    case ServerEvent::evicted: return "evicted";
    case ServerEvent::handshake_deferred: return "handshake_deferred";
    case ServerEvent::handshake_over_budget: return "handshake_over_budget";
    case ServerEvent::initiate_repeat: return "initiate_repeat";
    case ServerEvent::handshake_expired: return "handshake_expired";
    case ServerEvent::count_: break;
  }
  return "?";
}

ServerEndpoint::ServerEndpoint(ServerEndpointConfig config, Rng& rng)
    : config_(std::move(config)), rng_(rng), deadlines_(config_.max_connections) {}

Result<std::unique_ptr<ServerEndpoint>> ServerEndpoint::create(ServerEndpointConfig config, SecretKey long_term,
                                                               NonceSource& nonces, Rng& rng, Timestamp now) {
  if (config.max_connections == 0) return make_error("max-connections must be at least 1");
  if (!make_controller(config.scheduler, rng, now)) return make_error("unknown scheduler: " + config.scheduler);
  std::unique_ptr<ServerEndpoint> e(new ServerEndpoint(std::move(config), rng));
  e->crypto_ = std::make_unique<ServerCrypto>(std::move(long_term), e->config_.name, e->config_.extension, nonces,
                                              rng, now);
  const uint32_t n = e->config_.max_connections;
  e->slots_.resize(n);
  e->free_ids_.reserve(n);
  for (uint32_t i = n; i > 0; --i) e->free_ids_.push_back(i - 1);
  e->by_key_.reserve(n);
  e->cookies_.resize(kMaxPendingCookies);
  e->message_.resize(kMaxMessageBytes);
  if (e->config_.memory_budget_bytes != 0) {
    e->memory_budget_ = std::make_unique<MemoryBudget>(e->config_.memory_budget_bytes);
  }
  return e;
}

Connection* ServerEndpoint::connection(uint32_t id) {
  return id < slots_.size() && slots_[id] ? slots_[id]->connection.get() : nullptr;
}

const Connection* ServerEndpoint::connection(uint32_t id) const {
  return id < slots_.size() && slots_[id] ? slots_[id]->connection.get() : nullptr;
}

// --- datagrams in ---

void ServerEndpoint::handle_datagram(Timestamp now, const Address& from, Bytes datagram) {
  handshake_to_charge_ = false;
  auto parsed = parse_client_packet(datagram, crypto_->extension());
  if (auto* why = std::get_if<DropReason>(&parsed)) {
    drops_.add(*why);
    return;
  }
  const ClientPacketView& view = std::get<ClientPacketView>(parsed);
  if (view.type == ClientPacketType::hello) {
    if (admit_handshake(now, from, datagram)) answer_hello(view, from);
    return;
  }
  auto it = by_key_.find(view.client_short_term);
  if (it == by_key_.end()) {
    if (view.type == ClientPacketType::initiate) {
      if (admit_handshake(now, from, datagram)) accept(now, view, from);
    } else {
      drops_.add(DropReason::unknown_connection);
    }
    return;
  }
  // A packet for an existing connection (a later Initiate is plain data, CURVECP.md 3.5 A).
  Slot& s = *slots_[it->second];
  auto opened = s.session.open(view, message_);
  if (auto* why = std::get_if<DropReason>(&opened)) {
    drops_.add(*why);
    return;
  }
  const size_t message_bytes = std::get<size_t>(opened);
  follow_path(s, now, from, datagram.size(), message_bytes);
  s.connection->on_message(now, Bytes(message_.data(), message_bytes));
  wipe(MutableBytes(message_.data(), message_bytes));
  if (!s.progress_pending) {
    s.progress_pending = true;
    events_out_.push_back(event(EndpointEvent::Kind::progress, s.id));
  }
  queue(s);
}

bool ServerEndpoint::is_handshake(Bytes datagram) const {
  auto parsed = parse_client_packet(datagram, crypto_->extension());
  const auto* view = std::get_if<ClientPacketView>(&parsed);
  if (view == nullptr) return false;
  return view->type == ClientPacketType::hello ||
         (view->type == ClientPacketType::initiate && by_key_.count(view->client_short_term) == 0);
}

bool ServerEndpoint::handshake_may_run(Timestamp now) {
  if (replaying_deferred_ || !in_batch_) return true;
  if (config_.handshakes_per_batch == 0 && config_.handshake_cpu_percent == 0) return true;
  const bool counted_ok = config_.handshakes_per_batch == 0 || handshakes_in_batch_ < config_.handshakes_per_batch;
  return counted_ok && deferred_count_ == 0 && handshake_time_left(now);
}

bool ServerEndpoint::admit_handshake(Timestamp now, const Address& from, Bytes datagram) {
  if (handshake_may_run(now)) {
    if (in_batch_ && !replaying_deferred_) ++handshakes_in_batch_;
    handshake_to_charge_ = true;
    return true;
  }
  if (defer_handshake(now, from, datagram)) events_.add(ServerEvent::handshake_deferred);
  return false;
}

// Loopback clients all share one address, so there the port tells them apart; elsewhere
// a port costs an attacker nothing, the /24 or /56 does.
Address ServerEndpoint::fairness_key(const Address& from) {
  const Address source = source_key_of(from);
  return source.family == Address::Family::none ? from : network_key_of(source);
}

bool ServerEndpoint::defer_handshake(Timestamp now, const Address& from, Bytes datagram) {
  if (datagram.size() > DeferredHandshake{}.packet.size()) {
    events_.add(ServerEvent::handshake_over_budget);
    return false;
  }
  if (deferred_.empty()) {
    deferred_.resize(kMaxDeferredHandshakes);
    for (size_t i = kMaxDeferredHandshakes; i > 0; --i) deferred_free_.push_back(static_cast<uint16_t>(i - 1));
  }
  const Address key = fairness_key(from);
  auto [it, fresh] = deferred_by_source_.try_emplace(key);
  std::deque<uint16_t>& queue = it->second;
  if (fresh) deferred_turns_.push_back(key);
  // A source at its share makes room from its own oldest; a full queue refuses.
  if (queue.size() >= kMaxDeferredPerSource) drop_deferred_of(queue);
  if (deferred_free_.empty()) {
    events_.add(ServerEvent::handshake_over_budget);
    if (queue.empty()) {
      deferred_by_source_.erase(it);
      deferred_turns_.pop_back();  // pushed just now (fresh)
    }
    return false;
  }
  const uint16_t index = deferred_free_.back();
  deferred_free_.pop_back();
  DeferredHandshake& d = deferred_[index];
  d.from = from;
  d.at = now;
  d.bytes = static_cast<uint16_t>(datagram.size());
  std::memcpy(d.packet.data(), datagram.data(), datagram.size());
  queue.push_back(index);
  ++deferred_count_;
  return true;
}

void ServerEndpoint::drop_deferred_of(std::deque<uint16_t>& queue) {
  deferred_free_.push_back(queue.front());
  queue.pop_front();
  --deferred_count_;
  events_.add(ServerEvent::handshake_over_budget);
}

uint16_t ServerEndpoint::take_deferred() {
  while (!deferred_turns_.empty()) {
    const Address key = deferred_turns_.front();
    deferred_turns_.pop_front();
    auto it = deferred_by_source_.find(key);
    if (it == deferred_by_source_.end()) continue;
    std::deque<uint16_t>& queue = it->second;
    if (queue.empty()) {
      deferred_by_source_.erase(it);
      continue;
    }
    const uint16_t index = queue.front();
    queue.pop_front();
    --deferred_count_;
    if (queue.empty()) {
      deferred_by_source_.erase(it);
    } else {
      deferred_turns_.push_back(key);
    }
    deferred_free_.push_back(index);  // the caller uses it before the next defer
    return index;
  }
  return kMaxDeferredHandshakes;
}

bool ServerEndpoint::run_deferred_handshake(Timestamp now) {
  if (deferred_count_ == 0) return false;
  if (now != batch_now_) {
    batch_now_ = now;
    handshakes_in_batch_ = 0;
  }
  if (config_.handshakes_per_batch != 0 && handshakes_in_batch_ >= config_.handshakes_per_batch) return false;
  if (!handshake_time_left(now)) return false;
  for (;;) {
    const uint16_t index = take_deferred();
    if (index == kMaxDeferredHandshakes) return false;
    const DeferredHandshake& d = deferred_[index];
    if (now - d.at > kDeferredMaxAge) {
      events_.add(ServerEvent::handshake_expired);
      continue;
    }
    ++handshakes_in_batch_;
    replaying_deferred_ = true;
    handle_datagram(now, d.from, Bytes(d.packet.data(), d.bytes));
    replaying_deferred_ = false;
    return true;
  }
}

void ServerEndpoint::charge_handshake(Duration cost) {
  // Deferring or dropping a handshake is not charged: under a flood that bookkeeping alone
  // took the whole share, the budget never refilled and no handshake ran at all (a
  // newcomer's Initiate waited in the queue for ever; bench_flood_newcomer, CI).
  if (!handshake_to_charge_) return;
  handshake_to_charge_ = false;
  if (config_.handshake_cpu_percent == 0) return;
  // Never more than a second in debt: one stall of the host must not shut handshakes out.
  handshake_time_ns_ = std::max<int64_t>(handshake_time_ns_ - cost.ns, -Duration::seconds(1).ns);
}

void ServerEndpoint::refill_handshake_time(Timestamp now) {
  if (handshake_time_at_ == Timestamp::never()) {
    handshake_time_at_ = now;
    handshake_time_ns_ = kHandshakeBurst.ns;
    return;
  }
  if (now <= handshake_time_at_) return;
  // Capped first (the budget is full long before), so that the product cannot overflow.
  const int64_t elapsed_ns = std::min((now - handshake_time_at_).ns, Duration::seconds(10).ns);
  const int64_t earned = elapsed_ns * static_cast<int64_t>(config_.handshake_cpu_percent) / 100;
  handshake_time_ns_ = std::min(handshake_time_ns_ + earned, kHandshakeBurst.ns);
  handshake_time_at_ = now;
}

bool ServerEndpoint::handshake_time_left(Timestamp now) {
  if (config_.handshake_cpu_percent == 0) return true;
  refill_handshake_time(now);
  return handshake_time_ns_ > 0;
}

// When the time budget is positive again (now, if it is).
Timestamp ServerEndpoint::handshake_time_due() const {
  if (config_.handshake_cpu_percent == 0 || handshake_time_ns_ > 0 || handshake_time_at_ == Timestamp::never()) {
    return kDueNow;
  }
  const int64_t percent = config_.handshake_cpu_percent;
  const int64_t wait_ns = ((-handshake_time_ns_ + 1) * 100 + percent - 1) / percent;  // rounded up
  return handshake_time_at_ + Duration::nanoseconds(wait_ns);
}

// Authenticated and newer than anything before (the nonce check precedes the box, 3.8):
// only such a packet may start moving the client (unlike the reference, 3.10), and only
// once the new address answers a challenge (docs/PATH-VALIDATION.md).
void ServerEndpoint::follow_path(Slot& s, Timestamp now, const Address& from, size_t datagram_bytes,
                                 size_t message_bytes) {
  s.path.on_authenticated(now, from, s.peer, datagram_bytes);
  if (!s.path.on_message(from, MutableBytes(message_.data(), message_bytes))) return;
  drop_source(s);
  s.peer = from;
  add_source(s, from);
  s.path.reset();
  events_.add(ServerEvent::roamed);
}

void ServerEndpoint::answer_hello(const ClientPacketView& view, const Address& from) {
  if (draining_) {
    events_.add(ServerEvent::refused_draining);
    return;
  }
  if (cookie_count_ == cookies_.size()) {
    events_.add(ServerEvent::cookie_queue_full);
    return;
  }
  PendingCookie& c = cookies_[(cookie_head_ + cookie_count_) % cookies_.size()];
  auto answered = crypto_->answer_hello(view, c.packet);
  if (auto* why = std::get_if<DropReason>(&answered)) {
    drops_.add(*why);
    if (crypto_->nonce_failed() && !nonce_disaster_) {
      nonce_disaster_ = true;
      begin_drain();
    }
    return;
  }
  c.to = from;
  c.bytes = static_cast<uint16_t>(std::get<size_t>(answered));
  ++cookie_count_;
  events_.add(ServerEvent::hello_answered);
}

void ServerEndpoint::accept(Timestamp now, const ClientPacketView& view, const Address& from) {
  if (draining_) {
    events_.add(ServerEvent::refused_draining);
    return;
  }
  forget_old_ended(now);
  if (recently_ended_keys_.count(view.client_short_term) != 0) {
    // A replay of a captured Initiate, or a client whose connection we ended: neither
    // may start the program again. The entry ages out with the cookie.
    drops_.add(DropReason::replayed_nonce);
    return;
  }
  if (source_at_cap(from)) {
    events_.add(ServerEvent::refused_source_cap);
    return;
  }
  if (free_ids_.empty() && eviction_victim(now) == nullptr) {
    drops_.add(DropReason::table_full);  // CURVECP.md 3.5 B.1: silently; existing ones continue
    return;
  }
  // The cookie has opened and names this C' when the gate is asked: only then is the
  // client charged, so a forger who merely saw C' cannot use up its allowance.
  bool repeat = false;
  auto accepted = crypto_->accept_initiate(view, message_, [&] {
    repeat = !charge_key_computation(view.client_short_term, now);
    return !repeat;
  });
  if (auto* why = std::get_if<DropReason>(&accepted)) {
    if (repeat) events_.add(ServerEvent::initiate_repeat);
    drops_.add(*why);
    return;
  }
  AcceptedInitiate& a = std::get<AcceptedInitiate>(accepted);
  // Authenticated: now, and only now, may the client's key decide (serve --allow).
  const bool refused = config_.admit && !config_.admit(a.session.client_long_term(), from);
  StreamConfig sc;
  sc.role = StreamRole::server;
  sc.controller = config_.scheduler;
  sc.memory_budget = memory_budget_.get();
  sc.priority = config_.priority;
  auto stream = Stream::create(sc, rng_, now);
  if (!stream) return;  // the name was checked in create()
  if (free_ids_.empty()) evict(*eviction_victim(now), now);

  const uint32_t id = free_ids_.back();
  free_ids_.pop_back();
  auto slot = std::make_unique<Slot>();
  slot->id = id;
  slot->session = std::move(a.session);
  slot->peer = from;
  slot->accepted_at = now;
  add_source(*slot, from);
  slot->connection = std::make_unique<Connection>(std::move(*stream), config_.connection, now);
  Slot& s = *slot;
  slots_[id] = std::move(slot);
  by_key_.emplace(s.session.client_short_term(), id);
  s.refused = refused;
  if (refused) {
    // A connection of its own, so the FAIL is retransmitted until acknowledged and a
    // retransmitted Initiate gets the same answer; no program ever starts for it.
    events_.add(ServerEvent::refused_not_allowed);
    s.connection->on_message(now, Bytes(message_.data(), a.message_bytes));
    s.connection->abort(now, EndReason::aborted);
    queue(s);
    return;
  }
  events_.add(ServerEvent::connection_accepted);
  events_out_.push_back(event(EndpointEvent::Kind::opened, id));
  s.connection->on_message(now, Bytes(message_.data(), a.message_bytes));
  wipe(MutableBytes(message_.data(), a.message_bytes));
  queue(s);
}

// --- fairness: per-source caps and eviction ---

bool ServerEndpoint::source_at_cap(const Address& from) const {
  const Address key = source_key_of(from);
  if (key.family == Address::Family::none) return false;
  auto at_cap = [](const std::unordered_map<Address, uint32_t, AddressHash>& m, const Address& k, uint32_t cap) {
    if (cap == 0) return false;
    auto it = m.find(k);
    return it != m.end() && it->second >= cap;
  };
  return at_cap(per_address_, key, config_.max_per_address) ||
         at_cap(per_network_, network_key_of(key), config_.max_per_network);
}

void ServerEndpoint::add_source(Slot& s, const Address& from) {
  s.source_key = source_key_of(from);
  if (s.source_key.family == Address::Family::none) return;
  s.network_key = network_key_of(s.source_key);
  ++per_address_[s.source_key];
  ++per_network_[s.network_key];
}

void ServerEndpoint::drop_source(Slot& s) {
  if (s.source_key.family == Address::Family::none) return;
  auto down = [](std::unordered_map<Address, uint32_t, AddressHash>& m, const Address& k) {
    auto it = m.find(k);
    if (it != m.end() && --it->second == 0) m.erase(it);
  };
  down(per_address_, s.source_key);
  down(per_network_, s.network_key);
  s.source_key = Address{};
}

ServerEndpoint::Slot* ServerEndpoint::eviction_victim(Timestamp now) {
  // Rank: a failed connection (only waiting for its FAIL to be acknowledged), then one
  // that never moved data (oldest first), then the one silent longest.
  Slot* best = nullptr;
  int best_rank = 0;
  Timestamp best_at = Timestamp::never();
  for (auto& p : slots_) {
    if (!p) continue;
    const Connection& c = *p->connection;
    const StreamStats st = c.stream().stats();
    int rank = 0;
    Timestamp at = p->accepted_at;
    if (c.failed()) {
      rank = 3;
    } else if (st.bytes_received == 0 && st.bytes_sent == 0 && now - p->accepted_at >= kEvictNoDataAfter) {
      rank = 2;
    } else if (now - c.last_heard() >= kEvictSilentAfter) {
      rank = 1;
      at = c.last_heard();
    } else {
      continue;
    }
    if (best == nullptr || rank > best_rank || (rank == best_rank && at < best_at)) {
      best = p.get();
      best_rank = rank;
      best_at = at;
    }
  }
  return best;
}

void ServerEndpoint::evict(Slot& s, Timestamp now) {
  events_.add(ServerEvent::evicted);
  Connection& c = *s.connection;
  c.abort(now, EndReason::evicted);
  // One FAIL to the peer if the stream has it ready now (the slot is reused at once, so
  // it is not retransmitted; a peer that misses it times out).
  std::array<uint8_t, kMaxMessageBytes> farewell;
  const size_t n = c.poll_message(now, farewell, kMaxMessageBytes);
  if (n > 0 && n + kServerMessageHeaderBytes <= PendingCookie{}.packet.size() && cookie_count_ < cookies_.size()) {
    PendingCookie& out = cookies_[(cookie_head_ + cookie_count_) % cookies_.size()];
    const size_t packet = s.session.seal(Bytes(farewell.data(), n), out.packet);
    if (packet > 0) {
      out.to = s.peer;
      out.bytes = static_cast<uint16_t>(packet);
      ++cookie_count_;
    }
  }
  if (!s.failure_reported) {
    s.failure_reported = true;
    EndpointEvent failed = event(EndpointEvent::Kind::failed, s.id, EndReason::evicted);
    failed.peer = s.peer;
    events_out_.push_back(failed);
  }
  EndpointEvent closed = event(EndpointEvent::Kind::closed, s.id, EndReason::evicted);
  closed.peer = s.peer;
  closed.stats = c.stream().stats();
  events_out_.push_back(closed);
  remove(s, now);
}

// --- replay memory of Initiates ---

bool ServerEndpoint::charge_key_computation(const PublicKey& key, Timestamp now) {
  while (!initiate_order_.empty() && (now - initiate_order_.front().at >= kCookieLifetime ||
                                      initiate_order_.size() >= kMaxRememberedInitiates)) {
    initiate_costs_.erase(initiate_order_.front().key);
    initiate_order_.pop_front();
  }
  auto [it, inserted] = initiate_costs_.try_emplace(key, uint8_t{0});
  if (it->second >= kMaxInitiateKeyComputations) return false;
  if (inserted) initiate_order_.push_back(Ended{key, now});
  ++it->second;
  return true;
}

// --- datagrams out ---

void ServerEndpoint::queue(Slot& s) {
  if (s.queued) return;
  s.queued = true;
  ready_.push_back(s.id);
}

size_t ServerEndpoint::poll_transmit(Timestamp now, MutableBytes out, Address& to) {
  if (cookie_count_ > 0) {
    const PendingCookie& c = cookies_[cookie_head_];
    std::memcpy(out.data(), c.packet.data(), c.bytes);
    to = c.to;
    cookie_head_ = (cookie_head_ + 1) % cookies_.size();
    --cookie_count_;
    return c.bytes;
  }
  crypto_->on_timer(now);  // minute-key rotation when due
  while (!deadlines_.empty() && deadlines_.top_deadline() <= now) {
    const uint32_t id = deadlines_.top_id();
    deadlines_.remove(id);
    queue(*slots_[id]);
  }
  while (!ready_.empty()) {
    Slot* s = slots_[ready_.front()].get();
    if (s == nullptr || !s->queued) {
      ready_.pop_front();  // a removed connection, or a stale entry
      continue;
    }
    if (s->path.active()) {
      if (const size_t packet = poll_challenge(*s, now, out, to)) return packet;
    }
    const size_t n = s->connection->poll_message(now, message_, kMaxMessageBytes);
    if (n > 0) {
      if (s->refused) mark_refusal(MutableBytes(message_.data(), n));
      const size_t packet = s->session.seal(Bytes(message_.data(), n), out);
      if (packet > 0) {
        to = s->peer;
        return packet;
      }
      s->connection->abort(now, EndReason::nonce_exhausted);
    }
    ready_.pop_front();
    s->queued = false;
    settle(*s, now);
  }
  return 0;
}

size_t ServerEndpoint::poll_challenge(Slot& s, Timestamp now, MutableBytes out, Address& to) {
  const size_t n = s.path.poll_challenge(now, rng_, kChallengePacketBytes, message_);
  if (n == 0) return 0;
  const size_t packet = s.session.seal(Bytes(message_.data(), n), out);
  if (packet == 0) return 0;  // nonce space: the connection's own poll will close it
  s.path.on_sent(packet);
  to = s.path.candidate();
  events_.add(ServerEvent::path_challenge);
  return packet;
}

bool ServerEndpoint::settle(Slot& s, Timestamp now) {
  Connection& c = *s.connection;
  if (c.failed() && !s.failure_reported) {
    s.failure_reported = true;
    EndpointEvent failed = event(EndpointEvent::Kind::failed, s.id, c.reason());
    failed.peer = s.peer;
    failed.refused = s.refused;
    events_out_.push_back(failed);
  }
  if (c.closed()) {
    const EndReason why = c.reason();
    if (!s.refused) {
      events_.add(why == EndReason::finished        ? ServerEvent::connection_finished
                  : why == EndReason::close_timeout ? ServerEvent::connection_close_timeout
                                                    : ServerEvent::connection_failed);
    }
    EndpointEvent closed = event(EndpointEvent::Kind::closed, s.id, why);
    closed.peer = s.peer;
    closed.refused = s.refused;
    closed.stats = c.stream().stats();
    events_out_.push_back(closed);
    remove(s, now);
    return false;
  }
  Timestamp deadline = earliest(c.next_timeout(), s.path.next_timeout(kChallengePacketBytes));
  if (deadline <= now) deadline = now + kMinRetry;
  deadlines_.set(s.id, deadline);
  return true;
}

void ServerEndpoint::remove(Slot& s, Timestamp now) {
  const uint32_t id = s.id;
  by_key_.erase(s.session.client_short_term());
  drop_source(s);
  remember_ended(s.session.client_short_term(), now);
  deadlines_.remove(id);
  free_ids_.push_back(id);
  slots_[id].reset();
}

Timestamp ServerEndpoint::next_timeout() const {
  if (cookie_count_ > 0 || !ready_.empty()) return kDueNow;
  Timestamp due = earliest(deadlines_.top_deadline(), crypto_->next_rotation());
  if (deferred_count_ > 0) due = earliest(due, handshake_time_due());
  return due;
}

std::optional<EndpointEvent> ServerEndpoint::poll_event() {
  if (events_out_.empty()) return std::nullopt;
  EndpointEvent e = events_out_.front();
  events_out_.pop_front();
  if (e.kind == EndpointEvent::Kind::progress && e.id < slots_.size() && slots_[e.id]) {
    slots_[e.id]->progress_pending = false;
  }
  return e;
}

// --- the application's side ---

void ServerEndpoint::wake(uint32_t id) {
  if (id < slots_.size() && slots_[id]) queue(*slots_[id]);
}

Status ServerEndpoint::set_priority(uint32_t id, const Priority& p, Timestamp now) {
  if (id >= slots_.size() || !slots_[id]) return make_error("no such connection");
  if (Status s = slots_[id]->connection->set_priority(p, now); !s) return s;
  queue(*slots_[id]);  // the new controller may allow sending at once
  return {};
}

void ServerEndpoint::abort(uint32_t id, Timestamp now, EndReason why) {
  if (id >= slots_.size() || !slots_[id]) return;
  slots_[id]->connection->abort(now, why);
  queue(*slots_[id]);
}

void ServerEndpoint::abort_all(Timestamp now) {
  for (auto& s : slots_) {
    if (!s) continue;
    s->connection->abort(now, EndReason::aborted);
    queue(*s);
  }
}

// --- replay memory ---

void ServerEndpoint::forget_old_ended(Timestamp now) {
  while (!recently_ended_.empty() && now - recently_ended_.front().at >= kCookieLifetime) {
    recently_ended_keys_.erase(recently_ended_.front().key);
    recently_ended_.pop_front();
  }
}

void ServerEndpoint::remember_ended(const PublicKey& key, Timestamp now) {
  forget_old_ended(now);
  if (recently_ended_keys_.insert(key).second) recently_ended_.push_back(Ended{key, now});
}

std::string ServerEndpoint::counters_text() const {
  // append() rather than `" " + std::string(...) + "="`: gcc 12 at -O3 reports a false
  // -Werror=restrict inside std::string for that operator+ chain (GCC bug 105329).
  std::string line = "connections=";
  line.append(std::to_string(by_key_.size()));
  for (size_t i = 0; i < Counters<ServerEvent>::size; ++i) {
    auto e = static_cast<ServerEvent>(i);
    line.append(" ").append(server_event_name(e)).append("=").append(std::to_string(events_.get(e)));
  }
  line.append(" drops=").append(std::to_string(drops_.total()));
  for (size_t i = 0; i < DropCounters::size; ++i) {
    auto r = static_cast<DropReason>(i);
    if (drops_.get(r) == 0) continue;
    line.append(" ").append(drop_reason_name(r)).append("=").append(std::to_string(drops_.get(r)));
  }
  return line;
}

}  // namespace curvecp
