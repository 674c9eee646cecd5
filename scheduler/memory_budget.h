// A daemon-wide budget for stream buffer memory (docs/MEMORY.md).
//
// Every ByteRing page (send and receive buffers of every stream that was given the
// budget) is charged here when it is allocated and refunded when it is freed. Nothing is
// ever refused by the budget itself: allocation stays driven by what the protocol has
// already allowed the peer to send. Crossing the limit instead makes the streams that
// share the budget ask for less (scheduler/stream.cpp): they announce smaller receive
// windows to curvecp peers, refuse data beyond what any peer was allowed to send, and
// take no more bytes from their programs than fit the pages they already hold. Toward
// reference peers nothing changes on the wire.
//
// Single-threaded, like the daemon: one budget per event loop, owned by the server,
// outliving every stream that points to it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace curvecp {

class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t limit_bytes) : limit_bytes_(limit_bytes) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  void charge(uint64_t bytes) {
    used_bytes_ += bytes;
    if (used_bytes_ > peak_bytes_) peak_bytes_ = used_bytes_;
  }
  void refund(uint64_t bytes) { used_bytes_ -= bytes < used_bytes_ ? bytes : used_bytes_; }

  // True once the pages in use reach the limit: streams shrink what they ask for.
  bool exceeded() const { return used_bytes_ >= limit_bytes_; }
  uint64_t used_bytes() const { return used_bytes_; }
  uint64_t peak_bytes() const { return peak_bytes_; }
  uint64_t limit_bytes() const { return limit_bytes_; }

 private:
  uint64_t limit_bytes_;
  uint64_t used_bytes_ = 0;
  uint64_t peak_bytes_ = 0;
};

}  // namespace curvecp
