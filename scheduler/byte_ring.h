// A byte buffer addressed by absolute stream offsets, made of fixed-size pages that are
// allocated when data is written into them and freed when the caller's live span moves
// past them (docs/MEMORY.md). Memory therefore follows the data: an idle stream holds no
// page, and a byte written far ahead of the rest (out-of-order data near the top of a
// window) costs the one page it touches, not the span up to it.
//
// Pages are found through a small slot table: the page holding offset o is number
// o / page_bytes, kept in slot (o / page_bytes) % slot_count. A live span never exceeds
// max_capacity() bytes (ensure() checks), so it touches at most slot_count pages and no
// two live pages share a slot. The slot table itself (16 bytes per slot, 257 slots for a
// 4 MiB ring) is allocated with the first page and freed with the last.
//
// The caller keeps track of which offsets are live; the ring only stores bytes. Pages
// are charged to an optional MemoryBudget, which must outlive the ring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/bytes.h"
#include "scheduler/memory_budget.h"

namespace curvecp {

class ByteRing {
 public:
  // Page size for rings of at least this size; smaller rings use one page of their size.
  static constexpr size_t kPageBytes = 16 * 1024;

  // The ring never holds a live span longer than max_bytes (rounded up to whole pages).
  explicit ByteRing(size_t max_bytes, MemoryBudget* budget = nullptr);
  ~ByteRing();
  ByteRing(const ByteRing&) = delete;
  ByteRing& operator=(const ByteRing&) = delete;

  size_t max_capacity() const { return max_capacity_; }
  size_t page_bytes() const { return page_bytes_; }
  // Bytes held in pages now (what this ring charges to the budget), slot table excluded.
  size_t allocated_bytes() const { return pages_ * page_bytes_; }
  // Bytes that can be written at `offset` without allocating a page.
  size_t room_without_allocation(uint64_t offset) const;

  // Whether offsets [base, need_end) fit at once (need_end - base <= max_capacity()).
  // Allocates nothing: pages come with write(). live_end is kept for the callers'
  // symmetry with release() and must satisfy base <= live_end <= need_end.
  bool ensure(uint64_t base, uint64_t live_end, uint64_t need_end) const;

  // Copies data to stream offsets [offset, offset + data.size()), allocating the pages
  // it touches; that span must lie within one ensure()d live span.
  void write(uint64_t offset, Bytes data);
  // Copies stream offsets [offset, offset + out.size()) into out. Bytes of a page never
  // written read as zeros (callers only read what they wrote).
  void read(uint64_t offset, MutableBytes out) const;

  // The live span is now [base, live_end): frees every page that lies entirely below
  // base, and every page once nothing is live (base >= live_end).
  void release(uint64_t base, uint64_t live_end);

 private:
  uint8_t* page_for_write(uint64_t page_number);
  struct Slot {
    std::unique_ptr<uint8_t[]> data;
    uint64_t page = 0;  // number of the page data holds
  };
  void free_slot(Slot& slot);
  // Frees every page numbered below first_live.
  void release_below(uint64_t first_live);

  size_t page_bytes_;
  size_t max_capacity_;
  size_t slot_count_;
  MemoryBudget* budget_;
  std::unique_ptr<Slot[]> slots_;
  size_t pages_ = 0;
  uint64_t released_page_ = 0;  // pages numbered below this have been freed
};

}  // namespace curvecp
