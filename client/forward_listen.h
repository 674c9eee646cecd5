// `curvecp connect --listen IP:PORT ...`: the client half of port forwarding
// (spiped-style). Accepts local TCP clients and gives each its own CurveCP connection
// (its own ClientConnection: own short-term key, own handshake, own UDP socket), all in
// one process and one event loop; each pair is joined by an Attachment over a TcpBridge
// (daemon/attachment.h, daemon/tcp_bridge.h), the same code the server's --forward uses.
//
// Ending, per forwarded connection: both directions end cleanly (TCP FIN <-> CurveCP
// EOF, in each direction on its own), or it fails: a TCP reset or error fails the
// CurveCP connection (FAIL to the server), and a CurveCP failure (handshake refused or
// unanswered, the server's FAIL, idle timeout) resets the TCP connection (RST, never a
// FIN). One log line when each starts and one when it ends (bytes each way, how).
//
// Bounded: at most max_forwards at once; a TCP client beyond that is accepted and reset
// at once, with a log line saying why. SIGINT/SIGTERM/SIGHUP: the listener closes, every
// forwarded connection fails (FAIL to the server, RST to the TCP client) and the run
// ends once they are gone (bounded by the abort timeout); a second signal ends it at
// once.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "client/client_engine.h"
#include "core/address.h"
#include "core/result.h"
#include "core/rng.h"

namespace curvecp {

struct ListenOptions {
  // The settings of every forwarded connection. The client's long-term secret key is
  // copied per connection; the vouch nonce comes from `vouch_nonce`.
  ClientEngineConfig engine;
  Address listen;
  // Simultaneous forwarded connections (1..65535).
  uint32_t max_forwards = 64;
  // A fresh vouch nonce per connection (safenonce of a key directory, or random). Fails
  // with one line; that connection is then reset.
  std::function<Result<Nonce16>()> vouch_nonce;
  bool verbose = false;
  // The control socket (daemon/control_server.h); empty: none. As in ConnectOptions.
  std::string control_path;
  bool control_required = false;
};

// Runs until a signal. Returns 0 after a stop by signal, 111 when the listening socket
// cannot be made (one "curvecp connect: ..." line) or the loop fails.
int run_listen_session(ListenOptions options, Rng& rng);

}  // namespace curvecp
