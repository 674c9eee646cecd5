// The libuv shell of the CurveCP server: one UDP socket, one timer, signals aside (those
// are serve_command.cpp's), and one Attachment (daemon/attachment.h) per connection. The
// protocol, the connection table and every lifecycle rule live in the sans-I/O
// ServerEndpoint (daemon/server_endpoint.h); this class only moves datagrams between
// the socket and the endpoint, programs' bytes between attachments and streams, and
// acts on the endpoint's events:
//   opened  spawn the program (fd 0 reads what the client sends, fd 1 writes to it,
//           CURVECP.md 5.3); a spawn failure aborts the connection (FAIL to the client).
//   failed  stop the program's process group, then close its pipes.
//   closed  drop the attachment (a clean end: the program has exited already).
// With an allow list (serve --allow, daemon/allow_list.h) the endpoint asks the server
// about each authenticated client key; a refused one is logged and never gets a program.
// The log (daemon/log.h) has one line per connection start and end and per refusal.
// Every libuv callback reads the clock once, feeds the endpoint, drains its datagrams
// into the socket's send queue (sendmmsg/GSO), drains its events, and arms the one timer
// at next_timeout().
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/result.h"
#include "core/rng.h"
#include "crypto/keys.h"
#include "daemon/allow_list.h"
#include "daemon/attachment.h"
#include "daemon/control_protocol.h"
#include "daemon/event_loop.h"
#include "daemon/server_endpoint.h"
#include "daemon/timer.h"
#include "daemon/udp_socket.h"

namespace curvecp {

struct ServerConfig {
  Address bind;
  ServerEndpointConfig endpoint;
  // The program run per connection: argv[0] looked up in PATH.
  std::vector<std::string> program;
  // Port forwarding instead of a program (serve --forward): each connection is joined to
  // a new TCP connection to this address (daemon/tcp_bridge.h), made within
  // forward_connect_timeout or the connection fails.
  std::optional<Address> forward;
  Duration forward_connect_timeout = Duration::seconds(10);
  // Between SIGTERM and SIGKILL when a failed connection's program group is stopped.
  Duration stop_grace = kProgramStopGrace;
  // Admitted client keys with their settings; nullptr admits every client.
  std::shared_ptr<const AllowList> allow;
  // Program environment and descriptors (ProgramSpec in daemon/attachment.h).
  bool clean_env = false;
  std::vector<std::string> pass_env;
  bool keep_fds = false;
  // serve --program-socket: one AF_UNIX socket on fds 0 and 1 instead of two pipes.
  bool program_socket = false;
};

class Server : public ControlTarget {
 public:
  // Binds the socket and starts serving. `nonces` and `rng` must outlive the server.
  // Fails on a bind error or an unknown scheduler name (message names which).
  static Result<std::unique_ptr<Server>> create(EventLoop& loop, ServerConfig config, SecretKey long_term,
                                                NonceSource& nonces, Rng& rng);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const Address& local_address() const { return socket_->local_address(); }
  size_t connection_count() const { return endpoint_->connection_count(); }
  const ServerEndpoint& endpoint() const { return *endpoint_; }

  // Replaces the allow list (SIGHUP): new connections are checked against `allow`;
  // running ones keep going. nullptr admits every client.
  void set_allow_list(std::shared_ptr<const AllowList> allow) { config_.allow = std::move(allow); }

  // Runs once the server has drained (see begin_drain), e.g. to stop the loop. A nonce
  // disaster starts draining by itself, so set this before running.
  void set_drained_handler(std::function<void()> on_drained) { on_drained_ = std::move(on_drained); }
  // Stops accepting new connections; the drained handler runs once no connection is
  // left (at once if none is).
  void begin_drain();
  // Shutdown past the drain: every connection fails (programs stopped, FAIL to the
  // clients); the drained handler runs once they are gone (bounded by abort_timeout).
  void abort_all();
  bool draining() const { return endpoint_->draining(); }
  // The key directory's nonce source failed (CURVECP.md 1.4): the server is draining and
  // the process should exit 111 afterwards.
  bool nonce_disaster() const { return endpoint_->nonce_disaster(); }

  // One line (no prefix): endpoint counters, spawn failures and socket figures. No secrets.
  // The control socket (daemon/control_server.h) serving this server, if any: its path
  // goes to every program started from now on (CURVECPCONTROL, with CURVECPCONNID).
  void set_control_path(std::string path) { control_path_ = std::move(path); }
  // ControlTarget (daemon/control_protocol.h): ids are numbered from 1 in the order
  // connections open and never reused while the server runs.
  std::vector<ConnectionInfo> control_connections(Timestamp now) const override;
  Status control_set_priority(uint64_t id, const Priority& p, Timestamp now) override;

  // One line: endpoint counters, spawn failures and socket figures. No secrets.
  std::string counters_line() const;
  // One line per connection (at most `limit`, no prefix): peer, program and stream state.
  // No secrets.
  std::string connection_lines(Timestamp now, size_t limit) const;

 private:
  Server(EventLoop& loop, ServerConfig config) : loop_(loop), config_(std::move(config)) {}
  void on_datagrams(std::span<const Datagram> batch, Timestamp now);
  void on_datagrams_done(Timestamp now);
  // Arms the timer for the endpoint's next deadline (now if work is waiting).
  void arm_timer(Timestamp now);
  void on_timer(Timestamp now);
  void on_socket_writable(Timestamp now);
  // An attachment's pipe, exit or timer: transfer it now (or in the running process()).
  void on_wake(uint32_t id, Timestamp now);
  void mark_woken(uint32_t id);
  // The tail of every callback: program I/O, transmit, events, until quiet; then timer.
  void process(Timestamp now);
  void transmit(Timestamp now);
  bool handle_events(Timestamp now);
  void open_program(uint32_t id, Timestamp now);
  void transfer(uint32_t id, Timestamp now);
  void check_drained();
  // The endpoint's admission hook: whether the allow list (if any) has `key`.
  bool admit(const PublicKey& key, const Address& from);
  void log_end(const EndpointEvent& e);

  EventLoop& loop_;
  ServerConfig config_;
  std::unique_ptr<ServerEndpoint> endpoint_;
  std::unique_ptr<UdpSocket> socket_;
  std::unique_ptr<Timer> timer_;
  std::vector<std::unique_ptr<Attachment>> programs_;  // by connection id
  std::vector<uint32_t> woken_;       // attachments to transfer(), each once
  std::vector<uint8_t> woken_flag_;   // by id
  bool blocked_ = false;              // the socket's send queue is full
  bool processing_ = false;
  bool in_receive_ = false;  // between a wake-up's first batch and on_datagrams_done
  bool disaster_reported_ = false;
  // The latest time given to the endpoint: datagram times are never earlier.
  Timestamp clock_floor_{0};
  uint64_t spawn_failures_ = 0;
  // What the start line said, for the end line, by connection id.
  struct LogInfo {
    uint64_t serial = 0;  // counts connections from 1 over the server's life
    std::string key_hex;
    Timestamp started;
  };
  std::vector<LogInfo> log_info_;
  uint64_t serial_ = 0;
  std::function<void()> on_drained_;
  // Control socket: the public id and opening time of each slot's connection (0: none).
  std::string control_path_;
  std::vector<uint64_t> public_ids_;
  std::vector<Timestamp> opened_at_;
  uint64_t next_public_id_ = 1;
};

}  // namespace curvecp
