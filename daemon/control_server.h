// The control socket of `curvecp serve` and `curvecp connect`: a unix stream socket
// (uv_pipe) in the daemon's own libuv loop, speaking the line protocol of
// daemon/control_protocol.h. This class does the I/O; what a request line means is up to
// the handler (normally answer_control_request with the server or the connect session).
//
// Safety of the daemon comes first:
//   - the socket file is created mode 0600 (owner only), its directory 0700 if we make it;
//   - a stale socket file (nobody answers) is replaced; a live one (another daemon
//     answers), or a path that is not a socket, is a start-up error naming the path;
//   - the file is removed when the server is destroyed, unless another daemon has
//     replaced it meanwhile;
//   - each client gets one reply at a time (no more is read while a reply is being
//     written), a request line is bounded (kMaxControlRequestBytes), a client silent or
//     not reading for kControlClientTimeout is closed, at most kMaxControlClients are
//     served at once (more are told "busy" and closed), and a client that vanishes
//     mid-reply only ends its own connection (SIGPIPE is ignored by the commands).
// No handle keeps the loop running: the daemon's lifetime is its connections'.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "daemon/event_loop.h"
#include "daemon/timer.h"

namespace curvecp {

inline constexpr size_t kMaxControlClients = 64;
inline constexpr Duration kControlClientTimeout = Duration::seconds(10);

// The environment variables a program is given (both roles) when its daemon serves a
// control socket: the socket's path and the program's connection id, so that
// `curvecp ctl --priority CLASS` with no ID changes the program's own connection.
inline constexpr const char* kControlPathEnv = "CURVECPCONTROL";
inline constexpr const char* kConnectionIdEnv = "CURVECPCONNID";

// The default control socket of `curvecp serve`, where `curvecp status` looks first:
// /run/curvecp/serve.sock for root, $XDG_RUNTIME_DIR/curvecp/serve.sock otherwise;
// empty when neither applies (not root and no XDG_RUNTIME_DIR).
std::string default_serve_control_path();
// The default of `curvecp connect`: connect.PID.sock in the same directory; empty when
// there is none.
std::string default_connect_control_path();
// Removes the connect.PID.sock sockets in `dir` whose process is gone (a connect killed
// with SIGKILL cannot remove its own). Anything else in `dir` is left alone.
void remove_stale_connect_sockets(const std::string& dir);

class ControlServer {
 public:
  // Reply line ("\n"-terminated) for one request line (without its "\n") at `now`.
  using Handler = std::function<std::string(std::string_view line, Timestamp now)>;

  // Creates the socket at `path` and starts serving. Fails with one line naming the
  // path: too long for a unix socket, a live daemon there, not a socket, permissions.
  // `client_timeout`: see kControlClientTimeout (shorter in tests).
  static Result<std::unique_ptr<ControlServer>> open(EventLoop& loop, const std::string& path, Handler handler,
                                                     Duration client_timeout = kControlClientTimeout);
  // Closes every client and the listener, and removes the socket file if it is still ours.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const { return path_; }
  size_t client_count() const { return clients_.size(); }

 private:
  struct Client;
  ControlServer(EventLoop& loop, std::string path, Handler handler, Duration client_timeout);
  Status listen();
  static void on_connection(uv_stream_t* server, int status);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  void accept();
  void received(Client& c, ssize_t nread, const uv_buf_t* buf, Timestamp now);
  void written(Client& c, int status, Timestamp now);
  // Answers buffered request lines while no reply is being written; then waits.
  void serve(Client& c, Timestamp now);
  // Queues one reply; false if that failed and the client has been closed.
  bool send(Client& c, std::string reply);
  void set_reading(Client& c, bool on);
  void close_client(Client& c);
  void on_timer(Timestamp now);
  void arm_timer();

  EventLoop& loop_;
  std::string path_;
  Handler handler_;
  Duration client_timeout_;
  uv_pipe_t* listener_ = nullptr;
  std::unique_ptr<Timer> timer_;
  std::vector<std::unique_ptr<Client>> clients_;
  dev_t dev_ = 0;  // the socket file we made, to remove only that one
  ino_t ino_ = 0;
  char read_buffer_[4096];
};

}  // namespace curvecp
