// Port forwarding's plaintext side: moves bytes between a curvecp::Stream and one TCP
// connection, in the event loop, non-blocking, no extra process. Used by `serve
// --forward` (a new outgoing connection per CurveCP connection) and `connect --listen`
// (an accepted one), through daemon/attachment.h, as the Pump serves a program's pipes.
//
// Like the Pump, the bridge does its I/O only inside transfer(); its socket watcher and
// the connect timer only record what became ready and call the wake handler.
//
// Ending, both directions (spiped-style):
//   TCP -> stream   read while stream.send_space() > 0 (a slow stream holds TCP back, no
//                   unbounded buffer). The TCP FIN (read returns 0) becomes close_write()
//                   (SUCC): a half-close is carried through.
//   stream -> TCP   stream bytes go to the socket through one bounded buffer (at most
//                   kChunkBytes held back; the stream's receive window throttles the
//                   peer meanwhile). The peer's clean EOF, once written, becomes
//                   shutdown(SHUT_WR).
//   failure         a failed connect (refused, unreachable, or no answer within the
//                   connect timeout), a reset, any read or write error: failed() turns
//                   true with one line in error(), our direction ends with FAIL if it
//                   is still open, and the owner aborts the CurveCP connection. A peer
//                   FAIL is never written as a FIN: the owner calls reset(), which closes
//                   with SO_LINGER 0 so the TCP peer sees a reset (RST), not an end.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/result.h"
#include "core/time.h"
#include "daemon/event_loop.h"
#include "daemon/fd_watcher.h"
#include "daemon/timer.h"
#include "daemon/unique_fd.h"
#include "scheduler/stream.h"

namespace curvecp {

struct TcpBridgeStats {
  uint64_t bytes_to_tcp = 0;    // written to the TCP socket (from the CurveCP peer)
  uint64_t bytes_from_tcp = 0;  // read from the TCP socket (to the CurveCP peer)
};

class TcpBridge {
 public:
  using WakeHandler = std::function<void(Timestamp now)>;

  // Starts a non-blocking connect to `target`. A connect that has not completed within
  // `connect_timeout` fails the bridge ("connect to IP:PORT: timed out"). Fails at once
  // only if no socket can be made.
  static Result<std::unique_ptr<TcpBridge>> connect(EventLoop& loop, const Address& target, Duration connect_timeout,
                                                    WakeHandler wake);
  // A connected socket (e.g. from accept()); made non-blocking here. Owned from now on.
  static Result<std::unique_ptr<TcpBridge>> adopt(EventLoop& loop, UniqueFd socket, WakeHandler wake);
  // Closes the socket: normally if finished(), with a reset otherwise (as reset()).
  ~TcpBridge();
  TcpBridge(const TcpBridge&) = delete;
  TcpBridge& operator=(const TcpBridge&) = delete;

  // Does all the I/O possible now (see the header). True if the stream changed (bytes
  // written or read, our direction closed): the owner has something to transmit.
  bool transfer(Stream& stream, Timestamp now);
  // Both directions ended cleanly (FIN read and passed on, peer EOF written and
  // shutdown(SHUT_WR) done), or the bridge failed.
  bool finished() const { return failed_ || (read_closed_ && write_closed_); }
  bool failed() const { return failed_; }
  // What failed, one line without prefix ("connect to 127.0.0.1:22: connection refused").
  const std::string& error() const { return error_; }
  bool connected() const { return connected_; }
  // Closes with SO_LINGER 0 (the TCP peer sees RST), unless already closed. Idempotent.
  void reset();
  const TcpBridgeStats& stats() const { return stats_; }

 private:
  static constexpr size_t kChunkBytes = 65536;  // per write to the socket; the bound of pending_

  TcpBridge(WakeHandler wake) : wake_(std::move(wake)) {}
  Status watch(EventLoop& loop);
  void on_ready(int events, Timestamp now);
  void check_connect();
  bool read_tcp(Stream& stream);
  bool write_tcp(Stream& stream);
  void fail(Stream* stream, std::string why);
  void update_watch(const Stream& stream);

  WakeHandler wake_;
  UniqueFd socket_;
  std::unique_ptr<FdWatcher> watcher_;  // destroyed before socket_ closes (see reset())
  std::unique_ptr<Timer> connect_timer_;
  std::string target_;                   // "IP:PORT", for messages
  bool connected_ = false;
  bool connect_timed_out_ = false;
  bool readable_ = true;                 // may have data, EOF or an error to read
  bool writable_ = true;                 // may take data
  bool read_closed_ = false;             // FIN read, our direction closed with SUCC
  bool write_closed_ = false;            // shutdown(SHUT_WR) done
  bool failed_ = false;
  bool fail_unreported_ = false;         // failed outside transfer(): FAIL the stream next time
  std::string error_;
  std::vector<uint8_t> pending_;         // stream bytes the socket has not taken yet
  size_t pending_begin_ = 0;
  TcpBridgeStats stats_;
};

// "HOST:PORT" or "[IPV6]:PORT" split into host and port (1..65535). Nothing on a
// malformed text (no colon, empty host, bad port).
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
std::optional<HostPort> parse_host_port(const std::string& text);

// The first address getaddrinfo gives for `host` (an IP literal or a name: /etc/hosts,
// DNS), TCP. Fails with "cannot resolve HOST: reason". Blocking: for start-up only.
Result<Address> resolve_tcp_address(const std::string& host, uint16_t port);

}  // namespace curvecp
