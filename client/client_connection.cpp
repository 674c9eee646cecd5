#include "client/client_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "daemon/sockaddr.h"
#include "daemon/unique_fd.h"

namespace curvecp {

Result<Address> local_address_toward(const Address& server) {
  sockaddr_storage ss;
  const socklen_t len = to_sockaddr(server, ss);
  if (len == 0) return make_error("server address has no family");
  UniqueFd probe(socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!probe.valid()) return make_error(errno_text("socket", errno));
  // connect() on a UDP socket only chooses the route and source address; nothing is sent.
  if (connect(probe.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return make_error(errno_text(("connect " + server.to_string()).c_str(), errno));
  }
  sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (getsockname(probe.get(), reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
    return make_error(errno_text("getsockname", errno));
  }
  Address a = from_sockaddr(reinterpret_cast<sockaddr*>(&local), local_len);
  a.port = 0;
  return a;
}

Result<std::unique_ptr<ClientConnection>> ClientConnection::open(EventLoop& loop, ClientEngineConfig config, Rng& rng,
                                                                 ProgressHandler on_progress,
                                                                 const UdpSocketOptions& socket_options) {
  auto local = local_address_toward(config.server);
  if (!local) return local.error();
  std::unique_ptr<ClientConnection> c(new ClientConnection(loop, std::move(on_progress)));
  ClientConnection* self = c.get();

  auto engine = ClientEngine::create(std::move(config), rng, loop.update_now());
  if (!engine) return engine.error();
  c->engine_ = std::move(*engine);

  auto socket = UdpSocket::open(
      loop, *local, [self](std::span<const Datagram> batch, Timestamp now) { self->on_datagrams(batch, now); },
      socket_options);
  if (!socket) return socket.error();
  c->socket_ = std::move(*socket);
  c->socket_->set_writable_handler([self](Timestamp now) { self->on_writable(now); });
  // ICMP unreachable for our Hellos: "connection refused" at once, not a long timeout.
  c->socket_->set_error_handler([self](const Address& to, int error, Timestamp now) {
    self->engine_->handle_unreachable(now, to, error);
    self->progress(now);
  });

  auto timer = Timer::create(loop, [self](Timestamp now) { self->on_timer(now); });
  if (!timer) return timer.error();
  c->timer_ = std::move(*timer);

  c->service(loop.now());
  return c;
}

void ClientConnection::service(Timestamp now) {
  const Address& to = engine_->server();
  for (;;) {
    MutableBytes buf = socket_->prepare_send();
    if (buf.empty()) break;  // queue full: on_writable() resumes
    const size_t n = engine_->poll_transmit(now, buf);
    if (n == 0) break;
    socket_->commit_send(to, n);
  }
  socket_->flush();
  // With a full send queue the engine may have more due now; the writable handler calls
  // service() again, so the timer need not spin meanwhile.
  timer_->arm(socket_->send_queue_free() == 0 ? Timestamp::never() : engine_->next_timeout());
}

void ClientConnection::progress(Timestamp now) {
  clock_floor_ = std::max(clock_floor_, now);
  service(now);
  if (on_progress_) on_progress_(now);
}

void ClientConnection::on_datagrams(std::span<const Datagram> batch, Timestamp now) {
  for (const Datagram& d : batch) {
    // The kernel's receive time (RTT samples without our scheduling delay), never earlier
    // than the last time the engine was given.
    const Timestamp at = std::clamp(d.arrived, clock_floor_, now);
    clock_floor_ = at;
    engine_->handle_datagram(at, d.from, d.data);
  }
  progress(now);
}

void ClientConnection::on_timer(Timestamp now) { progress(now); }

void ClientConnection::on_writable(Timestamp now) { progress(now); }

}  // namespace curvecp
