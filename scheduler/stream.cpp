// The stream engine: joins the send buffer, the receive buffer, the acknowledgement
// policy, flow control and the congestion controller (CURVECP.md 6, docs/EXTENSIONS.md).
#include "scheduler/stream.h"

#include <algorithm>
#include <array>
#include <limits>

#include "scheduler/ack_scheduler.h"
#include "scheduler/message.h"
#include "scheduler/memory_budget.h"
#include "scheduler/receive_buffer.h"
#include "scheduler/rtt_estimator.h"
#include "scheduler/send_buffer.h"
#include "scheduler/window_extension.h"

namespace curvecp {

namespace {

// The reference receiver keeps 131072 bytes beyond what it delivered and drops the rest
// (CURVECP.md 6.1): never send past the acknowledged prefix + this to a peer that has not
// announced a larger window.
constexpr uint64_t kReferenceWindowBytes = 131072;
// Application bytes taken beyond what the peer may accept now (docs/MEMORY.md): enough
// that data is ready when the window opens, no more (more would only cost memory).
constexpr uint64_t kSendAheadBytes = 64 * 1024;
// Receive window announced to curvecp peers while the memory budget is exceeded
// (docs/MEMORY.md): four 16 KiB pages beyond what the application has read.
constexpr uint64_t kPressureWindowBytes = 64 * 1024;
// Largest block; the client uses 512 until the server's first message arrives, because
// Initiates carry at most 640-byte messages (CURVECP.md 6.2).
constexpr size_t kMaxBlockBytes = 1024;
constexpr size_t kClientInitialBlockBytes = 512;
// A transmission is declared lost once this many later transmissions were acknowledged
// (the packet threshold of RFC 9002 6.1.1; tolerates mild reordering).
constexpr uint64_t kLossThresholdMessages = 3;
// The reference reads at most 64 queued messages and drops the excess (CURVECP.md 7.7):
// toward it, at most this many messages leave at one instant, then we wait 1 ms.
constexpr uint32_t kReferenceBurstMessages = 32;
constexpr Duration kReferenceBurstPause = Duration::milliseconds(1);
// Retransmission-timeout back-off: doubled per timeout without progress, up to 2^6.
constexpr int kMaxBackoffShift = 6;
constexpr Duration kMaxRto = Duration::seconds(60);
// Out-of-order intervals kept by the receiver.
constexpr size_t kMaxReceiveIntervals = 256;
// Largest D whose message (CURVECP.md 6.2 sizes) fits max_message_bytes.
size_t max_data_for(size_t max_message_bytes) {
  if (max_message_bytes >= 1088) return 1024;
  if (max_message_bytes >= 576) return 512;
  if (max_message_bytes >= 320) return 256;
  if (max_message_bytes >= 192) return 128;
  return 0;
}

}  // namespace

// All of the stream's state and logic; Stream forwards to it (see stream.h).
class Stream::Impl {
 public:
  Impl(const StreamConfig& config, Rng& rng, Timestamp now, std::unique_ptr<CongestionController> controller)
      : config_(config),
        rng_(rng),
        controller_(std::move(controller)),
        controller_name_(config.priority.cls == Priority::Class::normal ? config.controller
                                                                         : std::string(controller_->name())),
        priority_(config.priority),
        send_(config.send_buffer_bytes, std::max<size_t>(256, config.send_buffer_bytes / 512), config.memory_budget),
        recv_(config.receive_buffer_bytes, kMaxReceiveIntervals, config.memory_budget),
        last_now_(now),
        last_receive_(now),
        ping_pending_(config.ping_at_start) {}

  // The application may write what the send buffer holds, but no further ahead of what
  // the peer may accept than kSendAheadBytes (docs/MEMORY.md): bytes beyond would only
  // sit in our memory, not on the wire. Toward a reference peer that is its 128 KiB rule
  // plus the look-ahead, toward a curvecp peer its announced window plus the look-ahead.
  size_t send_space() const {
    const uint64_t limit = flow_limit() + kSendAheadBytes;
    const uint64_t room = limit > send_.written() ? limit - send_.written() : 0;
    return static_cast<size_t>(std::min<uint64_t>(send_.space(), room));
  }
  size_t write(Bytes data) { return send_.write(data.first(std::min(data.size(), send_space()))); }
  void close_write(bool failure) { send_.close(failure ? StreamEnd::fail : StreamEnd::succ); }
  void abort() { aborted_ = send_.abort(); }
  bool write_finished() const { return send_.finished(); }

  size_t readable() const { return recv_.readable(); }
  size_t read(MutableBytes out);
  bool read_finished() const { return recv_.finished(); }
  bool read_failed() const { return recv_.failed(); }
  bool peer_failed() const { return recv_.failed(); }

  void on_message(Timestamp now, Bytes message);
  size_t poll_transmit(Timestamp now, MutableBytes out, size_t max_message_bytes);
  Timestamp next_timeout() const;
  Timestamp last_receive_time() const { return last_receive_; }
  Duration retransmit_timeout() const { return rto(); }
  void send_keepalive(Timestamp now) {
    last_now_ = std::max(last_now_, now);
    keepalive_due_ = true;
  }
  bool keepalive_outstanding() const { return keepalive_due_ || keepalive_tx_ != 0; }
  bool acknowledgement_owed() const { return acks_.deadline() != Timestamp::never(); }

  Status set_controller(std::string_view name, Timestamp now) {
    auto c = make_controller(name, rng_, now);
    if (!c) return make_error("unknown congestion controller: " + std::string(name));
    config_.controller = std::string(name);
    const Priority previous = priority_;
    priority_ = Priority{};
    hand_over(std::move(c), name, previous, now);
    return {};
  }
  std::string_view controller_name() const { return controller_name_; }
  Status set_priority(const Priority& p, Timestamp now);
  Priority priority() const { return priority_; }
  StreamStats stats() const;

 private:
  // Replaces the controller on the live path; the successor continues from its state.
  // `name` is its registry name (controller_name()).
  // `previous` is the class before the switch.
  void hand_over(std::unique_ptr<CongestionController> next, std::string_view name, const Priority& previous,
                 Timestamp now);
  void process_acks(Timestamp now, const AckFields& ack);
  AckFields take_ack_fields();
  size_t transmit_block(Timestamp now, uint64_t seq, MutableBytes out);
  size_t transmit_pure_ack(MutableBytes out);
  size_t transmit_keepalive(MutableBytes out);
  void finish_message(MutableBytes message, size_t data_bytes);
  void check_timeout(Timestamp now);
  void detect_losses(Timestamp now);
  // The daemon's memory budget is exceeded (docs/MEMORY.md).
  bool memory_pressure() const { return config_.memory_budget != nullptr && config_.memory_budget->exceeded(); }
  // Under memory pressure: data ending beyond this is refused (not acknowledged). A
  // reference peer never sends past our prefix + 128 KiB (CURVECP.md 6.1), a curvecp peer
  // never past the largest limit we announced, so no well-behaved peer loses anything.
  uint64_t pressure_accept_limit() const {
    const uint64_t reference_limit = recv_.received_prefix() + kReferenceWindowBytes;
    return peer_announced_ ? std::max(announced_limit_, reference_limit) : reference_limit;
  }
  uint64_t flow_limit() const {
    return peer_announced_ ? peer_max_offset_ : peer_prefix_ + kReferenceWindowBytes;
  }
  size_t max_block_bytes() const {
    return config_.role == StreamRole::client && !received_any_ ? kClientInitialBlockBytes : kMaxBlockBytes;
  }
  bool congestion_allows() const {
    if (timeout_recovery_) return send_.bytes_in_flight() == 0;
    return send_.bytes_in_flight() < controller_->window_bytes();
  }
  // After abort(): the FAIL block still has to be made (it goes ahead of retransmissions
  // and outside the congestion window).
  bool abort_block_due() const { return aborted_ && send_.end_pending() && !send_.table_full(); }
  // Whether a new block could be made now (ignoring pacing).
  bool new_block_possible() const {
    if (send_.table_full()) return false;
    if (ping_pending_ || probe_due_) return true;
    if (send_.unblocked_bytes() > 0 && send_.next_offset() < flow_limit()) return true;
    return send_.end_pending() && send_.unblocked_bytes() == 0;
  }
  bool flow_blocked() const {
    return send_.unblocked_bytes() > 0 && send_.next_offset() >= flow_limit() && send_.bytes_in_flight() == 0 &&
           !send_.has_lost();
  }
  Duration rto() const {
    Duration base = controller_->retransmit_timeout(path_);
    for (int i = 0; i < backoff_shift_ && base < kMaxRto; ++i) base = base * 2;
    return std::min(base, kMaxRto);
  }

  StreamConfig config_;
  Rng& rng_;
  std::unique_ptr<CongestionController> controller_;
  std::string controller_name_;
  Priority priority_;
  SendBuffer send_;
  ReceiveBuffer recv_;
  PathState path_;
  RttEstimator rtt_;
  StreamStats stats_;

  Timestamp last_now_;
  Timestamp last_receive_;
  bool received_any_ = false;

  // Peer window (docs/EXTENSIONS.md).
  bool peer_announced_ = false;
  uint64_t peer_max_offset_ = 0;
  uint64_t peer_prefix_ = 0;  // largest range 1 seen (bytes the peer has contiguously)
  uint64_t announced_limit_ = 0;

  // Acknowledgements we owe.
  AckScheduler acks_;

  // Ping (CURVECP.md 6.10) and zero-window probe.
  bool ping_pending_ = false;
  bool probe_due_ = false;
  Timestamp probe_deadline_ = Timestamp::never();

  // abort() turned (or left) our end as FAIL.
  bool aborted_ = false;
  // Keepalive: one is to be sent; transmission number of the one outstanding (0: none).
  bool keepalive_due_ = false;
  uint64_t keepalive_tx_ = 0;

  // Retransmission timeout.
  int backoff_shift_ = 0;
  uint32_t timeouts_since_ack_ = 0;  // timeout events (as the controller sees them) since new data was acked
  bool timeout_recovery_ = false;  // after a timeout, until an acknowledgement
  Timestamp last_timeout_ = Timestamp::never();

  bool idle_ = true;
  bool loss_check_pending_ = false;

  // Burst limit toward reference peers.
  Timestamp burst_time_ = Timestamp::never();
  uint32_t burst_count_ = 0;
  Timestamp burst_hold_until_{std::numeric_limits<int64_t>::min()};
};

size_t Stream::Impl::read(MutableBytes out) {
  const size_t n = recv_.read(out);
  // Window update: tell a curvecp peer once a quarter of the window has opened since our
  // last announcement, so a sender blocked on our window resumes without waiting for a
  // probe.
  if (n && peer_announced_ && recv_.window_limit() >= announced_limit_ + config_.receive_buffer_bytes / 4) {
    acks_.request(last_now_);
  }
  return n;
}

void Stream::Impl::on_message(Timestamp now, Bytes bytes) {
  last_now_ = std::max(last_now_, now);
  Message msg;
  const ParseResult parsed = parse_message(bytes, msg);
  if (parsed == ParseResult::bad_length) {
    ++stats_.bad_messages;
    return;
  }
  ++stats_.messages_received;
  last_receive_ = now;
  received_any_ = true;
  if (parsed == ParseResult::ok) {
    if (auto ext = parse_window_extension(msg.padding)) {
      peer_announced_ = true;
      peer_max_offset_ = std::max(peer_max_offset_, ext->max_offset);
    }
  }
  // Acknowledgements first, data second, as the reference does (CURVECP.md 6.4, 6.1).
  process_acks(now, msg.ack);
  if (parsed == ParseResult::bad_data) {
    // Malformed data part: ignored and not acknowledged (CURVECP.md 6.1).
    ++stats_.bad_messages;
    return;
  }
  const uint64_t prefix_before = recv_.received_prefix();
  const bool had_holes = recv_.has_holes();
  // CURVECP.md 9 item 11: if the data was already here, a range we sent may have named
  // it, and the reference would take an RTT sample from a block it had marked
  // acknowledged (time 0). Acknowledge such a message with ID 0. An empty block is at
  // risk only at an edge of ranges 2..6 (range 1 releases it from the reference's table).
  const bool already_here = msg.data.empty() ? recv_.in_interval(msg.offset)
                                             : recv_.covered(msg.offset, msg.data.size());
  const uint64_t accept_limit = memory_pressure() ? pressure_accept_limit() : UINT64_MAX;
  const ReceiveBuffer::Store stored = recv_.store(msg.offset, msg.data, msg.end, accept_limit);
  if (stored == ReceiveBuffer::Store::out_of_window || stored == ReceiveBuffer::Store::too_fragmented) {
    // Not stored, so not acknowledged: the sender must resend it.
    return;
  }
  if (msg.id == 0) return;  // pure acknowledgements are never acknowledged
  // Out-of-order data, and data that fills a hole, are acknowledged at once so the
  // sender learns about losses and repairs without the delayed-ack wait.
  const bool in_order = msg.offset <= prefix_before && !had_holes && !recv_.has_holes();
  const bool immediate = !in_order || already_here || msg.data.empty() || msg.end != StreamEnd::none;
  AckScheduler::Received r;
  r.id_to_name = already_here ? 0 : msg.id;
  r.data_end = msg.offset + msg.data.size();
  r.immediate = immediate;
  r.individual = !in_order;
  acks_.on_received(now, r, !peer_announced_);
}

AckFields Stream::Impl::take_ack_fields() {
  AckFields ack = recv_.ack_fields();
  ack.acked_id = acks_.take(!peer_announced_, recv_.received_prefix());
  return ack;
}

void Stream::Impl::process_acks(Timestamp now, const AckFields& ack) {
  SendBuffer::AckResult r;
  // The peer names the ID of a message it received: if that is the keepalive or a later
  // one, the keepalive has done its job.
  if (keepalive_tx_ != 0 && ack.acked_id != 0 && send_.transmission_number(ack.acked_id) >= keepalive_tx_) {
    keepalive_tx_ = 0;
  }
  send_.ack_id(ack.acked_id, r);
  std::array<AckRange, 6> ranges;
  const size_t n = decode_ack_ranges(ack, ranges);
  peer_prefix_ = std::max(peer_prefix_, std::min(ranges[0].stop, send_.next_offset()));
  send_.ack_prefix(ranges[0].stop, r);
  for (size_t k = 1; k < n; ++k) send_.ack_range(ranges[k].start, ranges[k].stop, r);

  AckSample sample;
  sample.now = now;
  if (r.has_rtt) {
    sample.rtt = now - r.rtt_sent;
    sample.has_rtt = true;
    rtt_.on_sample(path_, sample.rtt, now, r.rtt_wire_bytes);
  }
  if (r.acked_something) {
    path_.bytes_acked += r.newly_acked_wire_bytes;
    stats_.bytes_sent += r.newly_acked_bytes;
    send_.release_acked();
    backoff_shift_ = 0;
    timeouts_since_ack_ = 0;
    last_timeout_ = Timestamp::never();
    timeout_recovery_ = false;
  }
  if (r.acked_something) loss_check_pending_ = true;
  if (r.acked_something || r.has_rtt) {
    sample.bytes_acked = r.newly_acked_wire_bytes;
    sample.messages_acked = r.newly_acked_messages;
    sample.bytes_in_flight = send_.bytes_in_flight();
    sample.delivered_bytes = path_.bytes_acked;
    sample.app_limited = send_.unblocked_bytes() == 0;
    controller_->on_ack(sample, path_);
  }
}

void Stream::Impl::detect_losses(Timestamp now) {
  // Run once per batch of incoming messages (at the next poll_transmit), not per
  // message: the acknowledgements of one batch name its blocks one ID at a time, and a
  // block named by a later acknowledgement of the same batch must not be counted lost
  // because an earlier one's ranges acknowledged newer blocks.
  if (!loss_check_pending_) return;
  loss_check_pending_ = false;
  const SendBuffer::Losses losses = send_.detect_losses(kLossThresholdMessages);
  if (losses.messages) {
    path_.packets_lost += losses.messages;
    LossSample loss;
    loss.now = now;
    loss.bytes_lost = losses.wire_bytes;
    loss.bytes_in_flight = send_.bytes_in_flight();
    loss.newest_lost_sent = losses.newest_sent;
    controller_->on_loss(loss, path_);
  }
}

void Stream::Impl::check_timeout(Timestamp now) {
  const Duration base = rto();
  // Every transmission older than the timeout is lost.
  uint64_t bytes = 0;
  Timestamp newest_lost_sent = Timestamp::never();
  for (auto oldest = send_.oldest_in_flight_time(); oldest && now >= *oldest + base;
       oldest = send_.oldest_in_flight_time()) {
    newest_lost_sent = *oldest;
    bytes += send_.mark_oldest_lost();
    ++path_.packets_lost;
  }
  if (bytes > 0) {
    // Until an acknowledgement arrives, one message at a time probes the path (TCP's
    // window of one after a timeout), so a blackout costs a few probes, not the window.
    timeout_recovery_ = true;
    // Timeouts within one timeout period are one event, for the statistics, the back-off
    // and the controller, as the reference panics at most once per 4 timeouts
    // (CURVECP.md 7.4).
    if (last_timeout_ == Timestamp::never() || now >= last_timeout_ + base) {
      ++stats_.timeouts;
      backoff_shift_ = std::min(backoff_shift_ + 1, kMaxBackoffShift);
      last_timeout_ = now;
      LossSample loss;
      loss.now = now;
      loss.bytes_lost = bytes;
      loss.bytes_in_flight = send_.bytes_in_flight();
      loss.is_timeout = true;
      loss.timeouts_since_ack = ++timeouts_since_ack_;
      loss.newest_lost_sent = newest_lost_sent;
      controller_->on_loss(loss, path_);
    }
  }
  // Zero-window probe: a curvecp peer's window is closed and nothing is in flight, so
  // no acknowledgement would ever reopen it if its window update were lost.
  if (flow_blocked()) {
    if (probe_deadline_ == Timestamp::never()) probe_deadline_ = now + rto();
    if (now >= probe_deadline_) probe_due_ = true;
  } else {
    probe_deadline_ = Timestamp::never();
    probe_due_ = false;
  }
}

size_t Stream::Impl::poll_transmit(Timestamp now, MutableBytes out, size_t max_message_bytes) {
  last_now_ = std::max(last_now_, now);
  max_message_bytes = std::min({max_message_bytes, out.size(), kMessageMaxBytes});
  if (max_message_bytes < kPureAckBytes) return 0;
  // Pacing is decided before the timeout check: the reference re-sends a timed-out block
  // at once and only then backs off (CURVECP.md 6.7, 7.4), so the controller's reaction
  // to the timeout applies from the next transmission on.
  detect_losses(now);
  const bool pacing_allows = controller_->next_send_time(now) <= now;
  check_timeout(now);

  if (now != burst_time_) {
    burst_time_ = now;
    burst_count_ = 0;
  }
  const bool burst_ok = peer_announced_ || (burst_count_ < kReferenceBurstMessages && now >= burst_hold_until_);
  if (keepalive_due_ && burst_ok && !send_.log_full()) {
    // Outside pacing and the congestion window: one small message per call of
    // send_keepalive, and the controller is not told (its samples stay as they were).
    if (!peer_announced_ && ++burst_count_ >= kReferenceBurstMessages) burst_hold_until_ = now + kReferenceBurstPause;
    return transmit_keepalive(out);
  }
  const bool abort_due = abort_block_due();
  if (burst_ok && pacing_allows && (congestion_allows() || abort_due)) {
    const size_t max_data = std::min(max_data_for(max_message_bytes), max_block_bytes());
    std::optional<uint64_t> seq;
    // abort(): the FAIL goes first, so the peer learns of it within about a round trip.
    if (abort_due) seq = send_.make_block(0, flow_limit(), false);
    // After a timeout one message at a time probes the path: it must be the block at the
    // peer's contiguous prefix, the one data a receiver whose out-of-order table is full
    // (kMaxReceiveIntervals) can still store and acknowledge; any other lost block could be
    // refused on every probe while the back-off grows.
    if (!seq && congestion_allows()) {
      seq = timeout_recovery_ ? send_.lowest_lost() : send_.next_lost();
      if (seq && send_.block(*seq).length > max_data) seq.reset();
    }
    if (!seq && congestion_allows() && new_block_possible()) {
      seq = send_.make_block(max_data, flow_limit(), ping_pending_ || probe_due_);
      // Any new block does the ping's job (CURVECP.md 6.10: the reference's first
      // message carries data when its program has already written some).
      if (seq) ping_pending_ = false;
    }
    if (seq && !send_.log_full()) {
      const size_t n = transmit_block(now, *seq, out);
      if (!peer_announced_ && ++burst_count_ >= kReferenceBurstMessages) burst_hold_until_ = now + kReferenceBurstPause;
      return n;
    }
  }
  if (acks_.due(now)) return transmit_pure_ack(out);
  // Tell the controller once when the stream goes idle (nothing in flight, nothing to
  // send), e.g. to restart from its current estimate rather than a stale rate.
  const bool idle = send_.bytes_in_flight() == 0 && !send_.has_lost() && !new_block_possible();
  if (idle && !idle_) controller_->on_idle(now);
  idle_ = idle;
  return 0;
}

void Stream::Impl::finish_message(MutableBytes message, size_t data_bytes) {
  // Every message announces our receive window (docs/EXTENSIONS.md). The sizes of
  // CURVECP.md 6.2 always leave >= 16 bytes of padding after the header.
  uint64_t limit = recv_.window_limit();
  if (memory_pressure()) {
    // Shrink what we offer, never what we offered: the peer keeps the largest limit.
    limit = std::max(announced_limit_, std::min(limit, recv_.read_offset() + kPressureWindowBytes));
  }
  write_window_extension(WindowAnnouncement{limit},
                         message.subspan(kMessageHeaderBytes, message.size() - kMessageHeaderBytes - data_bytes));
  announced_limit_ = limit;
  ++stats_.messages_sent;
}

size_t Stream::Impl::transmit_block(Timestamp now, uint64_t seq, MutableBytes out) {
  SendBuffer::Block& b = send_.block(seq);
  const bool retransmission = b.transmissions > 0;
  const size_t size = message_size_for_data(b.length);
  MessageFields fields;
  fields.id = send_.record_transmission(seq, now, static_cast<uint32_t>(size));
  fields.ack = take_ack_fields();
  fields.offset = b.offset;
  fields.end = b.end;
  MutableBytes data = encode_message_header(fields, b.length, size, out);
  send_.copy_data(b, data);
  finish_message(out.first(size), b.length);
  if (b.length == 0 && b.end == StreamEnd::none) {
    ping_pending_ = false;
    probe_due_ = false;
    probe_deadline_ = Timestamp::never();
  }
  if (retransmission) ++stats_.retransmissions;
  ++path_.packets_sent;
  SendSample sample;
  sample.now = now;
  sample.bytes = size;
  sample.retransmission = retransmission;
  controller_->on_send(sample);
  return size;
}

size_t Stream::Impl::transmit_keepalive(MutableBytes out) {
  // An empty block without EOF flag, as the reference's ping (CURVECP.md 6.3, 6.10), at
  // our acknowledged prefix: the peer has stored everything below it, so the offset is
  // inside its window whatever its program has read (CURVECP.md 6.1), and it lies below
  // any out-of-order data, so our receiver names its ID (CURVECP.md 9 item 11 rule).
  MessageFields fields;
  keepalive_tx_ = send_.record_blockless_transmission();
  fields.id = static_cast<uint32_t>(keepalive_tx_);
  fields.ack = take_ack_fields();
  fields.offset = send_.acked_offset();
  const size_t size = encode_message(fields, {}, kPureAckBytes, out);
  finish_message(out.first(size), 0);
  keepalive_due_ = false;
  return size;
}

size_t Stream::Impl::transmit_pure_ack(MutableBytes out) {
  MessageFields fields;
  fields.ack = take_ack_fields();
  const size_t size = encode_message(fields, {}, kPureAckBytes, out);
  finish_message(out.first(size), 0);
  return size;
}

Timestamp Stream::Impl::next_timeout() const {
  Timestamp t = acks_.deadline();
  if (keepalive_due_ && !send_.log_full()) {
    t = earliest(t, peer_announced_ ? last_now_ : std::max(last_now_, burst_hold_until_));
  }
  if (loss_check_pending_) t = earliest(t, last_now_);
  if (auto oldest = send_.oldest_in_flight_time()) t = earliest(t, *oldest + rto());
  if (flow_blocked()) {
    t = earliest(t, probe_deadline_ == Timestamp::never() ? last_now_ + rto() : probe_deadline_);
  }
  // A full transmission log stops sending until the oldest transmission is resolved
  // (poll_transmit would return 0), so it must not make the deadline "now".
  const bool sendable = !send_.log_full() && (send_.has_lost() || new_block_possible());
  if ((sendable && congestion_allows()) || abort_block_due()) {
    Timestamp pace = controller_->next_send_time(last_now_);
    if (!peer_announced_) pace = std::max(pace, burst_hold_until_);
    t = earliest(t, pace);
  }
  return t;
}

void Stream::Impl::hand_over(std::unique_ptr<CongestionController> next, std::string_view name,
                             const Priority& previous, Timestamp now) {
  last_now_ = std::max(last_now_, now);
  ControllerHandover h;
  h.now = last_now_;
  h.rate_bytes_per_s = controller_->rate_bytes_per_s();
  h.bytes_in_flight = send_.bytes_in_flight();
  h.previous_name = controller_->name();
  h.previous_yielded = previous.cls == Priority::Class::background;
  h.previous_competing = controller_->competing();
  h.previous_weight = previous.cls == Priority::Class::weighted ? previous.weight : 1.0;
  next->on_handover(h, path_);
  controller_ = std::move(next);
  controller_name_ = std::string(name);
}

Status Stream::Impl::set_priority(const Priority& p, Timestamp now) {
  const bool valid = p.cls != Priority::Class::weighted ||
                     (p.weight >= 1.0 && p.weight <= kMaxPriorityWeight);
  if (!valid) return make_error("invalid priority weight: " + format_priority(p));
  if (p == priority_) return {};
  auto c = make_priority_controller(p, config_.controller, rng_, now);
  if (!c) return make_error("unknown congestion controller: " + config_.controller);
  const Priority previous = priority_;
  priority_ = p;
  const std::string name = p.cls == Priority::Class::normal ? config_.controller : std::string(c->name());
  hand_over(std::move(c), name, previous, now);
  return {};
}

StreamStats Stream::Impl::stats() const {
  StreamStats s = stats_;
  s.bytes_received = recv_.read_offset();
  s.srtt = path_.srtt;
  s.min_rtt = path_.has_rtt_sample ? path_.min_rtt : Duration{0};
  s.rate_bytes_per_s = controller_->rate_bytes_per_s();
  s.bytes_in_flight = send_.bytes_in_flight();
  s.peer_is_curvecp = peer_announced_;
  s.peer_window_bytes = flow_limit() > send_.acked_offset() ? flow_limit() - send_.acked_offset() : 0;
  s.loss = path_.packets_sent > 0 ? static_cast<double>(path_.packets_lost) / static_cast<double>(path_.packets_sent) : 0;
  return s;
}

Result<std::unique_ptr<Stream>> Stream::create(const StreamConfig& config, Rng& rng, Timestamp now) {
  const Priority& p = config.priority;
  if (p.cls == Priority::Class::weighted && !(p.weight >= 1.0 && p.weight <= kMaxPriorityWeight)) {
    return make_error("invalid priority weight: " + format_priority(p));
  }
  auto controller = make_priority_controller(p, config.controller, rng, now);
  if (!controller) return make_error("unknown congestion controller: " + config.controller);
  if (config.send_buffer_bytes == 0 || config.receive_buffer_bytes == 0) {
    return make_error("stream buffers must not be empty");
  }
  return std::unique_ptr<Stream>(new Stream(std::make_unique<Impl>(config, rng, now, std::move(controller))));
}

Stream::Stream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Stream::~Stream() = default;

size_t Stream::send_space() const { return impl_->send_space(); }
size_t Stream::write(Bytes data) { return impl_->write(data); }
void Stream::close_write(bool failure) { impl_->close_write(failure); }
void Stream::abort() { impl_->abort(); }
bool Stream::write_finished() const { return impl_->write_finished(); }
size_t Stream::readable() const { return impl_->readable(); }
size_t Stream::read(MutableBytes out) { return impl_->read(out); }
bool Stream::read_finished() const { return impl_->read_finished(); }
bool Stream::read_failed() const { return impl_->read_failed(); }
bool Stream::peer_failed() const { return impl_->peer_failed(); }
void Stream::on_message(Timestamp now, Bytes message) { impl_->on_message(now, message); }
size_t Stream::poll_transmit(Timestamp now, MutableBytes out, size_t max_message_bytes) {
  return impl_->poll_transmit(now, out, max_message_bytes);
}
Timestamp Stream::next_timeout() const { return impl_->next_timeout(); }
Duration Stream::retransmit_timeout() const { return impl_->retransmit_timeout(); }
Timestamp Stream::last_receive_time() const { return impl_->last_receive_time(); }
void Stream::send_keepalive(Timestamp now) { impl_->send_keepalive(now); }
bool Stream::keepalive_outstanding() const { return impl_->keepalive_outstanding(); }
bool Stream::acknowledgement_owed() const { return impl_->acknowledgement_owed(); }
Status Stream::set_controller(std::string_view name, Timestamp now) { return impl_->set_controller(name, now); }
std::string_view Stream::controller_name() const { return impl_->controller_name(); }
Status Stream::set_priority(const Priority& p, Timestamp now) { return impl_->set_priority(p, now); }
Priority Stream::priority() const { return impl_->priority(); }
StreamStats Stream::stats() const { return impl_->stats(); }

}  // namespace curvecp
