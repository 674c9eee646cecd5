// Receive side of a stream (CURVECP.md 6.5): reassembly of out-of-order data into a
// ring buffer, the contiguous prefix, the peer's end of stream, and the acknowledgement
// ranges that describe what has arrived (CURVECP.md 6.1, 6.6).
//
// Out-of-order data is tracked as a small sorted list of byte intervals, never per-byte
// flags (CURVECP.md 9 item 6). Memory is bounded: at most window_bytes of buffer, in
// pages allocated as data arrives and freed as the application reads it (byte_ring.h),
// and max_intervals intervals; data that would exceed either is refused, and the
// caller must then not acknowledge the message that carried it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/bytes.h"
#include "scheduler/byte_ring.h"
#include "scheduler/message.h"

namespace curvecp {

class ReceiveBuffer {
 public:
  // window_bytes: bytes accepted beyond what the application has read.
  // budget: optional, charged for the buffer's pages; must outlive the buffer.
  ReceiveBuffer(size_t window_bytes, size_t max_intervals, MemoryBudget* budget = nullptr);

  enum class Store : uint8_t {
    stored,          // some new bytes were stored (or the end became known)
    duplicate,       // everything was already here
    out_of_window,   // ends beyond read_offset() + window: refused
    too_fragmented,  // would need more than max_intervals intervals: refused
  };

  // Stores `data` at stream offset `offset` (bytes below the contiguous prefix are
  // ignored) and records the end of stream when `end` is not none. Data ending beyond
  // accept_limit (absolute offset; the caller's tighter limit under memory pressure) is
  // refused as out_of_window, like data beyond the window.
  Store store(uint64_t offset, Bytes data, StreamEnd end, uint64_t accept_limit = UINT64_MAX);

  // True if stream positions [offset, offset + len] (closed: a zero-length block at P
  // counts as covered when P is inside or at the edge of received data) have all
  // arrived already, so an acknowledgement could already have named them.
  bool covered(uint64_t offset, size_t len) const;

  // True if position p lies inside or at an edge of an interval above the contiguous
  // prefix, i.e. where one of ranges 2..6 may have named it.
  bool in_interval(uint64_t p) const;

  // Bytes readable now (contiguous and not yet read; never past the announced end, even
  // if a confused peer sent data beyond it).
  size_t readable() const {
    const uint64_t limit = end_known() ? std::min(prefix_, total_) : prefix_;
    return limit > read_ ? static_cast<size_t>(limit - read_) : 0;
  }
  // Copies up to out.size() readable bytes out; returns how many.
  size_t read(MutableBytes out);

  uint64_t read_offset() const { return read_; }
  // Bytes held in buffer pages now.
  size_t allocated_bytes() const { return ring_.allocated_bytes(); }
  uint64_t received_prefix() const { return prefix_; }
  // Absolute offset up to which data is accepted (exclusive).
  uint64_t window_limit() const { return read_ + window_; }
  bool end_known() const { return end_ != StreamEnd::none; }
  bool failed() const { return end_ == StreamEnd::fail; }
  // The end has arrived and every byte before it has been read.
  bool finished() const { return end_known() && read_ >= total_; }
  // Whether data beyond the contiguous prefix is waiting (a hole exists).
  bool has_holes() const { return !intervals_.empty(); }
  // Whether the end of stream has arrived and the data up to it is complete.
  bool complete() const { return end_known() && prefix_ >= total_; }

  // Range 1 = contiguous prefix, plus one once the end has arrived and everything before
  // it too (CURVECP.md 6.6); ranges 2..6 describe out-of-order intervals around the most
  // recently stored data (each at most 65535 bytes, gaps 2..5 at most 65535; a range
  // is clipped rather than overstated). acked_id is left 0.
  AckFields ack_fields() const;

 private:
  struct Interval {
    uint64_t start;
    uint64_t end;
  };
  void insert(uint64_t start, uint64_t end);

  ByteRing ring_;
  size_t window_;
  size_t max_intervals_;
  std::vector<Interval> intervals_;  // sorted, disjoint, non-adjacent, all above prefix_
  uint64_t read_ = 0;
  uint64_t prefix_ = 0;
  uint64_t highest_end_ = 0;   // end of the most recently stored data
  uint64_t total_ = 0;
  StreamEnd end_ = StreamEnd::none;
};

}  // namespace curvecp
