// The libuv shell around one ClientEngine: its own UDP socket (daemon/udp_socket.h, whose
// ICMP error reports reach the engine as handle_unreachable), two when the server's
// addresses include both IPv4 and IPv6 ones (one per family), and one timer
// (daemon/timer.h). Every callback reads the clock once (EventLoop), feeds the engine,
// drains its datagrams into the socket, re-arms the timer at next_timeout(), and then
// tells the owner through the progress handler, which moves application bytes in and
// out of stream() and calls service() again if it did.
//
// Used by `curvecp connect` (one connection) and by the e2e load generator (many
// connections on one loop).
#pragma once

#include <functional>
#include <memory>

#include "client/client_engine.h"
#include "core/address.h"
#include "core/result.h"
#include "core/rng.h"
#include "daemon/event_loop.h"
#include "daemon/timer.h"
#include "daemon/udp_socket.h"

namespace curvecp {

class ClientConnection {
 public:
  // Called after every event that may have changed the stream (data readable, send
  // space, EOF, phase). It may write to or read from stream() and call service() (which
  // never calls it back); it must not destroy the connection (defer that, e.g. by
  // stopping the loop).
  using ProgressHandler = std::function<void(Timestamp now)>;

  // Opens a UDP socket on the local address the kernel would use toward the server (so
  // the local IP is known, for CURVECPLOCALIP), one per address family among
  // config.server and config.more_servers, creates the engine and sends the first Hello
  // at once. Addresses this host has no route to are left out of the engine's list; when
  // none is left, fails with the first one's error. Fails with one line (socket errors,
  // no route, unknown controller, bad key).
  // `rng` must outlive the connection.
  static Result<std::unique_ptr<ClientConnection>> open(EventLoop& loop, ClientEngineConfig config, Rng& rng,
                                                        ProgressHandler on_progress,
                                                        const UdpSocketOptions& socket_options = {});
  ~ClientConnection() = default;
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  ClientEngine& engine() { return *engine_; }
  Stream& stream() { return engine_->stream(); }
  // The local address of the socket toward engine().server().
  const Address& local_address() const { return socket_for(engine_->server()).local_address(); }

  // Sends whatever the engine has due and re-arms the timer. Call after writing to or
  // reading from stream(). Does not call the progress handler.
  void service(Timestamp now);

 private:
  ClientConnection(EventLoop& loop, ProgressHandler on_progress) : loop_(loop), on_progress_(std::move(on_progress)) {}
  void on_datagrams(std::span<const Datagram> batch, Timestamp now);
  void on_timer(Timestamp now);
  void on_writable(Timestamp now);
  void progress(Timestamp now);
  // Arms the timer at `deadline`, or leaves an earlier deadline armed (see the .cpp).
  void arm_timer(Timestamp deadline);
  // Opens the socket for `server`'s family unless open; fails when there is no route.
  Status open_socket_toward(const Address& server, const UdpSocketOptions& options);
  UdpSocket& socket_for(const Address& to) const;

  EventLoop& loop_;
  ProgressHandler on_progress_;
  std::unique_ptr<ClientEngine> engine_;
  // The latest time given to the engine: datagram times are never earlier.
  Timestamp clock_floor_{0};
  std::unique_ptr<UdpSocket> socket_v4_;
  std::unique_ptr<UdpSocket> socket_v6_;
  std::unique_ptr<Timer> timer_;
};

// The local address the kernel picks as source toward `server` (a connected probe socket,
// never sending anything), with port 0. Fails with the errno text (e.g. no route).
Result<Address> local_address_toward(const Address& server);

}  // namespace curvecp
