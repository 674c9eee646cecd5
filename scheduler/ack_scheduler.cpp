#include "scheduler/ack_scheduler.h"

#include <utility>

namespace curvecp {

void AckScheduler::on_received(Timestamp now, const Received& r, bool reference_peer) {
  const Pending entry{r.id_to_name, r.data_end, acks_sent_};
  const bool coalesce = !reference_peer && !r.individual && count_ > 0 && last_coalescable_;
  if (coalesce) {
    // In-order data between curvecp peers: the newest ID replaces the pending one.
    pending_[(head_ + count_ - 1) % pending_.size()] = entry;
  } else {
    // Toward a reference peer: one prompt acknowledgement per message naming its ID,
    // which is how the reference measures RTT (CURVECP.md 6.6, 7.7). Between curvecp
    // peers, too, while data arrives out of order: ranges 2..6 reach only a few hundred
    // KiB around the newest data, so the IDs are what tell the sender which blocks of a
    // batch arrived (otherwise it would count them lost and resend them).
    push(entry);
  }
  last_coalescable_ = !reference_peer && !r.individual;
  if (reference_peer) {
    deadline_ = earliest(deadline_, now);
    return;
  }
  ++unacked_messages_;
  if (r.immediate || unacked_messages_ >= kAckEveryMessages) {
    deadline_ = earliest(deadline_, now);
  } else {
    deadline_ = earliest(deadline_, now + kMaxAckDelay);
  }
}

void AckScheduler::push(const Pending& entry) {
  if (count_ == pending_.size() && pending_.size() < kMaxPending) {
    // Grow: the ring's entries move to the front of a table twice the size.
    std::vector<Pending> grown(pending_.empty() ? kInitialPending : pending_.size() * 2);
    for (size_t i = 0; i < count_; ++i) grown[i] = pending_[(head_ + i) % pending_.size()];
    pending_ = std::move(grown);
    head_ = 0;
  }
  if (count_ == pending_.size()) {
    head_ = (head_ + 1) % pending_.size();
    --count_;
  }
  pending_[(head_ + count_) % pending_.size()] = entry;
  ++count_;
}

uint32_t AckScheduler::take(bool reference_peer, uint64_t received_prefix) {
  uint32_t id = 0;
  if (count_ > 0) {
    const Pending& entry = pending_[head_];
    id = entry.id;
    // CURVECP.md 9 item 11 within a batch: an acknowledgement sent after this message
    // arrived carried ranges that may have covered its out-of-order data, and the
    // reference would then have marked its block (time 0). Its ID is safe to name only
    // once range 1 covers the data (the reference then drops the block from its table).
    if (reference_peer && acks_sent_ > entry.acks_before && entry.data_end > received_prefix) id = 0;
    head_ = (head_ + 1) % pending_.size();
    --count_;
  }
  ++acks_sent_;
  unacked_messages_ = 0;
  if (count_ == 0) {
    deadline_ = Timestamp::never();
    last_coalescable_ = false;
  }
  return id;
}

}  // namespace curvecp
