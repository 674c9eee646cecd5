// A circular byte buffer addressed by absolute stream offsets (offset & (capacity - 1)).
// It grows lazily by doubling, up to a fixed maximum, so an idle connection costs little
// and a busy one allocates only while ramping up, never per message in steady state.
// The caller keeps track of which offsets are live; the ring only stores bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/bytes.h"

namespace curvecp {

class ByteRing {
 public:
  // The ring never holds more than max_bytes rounded up to a power of two.
  explicit ByteRing(size_t max_bytes);

  size_t capacity() const { return capacity_; }
  size_t max_capacity() const { return max_capacity_; }

  // Makes room so that offsets [base, need_end) can be stored at once, keeping the bytes
  // of [base, live_end) (live_end <= need_end). Returns false, changing nothing, if
  // need_end - base exceeds the maximum capacity.
  bool ensure(uint64_t base, uint64_t live_end, uint64_t need_end);

  // Copies data to stream offsets [offset, offset + data.size()); that span must be
  // within what ensure() made room for. At most two memcpys.
  void write(uint64_t offset, Bytes data);
  // Copies stream offsets [offset, offset + out.size()) into out.
  void read(uint64_t offset, MutableBytes out) const;

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t capacity_ = 0;
  size_t max_capacity_ = 0;
};

}  // namespace curvecp
