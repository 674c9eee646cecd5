#include "daemon/path_validator.h"

#include <algorithm>

#include "scheduler/message.h"

namespace curvecp {

namespace {
// Byte offset of the acknowledged message ID in a message (CURVECP.md 6.1).
constexpr size_t kAckedIdOffset = 4;
}  // namespace

void PathValidator::on_authenticated(Timestamp now, const Address& from, const Address& proven, size_t bytes) {
  if (from == proven) return;
  if (!active_ || from != candidate_) {
    reset();
    active_ = true;
    candidate_ = from;
    due_ = now;
  }
  bytes_received_ += bytes;
}

bool PathValidator::on_message(const Address& from, MutableBytes message) {
  if (!active_ || message.size() < kMessageHeaderBytes) return false;
  const uint32_t acked = load_le32(message.data() + kAckedIdOffset);
  if (acked == 0 || std::find(ids_.begin(), ids_.end(), acked) == ids_.end()) return false;
  // The stream did not send this ID: it must not mistake it for one of its own.
  store_le32(message.data() + kAckedIdOffset, 0);
  return from == candidate_;
}

size_t PathValidator::poll_challenge(Timestamp now, Rng& rng, size_t packet_bytes, MutableBytes out) {
  if (!active_ || now < due_ || !budget_allows(packet_bytes)) return 0;
  // A random nonzero ID: an attacker who cannot see the candidate's traffic has to
  // guess it (one in 2^32 per forged answer).
  uint32_t id = 0;
  while (id == 0) id = static_cast<uint32_t>(rng.next_u64());
  MessageFields fields;
  fields.id = id;
  if (encode_message(fields, Bytes(), kChallengeMessageBytes, out) == 0) return 0;
  ids_[next_slot_] = id;
  next_slot_ = (next_slot_ + 1) % kOutstanding;
  ++challenges_sent_;
  due_ = now + retry_;
  retry_ = std::min(retry_ * 2, kMaxRetry);
  return kChallengeMessageBytes;
}

Timestamp PathValidator::next_timeout(size_t packet_bytes) const {
  if (!active_ || !budget_allows(packet_bytes)) return Timestamp::never();
  return due_;
}

void PathValidator::reset() { *this = PathValidator(); }

}  // namespace curvecp
