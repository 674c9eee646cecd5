#include "scheduler/byte_ring.h"

#include <algorithm>
#include <cstring>

namespace curvecp {

namespace {

size_t round_up_pow2(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

// First capacity: small enough that idle connections are cheap.
constexpr size_t kInitialCapacity = 16 * 1024;

}  // namespace

ByteRing::ByteRing(size_t max_bytes) : max_capacity_(round_up_pow2(std::max<size_t>(max_bytes, 1))) {}

bool ByteRing::ensure(uint64_t base, uint64_t live_end, uint64_t need_end) {
  const uint64_t need = need_end - base;
  if (need <= capacity_) return true;
  if (need > max_capacity_) return false;
  size_t new_capacity = capacity_ ? capacity_ : std::min(kInitialCapacity, max_capacity_);
  while (new_capacity < need) new_capacity <<= 1;
  auto fresh = std::make_unique<uint8_t[]>(new_capacity);
  const size_t new_mask = new_capacity - 1;
  // Move the live bytes to their positions under the new mask, in pieces that wrap
  // neither in the old nor in the new buffer.
  uint64_t pos = base;
  while (capacity_ != 0 && pos < live_end) {
    const size_t old_index = pos & (capacity_ - 1);
    const size_t new_index = pos & new_mask;
    const uint64_t n = std::min<uint64_t>({live_end - pos, capacity_ - old_index, new_capacity - new_index});
    std::memcpy(fresh.get() + new_index, data_.get() + old_index, n);
    pos += n;
  }
  data_ = std::move(fresh);
  capacity_ = new_capacity;
  return true;
}

void ByteRing::write(uint64_t offset, Bytes data) {
  if (data.empty()) return;
  const size_t index = offset & (capacity_ - 1);
  const size_t first = std::min(data.size(), capacity_ - index);
  std::memcpy(data_.get() + index, data.data(), first);
  if (first < data.size()) std::memcpy(data_.get(), data.data() + first, data.size() - first);
}

void ByteRing::read(uint64_t offset, MutableBytes out) const {
  if (out.empty()) return;
  const size_t index = offset & (capacity_ - 1);
  const size_t first = std::min(out.size(), capacity_ - index);
  std::memcpy(out.data(), data_.get() + index, first);
  if (first < out.size()) std::memcpy(out.data() + first, data_.get(), out.size() - first);
}

}  // namespace curvecp
