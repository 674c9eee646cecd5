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

}  // namespace

ByteRing::ByteRing(size_t max_bytes, MemoryBudget* budget)
    : page_bytes_(std::min(kPageBytes, round_up_pow2(std::max<size_t>(max_bytes, 1)))),
      max_capacity_((std::max<size_t>(max_bytes, 1) + page_bytes_ - 1) / page_bytes_ * page_bytes_),
      slot_count_(max_capacity_ / page_bytes_ + 1),
      budget_(budget) {}

ByteRing::~ByteRing() {
  if (budget_ != nullptr) budget_->refund(allocated_bytes());
}

bool ByteRing::ensure(uint64_t base, uint64_t live_end, uint64_t need_end) const {
  (void)live_end;
  return need_end - base <= max_capacity_;
}

size_t ByteRing::room_without_allocation(uint64_t offset) const {
  if (!slots_) return 0;
  const uint64_t page = offset / page_bytes_;
  const Slot& slot = slots_[page % slot_count_];
  if (!slot.data || slot.page != page) return 0;
  return static_cast<size_t>((page + 1) * page_bytes_ - offset);
}

uint8_t* ByteRing::page_for_write(uint64_t page_number) {
  if (!slots_) slots_ = std::make_unique<Slot[]>(slot_count_);
  Slot& slot = slots_[page_number % slot_count_];
  if (!slot.data) {
    // Not zero-filled: only written bytes are ever read back (make_unique<T[]>(n) would
    // touch every byte of the page).
    slot.data.reset(new uint8_t[page_bytes_]);
    ++pages_;
    if (budget_ != nullptr) budget_->charge(page_bytes_);
  }
  // A slot holding another page holds a dead one: live spans are at most max_capacity_
  // long, so they never touch two pages of one slot. Its memory is reused.
  slot.page = page_number;
  return slot.data.get();
}

void ByteRing::write(uint64_t offset, Bytes data) {
  while (!data.empty()) {
    const uint64_t page = offset / page_bytes_;
    const size_t in_page = static_cast<size_t>(offset % page_bytes_);
    const size_t n = std::min(data.size(), page_bytes_ - in_page);
    std::memcpy(page_for_write(page) + in_page, data.data(), n);
    data = data.subspan(n);
    offset += n;
  }
}

void ByteRing::read(uint64_t offset, MutableBytes out) const {
  while (!out.empty()) {
    const uint64_t page = offset / page_bytes_;
    const size_t in_page = static_cast<size_t>(offset % page_bytes_);
    const size_t n = std::min(out.size(), page_bytes_ - in_page);
    const Slot* slot = slots_ ? &slots_[page % slot_count_] : nullptr;
    if (slot != nullptr && slot->data && slot->page == page) {
      std::memcpy(out.data(), slot->data.get() + in_page, n);
    } else {
      std::memset(out.data(), 0, n);
    }
    out = out.subspan(n);
    offset += n;
  }
}

void ByteRing::free_slot(Slot& slot) {
  if (!slot.data) return;
  slot.data.reset();
  --pages_;
  if (budget_ != nullptr) budget_->refund(page_bytes_);
}

void ByteRing::release(uint64_t base, uint64_t live_end) {
  if (slots_ && base >= live_end) {
    for (size_t s = 0; s < slot_count_; ++s) free_slot(slots_[s]);
    slots_.reset();
  }
  release_below(base / page_bytes_);
}

void ByteRing::release_below(uint64_t first_live) {
  if (first_live <= released_page_) return;
  if (slots_) {
    auto release_slot = [&](Slot& slot) {
      if (slot.data && slot.page < first_live) free_slot(slot);
    };
    if (first_live - released_page_ >= slot_count_) {
      for (size_t s = 0; s < slot_count_; ++s) release_slot(slots_[s]);
    } else {
      for (uint64_t p = released_page_; p < first_live; ++p) release_slot(slots_[p % slot_count_]);
    }
    if (pages_ == 0) slots_.reset();
  }
  released_page_ = first_live;
}

}  // namespace curvecp
