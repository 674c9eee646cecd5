// When acknowledgements leave and which message ID each one names (docs/EXTENSIONS.md
// section 2; CURVECP.md 6.6, 7.7, 9 item 11). The ranges themselves come from the
// receive buffer at the moment a message leaves; this class only owns the queue of IDs
// to name and the deadline of the next acknowledgement.
//
// Toward a reference peer: one acknowledgement per received message, naming its ID, at
// once. Between curvecp peers: in-order data is coalesced (one per 2 messages or 1 ms,
// naming the newest), out-of-order messages each get their own, at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/time.h"

namespace curvecp {

class AckScheduler {
 public:
  // Delayed acknowledgements between curvecp peers: every 2nd message or after 1 ms.
  static constexpr uint32_t kAckEveryMessages = 2;
  static constexpr Duration kMaxAckDelay = Duration::milliseconds(1);
  // IDs waiting to be named: one per message toward a reference peer, one per
  // out-of-order message between curvecp peers (a batch of a few hundred datagrams).
  // When full, the oldest is dropped: later acknowledgements still carry its ranges.
  // The queue grows on demand (doubling from kInitialPending) up to this size and keeps
  // its size: an idle connection holds a few entries, not 12 KiB (docs/MEMORY.md).
  static constexpr size_t kMaxPending = 512;
  static constexpr size_t kInitialPending = 4;

  struct Received {
    uint32_t id_to_name = 0;  // the message's ID, or 0 when naming it is unsafe
    uint64_t data_end = 0;    // end of its data in the stream
    bool immediate = false;   // acknowledge at once (curvecp peers; reference: always)
    bool individual = false;  // its own acknowledgement (curvecp peers: out of order)
  };

  // A message with a nonzero ID was stored at `now`.
  void on_received(Timestamp now, const Received& r, bool reference_peer);
  // Asks for an acknowledgement (with ID 0 if nothing is pending) no later than `when`:
  // window updates.
  void request(Timestamp when) { deadline_ = earliest(deadline_, when); }

  // When the next acknowledgement is due; never() if none is owed.
  Timestamp deadline() const { return deadline_; }
  bool due(Timestamp now) const { return deadline_ <= now; }

  // For a message about to leave (pure acknowledgement or data): returns the ID it names
  // (0 for none) and consumes it. received_prefix: the receive buffer's contiguous prefix,
  // for the 9 item 11 rule inside a batch.
  uint32_t take(bool reference_peer, uint64_t received_prefix);

 private:
  struct Pending {
    uint32_t id = 0;
    uint64_t data_end = 0;
    uint64_t acks_before = 0;  // acks_sent_ when it was queued
  };
  // Appends `entry`, growing the ring or dropping the oldest when full.
  void push(const Pending& entry);
  std::vector<Pending> pending_;  // a ring: head_, count_

  size_t head_ = 0;
  size_t count_ = 0;
  bool last_coalescable_ = false;
  uint32_t unacked_messages_ = 0;
  uint64_t acks_sent_ = 0;
  Timestamp deadline_ = Timestamp::never();
};

}  // namespace curvecp
