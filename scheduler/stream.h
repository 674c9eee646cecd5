// One reliable, ordered, bidirectional byte stream over CurveCP messages (CURVECP.md 6),
// sans-I/O. The owner feeds decrypted messages in with on_message(), drains messages to
// seal and send with poll_transmit(), and arms one timer at next_timeout(). Application
// bytes go in with write()/close_write() and come out with read().
//
// Wire-compatible with the reference curvecpmessage: toward a peer that has not announced
// our extension (docs/EXTENSIONS.md) it never sends past the reference's 128 KiB window
// and keeps messages within 1088 bytes (640 inside client Initiates).
//
// Driving it: after anything that can create work (on_message, write, close_write, read)
// call poll_transmit until it returns 0, then arm the timer at next_timeout(). Feed all
// datagrams that arrived together before polling: acknowledgements between curvecp peers
// are coalesced per batch (at most 2 messages or 1 ms apart); toward a reference peer
// each data message gets its own acknowledgement, riding on data when data leaves.
// Memory per stream grows with use up to about send_buffer_bytes + receive_buffer_bytes
// plus small tables; nothing is allocated per message in steady state.
// The implementation is split: message.h (codec), window_extension.h (the extension
// marker), send_buffer.h (send ring, block table, IDs, loss detection), receive_buffer.h
// (reassembly, ack ranges), ack_scheduler.h (when acks leave, which ID they name),
// rtt_estimator.h (PathState), stream.cpp (flow control, timers, the controller).
//
// Stream is one concrete class (there is one implementation, so no virtual interface).
// Its state lives in Stream::Impl inside stream.cpp (a pimpl): this header stays the
// API and nothing else, and the daemon does not compile against the buffer, ack and
// controller headers. The cost, one more allocation per connection and one forwarding
// call per method, is small beside a message's crypto. create() returns it in a
// unique_ptr, as before, so owners can hold it without knowing its size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "scheduler/congestion.h"
#include "scheduler/priority.h"

namespace curvecp {

enum class StreamRole : uint8_t { client, server };

class MemoryBudget;

struct StreamConfig {
  StreamRole role = StreamRole::server;
  // Memory per connection is bounded by these two buffers (plus small tables). The
  // receive window we announce to curvecp peers equals receive_buffer_bytes.
  size_t send_buffer_bytes = 4 << 20;
  size_t receive_buffer_bytes = 4 << 20;
  // The controller of priority `normal` (a registry name, congestion.h).
  std::string controller = "chicago";
  // The transfer's class (priority.h): normal is `controller`; background and weighted
  // have their own controllers (docs/PRIORITY.md).
  Priority priority;
  // Client side, "server speaks first": send an empty ping block at once (CURVECP.md 6.10)
  // so the Initiate goes out even if the program writes nothing.
  bool ping_at_start = false;
  // Optional daemon-wide budget for buffer pages (scheduler/memory_budget.h,
  // docs/MEMORY.md); must outlive the stream. Once exceeded, the stream announces a
  // smaller receive window, refuses data beyond what the peer may send, and takes no
  // new send page from the application beyond its first.
  MemoryBudget* memory_budget = nullptr;
};

struct StreamStats {
  uint64_t bytes_sent = 0;          // application bytes acknowledged by the peer
  uint64_t bytes_received = 0;      // application bytes delivered
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  uint64_t retransmissions = 0;
  uint64_t timeouts = 0;
  uint64_t bad_messages = 0;        // dropped by the message-format rules
  Duration srtt{0};
  Duration min_rtt{0};
  double rate_bytes_per_s = 0;
  uint64_t bytes_in_flight = 0;
  bool peer_is_curvecp = false;     // peer announced our window extension
  uint64_t peer_window_bytes = 0;
  double loss = 0;                  // data transmissions declared lost / sent (PathState), 0..1
};

class Stream {
 public:
  // `rng` must outlive the stream. Fails only on an unknown controller name.
  static Result<std::unique_ptr<Stream>> create(const StreamConfig& config, Rng& rng, Timestamp now);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // --- application -> network ---
  // Bytes write() would accept now (free send-buffer space; 0 after close_write).
  size_t send_space() const;
  // Copies up to send_space() bytes into the send buffer; returns how many.
  size_t write(Bytes data);
  // Ends our direction after everything written: SUCC, or FAIL when `failure`.
  void close_write(bool failure = false);
  // Ends our direction with FAIL as soon as possible (failure semantics, ARCHITECTURE.md):
  // bytes written but never transmitted are discarded, and the FAIL goes in an empty
  // block right after the highest stream offset already transmitted, ahead of any
  // retransmission and outside the congestion window (pacing still applies), so the
  // peer completes its stream up to there and sees FAIL within about one round trip.
  // Blocks already transmitted are still retransmitted until acknowledged. After
  // close_write(): a SUCC not yet sent becomes FAIL; a SUCC already sent stays (the
  // peer may have it). Idempotent. send_space() is 0 afterwards, and write_finished()
  // becomes true once the FAIL and the bytes before it are acknowledged.
  void abort();
  // Everything we wrote, and our EOF, has been acknowledged.
  bool write_finished() const;

  // --- network -> application ---
  // Contiguous received bytes not yet read.
  size_t readable() const;
  // Copies up to out.size() contiguous bytes out; returns how many.
  size_t read(MutableBytes out);
  // The peer's EOF has arrived and every byte before it has been read.
  bool read_finished() const;
  // The peer ended its stream with FAIL (meaningful once read_finished()).
  bool read_failed() const;
  // A FAIL from the peer has arrived, even if bytes before it are still missing or
  // unread: the peer has given up, and what it sent will not be completed by EOF.
  bool peer_failed() const;

  // --- network side ---
  // A decrypted message from the peer (any length; bad ones are dropped and counted).
  void on_message(Timestamp now, Bytes message);
  // Writes the next message that is due at `now` into `out` (>= 1088 bytes), at most
  // `max_message_bytes` long (640 inside client Initiates), and returns its length
  // (a multiple of 16, 48..1088), or 0 when nothing may be sent now. Call repeatedly
  // until it returns 0; then arm a timer at next_timeout().
  size_t poll_transmit(Timestamp now, MutableBytes out, size_t max_message_bytes);
  // When poll_transmit next needs calling (retransmission, pacing, delayed ack, ping);
  // never() when nothing is pending.
  Timestamp next_timeout() const;

  // Both directions finished: our EOF acknowledged and the peer's EOF fully read.
  bool done() const { return write_finished() && read_finished(); }
  // An acknowledgement of something received is due and has not left yet.
  bool acknowledgement_owed() const;
  // Time of the last message received from the peer (for idle timeouts).
  Timestamp last_receive_time() const;
  // The retransmission timeout now (with back-off). The peer's, on the same path, is
  // about the same: how long to linger after a clean end so that a lost final
  // acknowledgement can be answered when the peer resends (daemon/connection.cpp).
  Duration retransmit_timeout() const;

  // Keepalive: the next poll_transmit (from `now` on; toward a reference peer within its
  // 32-message burst limit; and not while the transmission log is full, when data in
  // flight elicits acknowledgements anyway) sends one 192-byte message that a
  // live peer acknowledges, whatever the state of the stream: an empty data block (no
  // EOF flag) at our acknowledged prefix with a fresh message ID. Both our Stream and the
  // reference curvecpmessage acknowledge every such message naming its ID (CURVECP.md
  // 6.6); the offset is within every window (CURVECP.md 6.1), and the stream does not
  // track it as a block, so range [0,0) (6.4) does not matter, it is never retransmitted,
  // it never counts as in flight or lost, and the controller never sees it (no RTT
  // sample). It is acknowledged when the peer names its ID or any later one. It stays
  // unacknowledged if the message or its acknowledgement is lost, if the peer has gone,
  // or while a reference peer processes no messages (its program has not consumed the
  // data before them, CURVECP.md 6.5; its 64-message queue is full). Calling it again
  // sends a new one. The owner decides liveness from last_receive_time().
  void send_keepalive(Timestamp now);
  // A keepalive was asked for and no acknowledgement naming it (or a later message of
  // ours) has arrived yet.
  bool keepalive_outstanding() const;

  // Switches the congestion controller on a live stream, keeping PathState (RTT and delay
  // history); the new controller continues from the old one's rate
  // (CongestionController::on_handover). The priority becomes normal, with `name` as the
  // normal controller. Fails on an unknown name.
  Status set_controller(std::string_view name, Timestamp now);
  std::string_view controller_name() const;
  // Switches the class on a live stream (docs/PRIORITY.md): the controller of `p`
  // replaces the current one as set_controller does, keeping PathState (RTT, base-delay
  // history) and continuing from the current rate; never touches the byte stream. Setting
  // the current class again changes nothing. Fails only if `p` is invalid (a weight
  // outside [1, 100]).
  Status set_priority(const Priority& p, Timestamp now);
  Priority priority() const;

  StreamStats stats() const;

 private:
  class Impl;
  explicit Stream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace curvecp
