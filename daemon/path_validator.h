// Path validation for a server connection whose client shows up at a new address
// (docs/PATH-VALIDATION.md; the rule of QUIC, RFC 9000 8.2 and 9, in CurveCP terms).
// Sans-I/O and owned by the server endpoint, one per connection.
//
// An authenticated packet from an address other than the proven one makes that address
// a candidate. The candidate gets challenges: 192-byte messages with a random nonzero
// 32-bit message ID, an empty data block at offset 0 and no acknowledgement, which every
// CurveCP message layer (ours and the reference curvecpmessage, CURVECP.md 6.6)
// acknowledges by naming that ID. The connection moves to the candidate only when an
// authenticated message from the candidate names an outstanding challenge ID. Until then
// data keeps going to the proven address, and at most kAmplificationFactor times the
// bytes received from the candidate are sent to it (anti-amplification).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/address.h"
#include "core/bytes.h"
#include "core/rng.h"
#include "core/time.h"

namespace curvecp {

class PathValidator {
 public:
  static constexpr uint64_t kAmplificationFactor = 3;
  static constexpr size_t kChallengeMessageBytes = 192;  // a pure-ack sized message
  // First wait for an answer, doubled per unanswered challenge up to kMaxRetry.
  static constexpr Duration kFirstRetry = Duration::milliseconds(200);
  static constexpr Duration kMaxRetry = Duration::seconds(4);
  // Challenge IDs still accepted as answers (a late answer to an earlier one counts).
  static constexpr size_t kOutstanding = 4;

  // An authenticated datagram of `bytes` bytes arrived from `from`; `proven` is the
  // address the connection sends to. A new address (not proven, not the candidate)
  // becomes the candidate, forgetting the previous one and its byte counts.
  void on_authenticated(Timestamp now, const Address& from, const Address& proven, size_t bytes);
  // A decrypted message that arrived from `from`. If its acknowledged ID names an
  // outstanding challenge, that ID is zeroed in `message` (the stream never saw the
  // challenge) and, when `from` is the candidate, true is returned: the path is
  // validated, the caller moves the connection to candidate() and calls reset().
  bool on_message(const Address& from, MutableBytes message);
  // Writes a challenge message into `out` (>= 192 bytes) when one is due at `now` and a
  // sealed packet of `packet_bytes` fits the amplification budget; returns its length
  // (0 if none). The caller seals it, sends it to candidate() and calls on_sent().
  size_t poll_challenge(Timestamp now, Rng& rng, size_t packet_bytes, MutableBytes out);
  void on_sent(size_t packet_bytes) { bytes_sent_ += packet_bytes; }
  // When poll_challenge next has something to do; never() when idle or out of budget
  // (more bytes from the candidate re-open it).
  Timestamp next_timeout(size_t packet_bytes) const;
  void reset();

  bool active() const { return active_; }
  const Address& candidate() const { return candidate_; }
  uint64_t bytes_received() const { return bytes_received_; }
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t challenges_sent() const { return challenges_sent_; }

 private:
  bool budget_allows(size_t packet_bytes) const {
    return bytes_sent_ + packet_bytes <= kAmplificationFactor * bytes_received_;
  }

  bool active_ = false;
  Address candidate_;
  uint64_t bytes_received_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t challenges_sent_ = 0;
  std::array<uint32_t, kOutstanding> ids_{};  // 0 = unused
  size_t next_slot_ = 0;
  Timestamp due_ = Timestamp::never();
  Duration retry_ = kFirstRetry;
};

}  // namespace curvecp
