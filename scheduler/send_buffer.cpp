#include "scheduler/send_buffer.h"

#include <algorithm>

namespace curvecp {

SendBuffer::SendBuffer(size_t buffer_bytes, size_t max_blocks, MemoryBudget* budget)
    : buffer_bytes_(buffer_bytes),
      budget_(budget),
      ring_(buffer_bytes, budget),
      blocks_(max_blocks),
      log_(2 * max_blocks + 2),
      lost_(2 * max_blocks) {
  log_.reset_keys(next_tx_);
}

size_t SendBuffer::space() const {
  if (closed()) return 0;
  const size_t free_bytes = buffer_bytes_ - static_cast<size_t>(written_ - acked_);
  if (budget_ == nullptr || !budget_->exceeded()) return free_bytes;
  // Over budget: no new page, except a first one (docs/MEMORY.md).
  const size_t room = ring_.allocated_bytes() == 0 ? ring_.page_bytes() - static_cast<size_t>(written_ % ring_.page_bytes())
                                                   : ring_.room_without_allocation(written_);
  return std::min(free_bytes, room);
}

size_t SendBuffer::write(Bytes data) {
  const size_t n = std::min(space(), data.size());
  if (n == 0) return 0;
  // Cannot fail: n fits the free space, and the ring's maximum is >= buffer_bytes.
  (void)ring_.ensure(acked_, written_, written_ + n);
  ring_.write(written_, data.first(n));
  written_ += n;
  return n;
}

void SendBuffer::close(StreamEnd end) {
  if (end_ == StreamEnd::none) end_ = end;
}

bool SendBuffer::abort() {
  if (end_in_block_) return end_ == StreamEnd::fail;
  end_ = StreamEnd::fail;
  written_ = blocked_;
  ring_.release(acked_, written_);
  return true;
}

std::optional<uint64_t> SendBuffer::make_block(size_t max_length, uint64_t limit_offset, bool allow_empty) {
  if (table_full()) return std::nullopt;
  const uint64_t room = limit_offset > blocked_ ? limit_offset - blocked_ : 0;
  const uint64_t length = std::min<uint64_t>({written_ - blocked_, max_length, room});
  const bool takes_rest = blocked_ + length == written_;
  if (length == 0 && !(end_pending() && takes_rest) && !allow_empty) return std::nullopt;
  Block b;
  b.offset = blocked_;
  b.length = static_cast<uint32_t>(length);
  // The block that takes the last byte of a closed stream carries its end; an end
  // known only after all data was blocked goes out as a zero-length block (CURVECP.md 6.3).
  if (end_pending() && takes_rest) {
    b.end = end_;
    end_in_block_ = true;
  }
  blocked_ += length;
  const uint64_t seq = blocks_.back_key();
  blocks_.push_back(b);
  return seq;
}

uint64_t SendBuffer::record_blockless_transmission() {
  if (static_cast<uint32_t>(next_tx_) == 0) {
    log_.push_back(LogEntry{});
    ++next_tx_;
  }
  const uint64_t t = next_tx_++;
  log_.push_back(LogEntry{});  // no block: ack_id() ignores it, trim_log() drops it
  trim_log();
  return t;
}

uint64_t SendBuffer::transmission_number(uint32_t wire_id) const {
  const uint64_t last = next_tx_ - 1;
  const uint32_t back = static_cast<uint32_t>(static_cast<uint32_t>(last) - wire_id);
  return back > last ? 0 : last - back;
}

uint32_t SendBuffer::record_transmission(uint64_t seq, Timestamp now, uint32_t wire_bytes) {
  if (static_cast<uint32_t>(next_tx_) == 0) {
    // Wire ID 0 marks pure acknowledgements: skip it (CURVECP.md 6.3).
    log_.push_back(LogEntry{});
    ++next_tx_;
  }
  const uint64_t t = next_tx_++;
  log_.push_back(LogEntry{seq});
  Block& b = blocks_.at(seq);
  if (b.state == BlockState::in_flight && b.transmissions > 0) in_flight_bytes_ -= b.wire_bytes;
  if (b.state == BlockState::lost) --lost_count_;
  b.state = BlockState::in_flight;
  b.wire_bytes = wire_bytes;
  in_flight_bytes_ += wire_bytes;
  b.last_tx = t;
  b.last_sent = now;
  ++b.transmissions;
  trim_log();
  return static_cast<uint32_t>(t);
}

bool SendBuffer::current(uint64_t t) const {
  const uint64_t seq = log_.at(t).seq;
  if (seq == UINT64_MAX || !blocks_.contains(seq)) return false;
  const Block& b = blocks_.at(seq);
  return b.state == BlockState::in_flight && b.last_tx == t;
}

void SendBuffer::trim_log() {
  while (!log_.empty() && !current(log_.front_key())) log_.pop_front();
}

void SendBuffer::mark_acked(Block& b, uint64_t arrived_tx, AckResult& r) {
  if (b.state == BlockState::acked) return;
  if (b.state == BlockState::in_flight) {
    in_flight_bytes_ -= b.wire_bytes;
    r.newly_acked_wire_bytes += b.wire_bytes;
    ++r.newly_acked_messages;
  } else {
    --lost_count_;
  }
  b.state = BlockState::acked;
  r.newly_acked_bytes += b.length;
  r.acked_something = true;
  largest_acked_tx_ = std::max(largest_acked_tx_, arrived_tx);
}

void SendBuffer::ack_id(uint32_t wire_id, AckResult& r) {
  if (wire_id == 0 || log_.back_key() <= 1) return;
  const uint64_t last = log_.back_key() - 1;
  const uint64_t t = last - static_cast<uint32_t>(static_cast<uint32_t>(last) - wire_id);
  if (!log_.contains(t)) return;
  const uint64_t seq = log_.at(t).seq;
  if (seq == UINT64_MAX || !blocks_.contains(seq)) return;
  Block& b = blocks_.at(seq);
  if (b.state == BlockState::acked) return;
  // An RTT sample only for the latest transmission: an ID names one transmission, so
  // there is no retransmission ambiguity (Karn's rule holds by construction).
  if (b.last_tx == t) {
    r.has_rtt = true;
    r.rtt_sent = b.last_sent;
    r.rtt_wire_bytes = b.wire_bytes;
  }
  mark_acked(b, t, r);
}

namespace {

// Which transmission of a block acknowledged by a range arrived: known only if it was
// sent once. Crediting the latest transmission of a resent block would make every
// transmission since look lost (the acknowledgement may be for the first copy).
uint64_t arrived_tx(const SendBuffer::Block& b) { return b.transmissions == 1 ? b.last_tx : 0; }

// Whether block b lies completely inside [start, stop) (CURVECP.md 6.4). Empty ranges
// acknowledge nothing; an end-carrying block also needs the byte past its end.
bool inside(const SendBuffer::Block& b, uint64_t start, uint64_t stop) {
  if (stop <= start || b.offset < start) return false;
  const uint64_t end = b.offset + b.length;
  return b.end != StreamEnd::none ? end < stop : end <= stop;
}

}  // namespace

void SendBuffer::ack_prefix(uint64_t stop, AckResult& r) {
  for (uint64_t k = blocks_.front_key(); k < blocks_.back_key(); ++k) {
    Block& b = blocks_.at(k);
    if (b.offset > stop) break;
    if (inside(b, 0, stop)) mark_acked(b, arrived_tx(b), r);
  }
}

std::optional<uint64_t> SendBuffer::find_first_at_or_after(uint64_t offset) const {
  uint64_t lo = blocks_.front_key();
  uint64_t hi = blocks_.back_key();
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (blocks_.at(mid).offset < offset) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == blocks_.back_key()) return std::nullopt;
  return lo;
}

void SendBuffer::ack_range(uint64_t start, uint64_t stop, AckResult& r) {
  if (stop <= start) return;
  auto first = find_first_at_or_after(start);
  if (!first) return;
  for (uint64_t k = *first; k < blocks_.back_key(); ++k) {
    Block& b = blocks_.at(k);
    if (b.offset > stop) break;
    if (inside(b, start, stop)) mark_acked(b, arrived_tx(b), r);
  }
}

void SendBuffer::release_acked() {
  while (!blocks_.empty() && blocks_.front().state == BlockState::acked) {
    acked_ = blocks_.front().offset + blocks_.front().length;
    blocks_.pop_front();
  }
  if (blocks_.empty()) acked_ = blocked_;
  ring_.release(acked_, written_);
  trim_log();
}

void SendBuffer::mark_lost(uint64_t seq) {
  Block& b = blocks_.at(seq);
  if (b.state != BlockState::in_flight) return;
  in_flight_bytes_ -= b.wire_bytes;
  b.state = BlockState::lost;
  ++lost_count_;
  if (lost_.full()) {
    // Drop stale entries (blocks since acknowledged or resent); live ones are at most
    // one per block, so this always makes room.
    IndexedRing<uint64_t> fresh(lost_.max_size());
    fresh.reset_keys(0);
    for (uint64_t k = lost_.front_key(); k < lost_.back_key(); ++k) {
      const uint64_t s = lost_.at(k);
      if (blocks_.contains(s) && blocks_.at(s).state == BlockState::lost) fresh.push_back(s);
    }
    lost_ = std::move(fresh);
  }
  lost_.push_back(seq);
}

SendBuffer::Losses SendBuffer::detect_losses(uint64_t threshold) {
  Losses losses;
  if (largest_acked_tx_ <= threshold) return losses;
  const uint64_t limit = std::min(largest_acked_tx_ - threshold, log_.back_key() - 1);
  for (uint64_t t = std::max(loss_scan_tx_, log_.front_key()); t <= limit; ++t) {
    if (!current(t)) continue;
    const uint64_t seq = log_.at(t).seq;
    const Block& block = blocks_.at(seq);
    losses.wire_bytes += block.wire_bytes;
    losses.newest_sent = losses.messages == 0 ? block.last_sent : std::max(losses.newest_sent, block.last_sent);
    ++losses.messages;
    mark_lost(seq);
  }
  loss_scan_tx_ = std::max(loss_scan_tx_, limit + 1);
  trim_log();
  return losses;
}

std::optional<Timestamp> SendBuffer::oldest_in_flight_time() const {
  // The log is trimmed after every change, so its front is the oldest in-flight one.
  if (log_.empty()) return std::nullopt;
  const uint64_t seq = log_.at(log_.front_key()).seq;
  return blocks_.at(seq).last_sent;
}

uint64_t SendBuffer::mark_oldest_lost() {
  trim_log();
  if (log_.empty()) return 0;
  const uint64_t seq = log_.at(log_.front_key()).seq;
  const uint64_t bytes = blocks_.at(seq).wire_bytes;
  mark_lost(seq);
  trim_log();
  return bytes;
}

std::optional<uint64_t> SendBuffer::next_lost() {
  while (!lost_.empty()) {
    const uint64_t seq = lost_.front();
    if (blocks_.contains(seq) && blocks_.at(seq).state == BlockState::lost) return seq;
    lost_.pop_front();
  }
  return std::nullopt;
}

std::optional<uint64_t> SendBuffer::lowest_lost() const {
  if (lost_count_ == 0) return std::nullopt;
  for (uint64_t k = blocks_.front_key(); k < blocks_.back_key(); ++k) {
    if (blocks_.at(k).state == BlockState::lost) return k;
  }
  return std::nullopt;
}

}  // namespace curvecp
