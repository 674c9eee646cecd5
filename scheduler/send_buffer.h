// Send side of a stream (CURVECP.md 6.3, 6.4, 6.7): the application's unacknowledged
// bytes in a ring buffer, the block table (one entry per block of the stream, in stream
// order), and the transmission log that maps each message ID to its block so that an
// acknowledged ID, an RTT sample and loss detection are O(1) per message.
//
// Message IDs: one per transmission (new or repeated), 32 bits on the wire, starting at
// 1 and skipping 0 on wrap (0 marks pure acknowledgements). Internally a 64-bit
// transmission number t whose low 32 bits are the wire ID.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/bytes.h"
#include "core/time.h"
#include "scheduler/byte_ring.h"
#include "scheduler/indexed_ring.h"
#include "scheduler/message.h"

namespace curvecp {

class SendBuffer {
 public:
  enum class BlockState : uint8_t { in_flight, lost, acked };
  struct Block {
    uint64_t offset = 0;
    uint32_t length = 0;
    StreamEnd end = StreamEnd::none;
    BlockState state = BlockState::in_flight;
    uint32_t transmissions = 0;
    uint32_t wire_bytes = 0;   // message size of the last transmission
    uint64_t last_tx = 0;      // transmission number of the last transmission
    Timestamp last_sent;
  };

  // buffer_bytes: bound on unacknowledged application bytes. max_blocks: bound on the
  // block table (and, doubled, on the transmission log).
  // budget: optional, charged for the ring's pages; must outlive the buffer. Once it is
  // exceeded, space() offers only what fits the pages already held (at least one page
  // while none is held, so every stream keeps moving and its acknowledgements keep
  // freeing memory).
  SendBuffer(size_t buffer_bytes, size_t max_blocks, MemoryBudget* budget = nullptr);

  // --- application side ---
  size_t space() const;
  size_t write(Bytes data);
  // Ends the stream after everything written so far (no effect if already closed).
  void close(StreamEnd end);
  // Ends the stream with FAIL right after the bytes already placed in blocks (every
  // block is transmitted when it is made, so: after the highest offset transmitted) and
  // discards the bytes written but never blocked. No effect once the end is in a block
  // (a SUCC already sent stays SUCC: the receivers disagree on which end wins,
  // CURVECP.md 6.1). Returns whether the end is now FAIL.
  bool abort();
  bool closed() const { return end_ != StreamEnd::none; }
  // Everything written, and the end, has been acknowledged.
  bool finished() const { return closed() && end_in_block_ && blocks_.empty(); }

  // --- block creation ---
  // Bytes written but not yet placed in a block.
  uint64_t unblocked_bytes() const { return written_ - blocked_; }
  // Whether the end must still be placed in a block.
  bool end_pending() const { return closed() && !end_in_block_; }
  // Offset the next new block starts at.
  uint64_t next_offset() const { return blocked_; }
  bool table_full() const { return blocks_.full() || log_full(); }
  // Creates the next block: at most max_length bytes and not past limit_offset. It
  // carries the end flag when it takes the last byte of a closed stream. An empty block
  // is made only for a pending end, or when `allow_empty` (ping, window probe).
  // Returns its sequence key, or nullopt if no block can be made.
  std::optional<uint64_t> make_block(size_t max_length, uint64_t limit_offset, bool allow_empty);

  // --- transmission ---
  Block& block(uint64_t seq) { return blocks_.at(seq); }
  // Records a transmission of block `seq` at `now` in a message of wire_bytes bytes and
  // returns its wire ID. Precondition: !log_full().
  uint32_t record_transmission(uint64_t seq, Timestamp now, uint32_t wire_bytes);
  // Two free log slots: one transmission may also skip wire ID 0.
  bool log_full() const { return log_.size() + 2 > log_.max_size(); }
  // Records a transmission that carries no block (a keepalive) and returns its
  // transmission number; its wire ID is the low 32 bits. Acknowledging that ID changes
  // nothing here. Precondition: !log_full().
  uint64_t record_blockless_transmission();
  // The transmission number a wire ID from the peer stands for: the most recent one
  // with those low 32 bits (0 if no transmission has been made yet).
  uint64_t transmission_number(uint32_t wire_id) const;
  // Copies the block's data into out (out.size() == length).
  void copy_data(const Block& b, MutableBytes out) const { ring_.read(b.offset, out); }

  // --- acknowledgements ---
  struct AckResult {
    uint64_t newly_acked_bytes = 0;      // application bytes newly acknowledged
    uint64_t newly_acked_wire_bytes = 0; // message bytes of those blocks that were in flight
    uint64_t newly_acked_messages = 0;   // and how many blocks those were
    bool has_rtt = false;                // acked ID named the last transmission of a block
    Timestamp rtt_sent;                  // when that transmission left
    uint32_t rtt_wire_bytes = 0;         // and its message size
    bool acked_something = false;
  };
  // Applies the acknowledged ID: the peer stored that message's data (both the
  // reference and we refuse to acknowledge data we did not store), so its block is done.
  void ack_id(uint32_t wire_id, AckResult& r);
  // Marks blocks inside [0, stop) (range 1) acknowledged. An end-carrying block needs
  // stop >= its end + 1 (CURVECP.md 6.4; stricter than the reference, see 9 item 10).
  void ack_prefix(uint64_t stop, AckResult& r);
  // Marks blocks completely inside [start, stop) acknowledged (ranges 2..6).
  void ack_range(uint64_t start, uint64_t stop, AckResult& r);
  // Drops acknowledged blocks from the front and frees their buffer space.
  void release_acked();

  // --- loss and retransmission ---
  // Declares lost every in-flight transmission that is `threshold` or more transmissions
  // older than the newest acknowledged one.
  struct Losses {
    uint64_t messages = 0;
    uint64_t wire_bytes = 0;
    // When the newest of them was sent (never() if none).
    Timestamp newest_sent = Timestamp::never();
  };
  Losses detect_losses(uint64_t threshold);
  // Oldest in-flight transmission, for the retransmission timeout.
  std::optional<Timestamp> oldest_in_flight_time() const;
  // Declares the oldest in-flight transmission lost (timeout); returns its wire bytes.
  uint64_t mark_oldest_lost();
  // Next block to retransmit, or nullopt.
  std::optional<uint64_t> next_lost();
  // The lost block with the lowest stream offset, or nullopt (a scan of the table).
  std::optional<uint64_t> lowest_lost() const;
  bool has_lost() const { return lost_count_ != 0; }

  uint64_t bytes_in_flight() const { return in_flight_bytes_; }
  uint64_t acked_offset() const { return acked_; }
  uint64_t written() const { return written_; }
  // Bytes held in ring pages now.
  size_t allocated_bytes() const { return ring_.allocated_bytes(); }
  size_t block_count() const { return blocks_.size(); }

 private:
  struct LogEntry {
    uint64_t seq = UINT64_MAX;  // UINT64_MAX: a skipped ID (wire 0)
  };
  bool current(uint64_t t) const;
  // arrived_tx: the transmission known to have arrived (0: unknown), for loss detection.
  void mark_acked(Block& b, uint64_t arrived_tx, AckResult& r);
  void mark_lost(uint64_t seq);
  std::optional<uint64_t> find_first_at_or_after(uint64_t offset) const;
  void trim_log();

  size_t buffer_bytes_;
  MemoryBudget* budget_;
  ByteRing ring_;
  IndexedRing<Block> blocks_;
  IndexedRing<LogEntry> log_;       // key: transmission number t
  IndexedRing<uint64_t> lost_;      // block seqs waiting for retransmission
  uint64_t lost_key_ = 0;
  uint64_t acked_ = 0;     // stream bytes before the first block in the table
  uint64_t blocked_ = 0;   // stream bytes placed into blocks
  uint64_t written_ = 0;   // stream bytes written by the application
  StreamEnd end_ = StreamEnd::none;
  bool end_in_block_ = false;
  uint64_t next_tx_ = 1;
  uint64_t largest_acked_tx_ = 0;
  uint64_t loss_scan_tx_ = 1;
  uint64_t in_flight_bytes_ = 0;
  size_t lost_count_ = 0;
};

}  // namespace curvecp
