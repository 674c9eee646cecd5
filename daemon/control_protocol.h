// The control socket's protocol, sans-I/O: requests parsed, replies formatted, and the
// daemon's answer to a request line given what it controls (ControlTarget). The socket
// itself is daemon/control_server.h (daemon side) and daemon/control_client.h (the
// `curvecp status` and `curvecp ctl` side). Documented for users in curvecp-status(1).
//
// Protocol (version 1). A client connects to the unix socket and sends request lines;
// each is answered by exactly one reply line, in order:
//
//   request (ASCII, "\n"-terminated, at most kMaxControlRequestBytes with the newline;
//            tokens separated by spaces, a trailing "\r" ignored):
//     status                      every connection, one JSON object each
//     priority ID CLASS           change connection ID's class; CLASS is background,
//                                 normal or a number N, 1 <= N <= 100 (scheduler/priority.h)
//   reply (one line of JSON, "\n"-terminated):
//     {"connections": [{"id": 1, "peer_key": "<64 hex>", "address": "IP:PORT",
//        "priority": "normal", "bytes_sent": N, "bytes_received": N, "rate_bps": N,
//        "rtt_ms": X, "loss": X, "retransmissions": N, "age_s": X}, ...]}
//     {"ok": true, "id": 1, "priority": "background"}
//     {"error": "one line for the user"}
//
// Field meanings: id is the daemon's number for the connection (never reused while the
// daemon runs); peer_key the peer's long-term public key; address the peer's current
// address; bytes_sent counts our bytes the peer acknowledged, bytes_received the peer's
// bytes delivered to the program; rate_bps is the congestion controller's current
// sending rate in bits per second (0 while we have sent no data); rtt_ms the smoothed
// round-trip time (0 until measured: a side that only receives takes no samples); loss the
// fraction (0..1) of data transmissions declared lost; retransmissions a count; age_s
// the seconds since the connection was accepted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "scheduler/priority.h"
#include "scheduler/stream.h"

namespace curvecp {

// One request line, its newline included.
inline constexpr size_t kMaxControlRequestBytes = 256;

struct ControlRequest {
  enum class Kind : uint8_t { status, priority };
  Kind kind = Kind::status;
  uint64_t id = 0;      // priority
  Priority priority;    // priority
};

// A connection id as typed: decimal digits only, 1 .. 10^19-1; nothing otherwise.
std::optional<uint64_t> parse_connection_id(std::string_view text);

// One request line (without its "\n"). Fails with one line for the user: an unknown
// request, a bad ID, a bad class (naming the accepted forms), a line too long.
Result<ControlRequest> parse_control_request(std::string_view line);
// The request lines a client sends ("\n" included).
std::string format_status_request();
std::string format_priority_request(uint64_t id, const Priority& p);

// One connection as `status` shows it (see the field meanings above).
struct ConnectionInfo {
  uint64_t id = 0;
  std::string peer_key;  // 64 hex digits
  std::string address;   // "IP:PORT", "[IPv6]:PORT"
  std::string priority;  // format_priority()
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t rate_bps = 0;
  double rtt_ms = 0;
  double loss = 0;
  uint64_t retransmissions = 0;
  double age_s = 0;

  friend bool operator==(const ConnectionInfo&, const ConnectionInfo&) = default;
};

// Fills the figures of `info` that come from the stream (bytes, rate, RTT, loss,
// retransmissions, priority).
void fill_stream_figures(ConnectionInfo& info, const Stream& stream);

// What a daemon's control socket acts on: the server (daemon/server.h) or one connect
// session (client/connect_session.cpp).
class ControlTarget {
 public:
  virtual ~ControlTarget() = default;
  // Every open connection at `now`, in id order.
  virtual std::vector<ConnectionInfo> control_connections(Timestamp now) const = 0;
  // Changes connection `id`'s class at `now`. Fails with one line ("no connection 7").
  virtual Status control_set_priority(uint64_t id, const Priority& p, Timestamp now) = 0;
};

// The reply line ("\n" included) to one request line (without its "\n").
std::string answer_control_request(std::string_view line, ControlTarget& target, Timestamp now);

// Reply lines, without the "\n".
std::string format_status_reply(std::span<const ConnectionInfo> connections);
std::string format_priority_reply(uint64_t id, const Priority& p);
std::string format_error_reply(std::string_view message);

// Client side. A status reply's connections; fails with the daemon's error text for an
// error reply, or with "bad reply from the daemon: ..." for anything malformed.
Result<std::vector<ConnectionInfo>> parse_status_reply(std::string_view line);
// A priority reply: ok, or the daemon's error text.
Status parse_priority_reply(std::string_view line);

// The readable table `curvecp status` prints: a header and one aligned row per
// connection (peer keys shortened to 16 hex digits, sizes and rates in binary/decimal
// units), or "no connections" when there are none. Ends with "\n".
std::string format_status_table(std::span<const ConnectionInfo> connections);

}  // namespace curvecp
