// One CurveCP connection's life, sans-I/O and the same in both roles: a Stream
// (scheduler/stream.h) plus the rules that decide when the connection has failed, when it
// may end, and when it must say something to keep a quiet peer alive. The crypto session
// stays with the endpoint that owns the connection (daemon/server_endpoint.h,
// client/client_engine.h), which opens packets into on_message() and seals what
// poll_message() returns.
//
// A stream ends in exactly one of two ways (ARCHITECTURE.md, "Failure semantics"):
//   clean    both directions ended with EOF, the application is done; the connection
//            lingers a little to re-acknowledge a lost final EOF (CURVECP.md 9 item 12),
//            then closes (EndReason::finished).
//   failure  the peer's FAIL, silence past the idle timeout, a local abort, the end of
//            the nonce space. failed() turns true at once: the owner must stop the
//            local program (its process group) BEFORE its descriptors close, so a
//            program never mistakes a failure for end of input. The connection then
//            tells the peer with FAIL (Stream::abort); unacknowledged after
//            abort_timeout, it closes. Once the FAIL is acknowledged it stays until the
//            peer's own end (which the reference sends in answer) is received and
//            acknowledged, at most a linger, and closes.
//
// Liveness: when the peer has been silent for `keepalive` and nothing of ours awaits an
// answer, a keepalive message goes out that the peer must acknowledge. Silence for
// idle_timeout while something of ours awaits an answer (data, our EOF or a keepalive)
// is a failure. With keepalives on, a vanished peer is noticed within about
// keepalive + idle_timeout in both roles; with them off (Duration::infinite()) only
// while data or an EOF is outstanding (as the reference, CURVECP.md 9 item 9).
#pragma once

#include <cstdint>
#include <memory>

#include "core/bytes.h"
#include "core/result.h"
#include "core/time.h"
#include "scheduler/stream.h"

namespace curvecp {

enum class EndReason : uint8_t {
  none,
  finished,         // clean: both directions ended with EOF, linger over
  close_timeout,    // the application is done and delivered; the peer went silent before finishing
  program_failed,   // the local program failed: our FAIL was acknowledged
  peer_failed,      // the peer ended its stream with FAIL
  idle_timeout,     // the peer was silent while we waited for an answer
  aborted,          // local abort: a signal, shutdown past the drain, a failed spawn
  nonce_exhausted,  // our nonce counter would wrap (CURVECP.md 2.2)
  refused,          // client handshake: ICMP port or host unreachable
  no_answer,        // client handshake: no Cookie within the handshake timeout
  not_accepted,     // client handshake: a Cookie, but the Initiate was never answered
  evicted,          // server: removed to make room for a new connection (table full)
};
const char* end_reason_name(EndReason r);
// Whether a stream that ended this way must look like a failure to the program and the
// user (everything but finished and close_timeout).
bool end_is_failure(EndReason r);

struct ConnectionConfig {
  // Silence from the peer, while something of ours awaits its answer, that fails the
  // connection.
  Duration idle_timeout = Duration::seconds(60);
  // Silence after which a keepalive is sent (capped at idle_timeout / 3 so that two can
  // be lost); Duration::infinite() switches keepalives off.
  Duration keepalive = Duration::seconds(15);
  // After a clean end: how long to keep re-acknowledging the peer's final EOF.
  Duration linger = Duration::seconds(2);
  // Once the application is done (program exited, pipes finished) and everything it
  // wrote has been acknowledged, or it failed: silence from the peer after which the
  // connection ends although the peer has not finished. While a clean program's output
  // is still unacknowledged, only the idle timeout ends the connection, as a failure.
  Duration close_timeout = Duration::seconds(10);
  // After a failure: how long to wait for the peer to acknowledge our FAIL.
  Duration abort_timeout = Duration::seconds(2);
};

class Connection {
 public:
  Connection(std::unique_ptr<Stream> stream, const ConnectionConfig& config, Timestamp now);

  Stream& stream() { return *stream_; }
  const Stream& stream() const { return *stream_; }

  // --- network side (the endpoint) ---
  // An authenticated, decrypted message from the peer.
  void on_message(Timestamp now, Bytes message);
  // The next message to seal, at most max_message_bytes long (see Stream::poll_transmit),
  // or 0 when nothing is due. Runs on_timer(now) first.
  size_t poll_message(Timestamp now, MutableBytes out, size_t max_message_bytes);
  // When poll_message/on_timer next need calling; never() once closed.
  Timestamp next_timeout() const;
  // Applies the lifecycle rules at `now` (failure detection, keepalive, linger, closing).
  void on_timer(Timestamp now);

  // --- application side (the shell's program attachment) ---
  // The local application will neither write nor read any more (program exited and its
  // pipes are finished). `program_failed`: it failed, and its direction was ended with
  // FAIL; the connection then closes once that FAIL is acknowledged and the peer's own
  // end acknowledged in turn (at most a linger later).
  void set_application_done(Timestamp now, bool program_failed);
  bool application_done() const { return app_done_; }
  // Local failure (signal, shutdown past the drain, spawn failure): the peer is told with
  // FAIL at once (unsent data is dropped) and failed() becomes true. Idempotent.
  void abort(Timestamp now, EndReason why = EndReason::aborted);
  // Changes the stream's priority class at `now` (Stream::set_priority: the byte stream
  // and the RTT history are untouched). Fails once the connection has failed or closed.
  Status set_priority(const Priority& p, Timestamp now);
  // The daemon is shutting down: after the application is done, silence from the peer
  // for close_timeout ends the connection even while our output is unacknowledged (as a
  // failure, idle_timeout).
  void set_draining() { draining_ = true; }

  // --- state ---
  // The stream has failed (any failure reason): stop the program before closing its fds.
  bool failed() const { return failed_; }
  // Nothing more to do: the owner removes the connection.
  bool closed() const { return closed_; }
  // Why it failed or closed (none while open and healthy).
  EndReason reason() const { return reason_; }
  // Last authenticated message from the peer.
  Timestamp last_heard() const { return last_heard_; }
  uint64_t keepalives_sent() const { return keepalives_sent_; }

 private:
  void fail(Timestamp now, EndReason why);
  void close(EndReason why);
  bool awaiting_answer() const;
  // Whether silence from the peer after the application is done ends the connection
  // (close_timeout): see connection.cpp.
  bool close_timeout_applies() const;
  // How long to stay after a clean end (linger_until_).
  Duration linger() const;
  // Our FAIL (a failure, or a failed program's end) is acknowledged: the connection is
  // ending and only waits for the peer's own end (on_timer).
  bool fail_acknowledged() const;
  // The peer's end has been received, everything before it read, and acknowledged.
  bool peer_end_acknowledged() const;
  // A FAIL from the peer fails the connection, unless ours already ended it.
  void note_peer_failure(Timestamp now);
  Duration keepalive_interval() const;

  std::unique_ptr<Stream> stream_;
  ConnectionConfig config_;
  Timestamp last_heard_;
  Timestamp awaiting_since_ = Timestamp::never();
  Timestamp last_keepalive_at_ = Timestamp::never();
  Timestamp app_done_at_ = Timestamp::never();
  Timestamp linger_until_ = Timestamp::never();
  Timestamp abort_until_ = Timestamp::never();
  bool app_done_ = false;
  bool program_failed_ = false;
  bool draining_ = false;
  bool failed_ = false;
  bool closed_ = false;
  EndReason reason_ = EndReason::none;
  uint64_t keepalives_sent_ = 0;
};

}  // namespace curvecp
