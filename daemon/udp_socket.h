// A non-blocking UDP socket (IPv4 or IPv6) with batched receive and batched send.
//
// Receive: recvmmsg fills up to kReceiveBatch buffers per system call (kGroReceiveBatch,
// each up to 64 KiB, with GRO); with UDP GRO
// (kernel coalescing of same-size datagrams, Linux >= 5.0) one buffer may hold many
// datagrams, which are split again here. The handler sees one batch at a time.
// Send: the caller seals packets straight into the socket's send queue (prepare_send /
// commit_send: no copy) and calls flush(), which hands the queue to sendmmsg. Runs of
// packets to the same address and of the same size (the last may be shorter) go out as
// one UDP GSO super-datagram (UDP_SEGMENT, Linux >= 4.18) when the kernel accepts it;
// if it refuses, GSO is switched off for good and the packets are sent one by one.
// When the kernel's send buffer is full the rest of the queue waits for writability;
// producers check send_queue_free() and are told by the writable handler when to resume.
// Errors: IP_RECVERR (and IPV6_RECVERR on IPv6 sockets) queue each ICMP error about a
// datagram we sent (port unreachable from a dead loopback port, host or network
// unreachable from a router); the queue is drained whenever the socket reports an error
// and each entry goes to the error handler with the destination of the failed datagram.
// No error is fatal to the socket: a pending error returned by sendmmsg/recvmmsg is
// drained and the call retried, never taken as the fault of the datagram in hand.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/address.h"
#include "core/bytes.h"
#include "core/result.h"
#include "core/time.h"
#include "daemon/event_loop.h"
#include "daemon/fd_watcher.h"
#include "daemon/unique_fd.h"

namespace curvecp {

struct Datagram {
  Address from;
  Bytes data;  // valid only during the receive handler call
  // When the kernel received it (SO_TIMESTAMPNS, on the handler's clock): earlier than the
  // handler's `now` when the process was not scheduled at once. Equals `now` without it.
  Timestamp arrived{0};
};

struct UdpSocketOptions {
  // Requested SO_RCVBUF and SO_SNDBUF (forced past rmem_max/wmem_max when privileged).
  int buffer_bytes = 8 << 20;
  bool allow_gso = true;
  bool allow_gro = true;
  // Packets the send queue holds (each slot kMaxSendBytes).
  size_t send_queue_packets = 1024;
};

struct UdpSocketStats {
  uint64_t datagrams_received = 0;
  uint64_t datagrams_sent = 0;
  uint64_t receive_calls = 0;     // recvmmsg calls that returned data
  uint64_t send_calls = 0;        // sendmmsg calls that sent something
  uint64_t gso_sends = 0;         // super-datagrams of 2+ segments
  uint64_t would_block = 0;       // sendmmsg found the socket buffer full
  uint64_t send_errors = 0;       // datagrams dropped because the kernel refused them
  uint64_t truncated = 0;         // received datagrams larger than a buffer (dropped)
  uint64_t icmp_errors = 0;       // ICMP/ICMPv6 errors read from the error queue
  uint64_t other_errors = 0;      // error-queue entries of other origins (ignored)
};

class UdpSocket {
 public:
  // Largest datagram the send queue holds (CurveCP packets are at most 1184 bytes, spec 2.1).
  static constexpr size_t kMaxSendBytes = 1184;
  static constexpr size_t kReceiveBatch = 64;
  // Buffers per recvmmsg with GRO, where each holds up to 64 datagrams: a batch (up to
  // 8 x 64 KiB) stays in the CPU's cache between the kernel's copy and our decryption.
  // When the buffers come back holding single small datagrams (a handshake flood, many
  // small flows: the kernel coalesced nothing) the next call uses kReceiveBatch of them,
  // so that such a flood costs one system call per 64 datagrams rather than per 8.
  static constexpr size_t kGroReceiveBatch = 8;

  // Called for every received batch. It must not destroy the socket.
  using ReceiveHandler = std::function<void(std::span<const Datagram> batch, Timestamp now)>;
  // Called once after a wake-up's batches (set_receive_done_handler).
  using ReceiveDoneHandler = std::function<void(Timestamp now)>;
  // Called when a send queue that had filled up has drained (producers may resume).
  using WritableHandler = std::function<void(Timestamp now)>;
  // Called for each ICMP error about a datagram we sent: `destination` is the address
  // that datagram was sent to (IPv4 destinations of an IPv6 socket come as v4-mapped
  // IPv6 addresses), `error` an errno value: ECONNREFUSED (port unreachable),
  // EHOSTUNREACH, ENETUNREACH, EACCES (administratively prohibited), EMSGSIZE, ...
  // Also called with the destination when the kernel refuses a datagram at once with
  // ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EHOSTDOWN or ENETDOWN (the datagram is then
  // dropped and counted in send_errors). Runs from the socket's readiness callback or at
  // the end of flush(), never re-entrantly; it may send and flush, but must not destroy
  // the socket.
  using ErrorHandler = std::function<void(const Address& destination, int error, Timestamp now)>;

  // Creates the socket, binds it to `local` (port 0 picks a free port) and starts
  // receiving. Fails with one line naming the system call and the errno text.
  static Result<std::unique_ptr<UdpSocket>> open(EventLoop& loop, const Address& local, ReceiveHandler on_receive,
                                                 const UdpSocketOptions& options = {});
  ~UdpSocket() = default;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  // The bound address (with the actual port).
  const Address& local_address() const { return local_; }
  void set_writable_handler(WritableHandler handler) { on_writable_ = std::move(handler); }
  // Without a handler, errors are still drained and counted (stats()).
  void set_error_handler(ErrorHandler handler) { on_error_ = std::move(handler); }
  // Called once after a wake-up's batches (up to kReceiveRounds) have all been handed to
  // the receive handler, with the time of the last: work that need not be repeated per
  // batch (arming a timer) can wait for it. Not called when nothing was received.
  void set_receive_done_handler(ReceiveDoneHandler handler) { on_receive_done_ = std::move(handler); }
  // Stops (false) or resumes (true) reading from the socket.
  void set_receiving(bool on);

  // --- sending ---
  // A buffer of kMaxSendBytes for the next packet, or an empty span when the queue is
  // full (flush, then wait for the writable handler).
  MutableBytes prepare_send();
  // Queues the first `bytes` of the buffer from prepare_send() for `to`.
  void commit_send(const Address& to, size_t bytes);
  // Copies `packet` into the queue; false when the queue is full.
  bool send(const Address& to, Bytes packet);
  // Hands queued packets to the kernel; whatever does not fit waits for writability.
  void flush();
  size_t send_queue_size() const { return queued_; }
  size_t send_queue_free() const { return slots_.size() - queued_; }

  bool gso_enabled() const { return gso_; }
  bool gro_enabled() const { return gro_; }
  const UdpSocketStats& stats() const { return stats_; }
  int fd() const { return fd_.get(); }

 private:
  struct SendSlot {
    sockaddr_storage to;
    socklen_t to_len;
    uint16_t bytes;
    alignas(16) uint8_t data[kMaxSendBytes];
  };

  struct PendingError {
    Address destination;
    int error;
  };

  // Headers per sendmmsg call.
  static constexpr size_t kSendBatch = 64;

  UdpSocket(EventLoop& loop, ReceiveHandler on_receive) : loop_(loop), on_receive_(std::move(on_receive)) {}
  // --- set-up (open) ---
  // UDP_SEGMENT and UDP_GRO where the options allow them and the kernel accepts them.
  void enable_offloads(const UdpSocketOptions& options);
  // Every receive and send buffer, once (the receive buffer size depends on gro_).
  void allocate_buffers(const UdpSocketOptions& options);

  void on_ready(int events, Timestamp now);
  void update_watch();

  // --- receiving ---
  // Up to kReceiveRounds recvmmsg calls, each batch handed to the receive handler.
  void receive(Timestamp now);
  // The rounds of receive(); true if any datagram was handed over.
  bool receive_rounds(Timestamp now);
  // Points the kReceiveBatch headers at their buffers again (recvmmsg overwrote the
  // name and control lengths, flags and msg_len).
  void reset_receive_headers();
  // With GRO, how many buffers the next recvmmsg offers (receive_slots_in_use_), from the
  // `messages` buffers the last one filled.
  void adapt_receive_slots(size_t messages);
  // Splits the first `messages` received buffers into batch_ and hands it over.
  void deliver_received(size_t messages, Timestamp now);
  // Appends the datagrams of buffer `message` (several with GRO) to batch_, handing a
  // full batch over first.
  void append_datagrams(size_t message, Timestamp now);

  // --- sending ---
  // sendmmsg until the queue is empty or the socket buffer is full.
  void flush_queue();
  // Fills send_headers_ from the queue (at most kSendBatch headers, each one packet or a
  // GSO run) and send_run_slots_ with the slots each covers; returns the header count.
  size_t build_send_batch();
  // How many of the `available` queued slots from `first` on can share one GSO header:
  // same destination, same size (the last may be shorter), within the kernel's limits.
  size_t gso_run_length(size_t first, size_t available) const;
  // Header `header` for `count` slots from `first`, using iovecs from `iov_first` on.
  void fill_send_header(size_t header, size_t first, size_t count, size_t iov_first);
  // Acts on a failed sendmmsg (errno `err`): wait for writability, give up GSO, drain
  // the error queue for a retry or drop the first run. `retried` says whether this
  // failure came right after such a retry; returns that for the next failure.
  bool handle_send_error(int err, bool retried);
  // Drops the first header's slots, reporting a reachability error for its destination.
  void drop_refused_run(int err);
  // Counts and releases the slots of the first `sent_headers` headers.
  void complete_send(size_t sent_headers);
  // Frees `count` slots at the head of the queue.
  void release_slots(size_t count);

  // Reads the error queue (bounded per call) into pending_errors_.
  void drain_error_queue();
  // Hands pending_errors_ to the error handler (not re-entrantly).
  void report_errors(Timestamp now);

  EventLoop& loop_;
  ReceiveHandler on_receive_;
  ReceiveDoneHandler on_receive_done_;
  WritableHandler on_writable_;
  ErrorHandler on_error_;
  std::vector<PendingError> pending_errors_;
  bool reporting_errors_ = false;
  UniqueFd fd_;
  std::unique_ptr<FdWatcher> watcher_;
  Address local_;
  bool gso_ = false;
  bool gro_ = false;
  bool timestamps_ = false;   // SO_TIMESTAMPNS accepted
  int64_t real_now_ns_ = 0;   // CLOCK_REALTIME when the current batch was read
  Timestamp mono_now_{0};     // and the monotonic clock at the same moment
  bool receiving_ = true;
  bool waiting_writable_ = false;

  // Receive side: buffers, headers and the split-up batch, allocated once.
  size_t receive_buffer_bytes_ = 0;
  size_t receive_slots_in_use_ = kReceiveBatch;  // per recvmmsg: kGroReceiveBatch with GRO
                                                 // unless the last call coalesced nothing
  // Not zero-filled: pages the kernel never writes (slots past the ones small datagrams
  // use, the tails of 64-KiB GRO slots) are never committed.
  std::unique_ptr<uint8_t[]> receive_buffers_;
  std::vector<mmsghdr> receive_headers_;
  std::vector<iovec> receive_iovecs_;
  std::vector<sockaddr_storage> receive_addresses_;
  std::vector<std::array<uint8_t, 64>> receive_controls_;
  std::vector<Datagram> batch_;

  // Send side: a ring of slots from head_ (oldest unsent), queued_ long.
  std::vector<SendSlot> slots_;
  size_t head_ = 0;
  size_t queued_ = 0;
  std::vector<mmsghdr> send_headers_;
  std::vector<iovec> send_iovecs_;
  std::vector<std::array<uint8_t, 64>> send_controls_;
  // Slots covered by each header of the batch being sent (build_send_batch).
  std::array<size_t, kSendBatch> send_run_slots_{};

  UdpSocketStats stats_;
};

}  // namespace curvecp
