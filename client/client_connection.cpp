#include "client/client_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <vector>

#include "daemon/sockaddr.h"
#include "daemon/unique_fd.h"

namespace curvecp {

namespace {
// Packets sealed before they are handed to the kernel: one UDP GSO super-datagram.
constexpr size_t kFlushPackets = 64;
// See service(): the shortest time the connection sleeps when it sleeps at all.
constexpr Duration kTimerSlack = Duration::microseconds(200);
}  // namespace

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
  std::unique_ptr<ClientConnection> c(new ClientConnection(loop, std::move(on_progress)));
  // The addresses this host can send to, in the given order; a socket per family.
  std::vector<Address> usable;
  std::optional<Error> first_error;
  config.more_servers.insert(config.more_servers.begin(), config.server);
  for (const Address& a : config.more_servers) {
    if (Status s = c->open_socket_toward(a, socket_options); !s) {
      if (!first_error) first_error = s.error();
      continue;
    }
    usable.push_back(a);
  }
  if (usable.empty()) return *first_error;
  config.server = usable.front();
  config.more_servers.assign(usable.begin() + 1, usable.end());

  auto engine = ClientEngine::create(std::move(config), rng, loop.update_now());
  if (!engine) return engine.error();
  c->engine_ = std::move(*engine);

  ClientConnection* self = c.get();
  auto timer = Timer::create(loop, [self](Timestamp now) { self->on_timer(now); });
  if (!timer) return timer.error();
  c->timer_ = std::move(*timer);

  c->service(loop.now());
  return c;
}

Status ClientConnection::open_socket_toward(const Address& server, const UdpSocketOptions& options) {
  std::unique_ptr<UdpSocket>& slot = server.family == Address::Family::ipv6 ? socket_v6_ : socket_v4_;
  if (slot) return {};
  auto local = local_address_toward(server);
  if (!local) return local.error();
  auto socket = UdpSocket::open(
      loop_, *local, [this](std::span<const Datagram> batch, Timestamp now) { on_datagrams(batch, now); }, options);
  if (!socket) return socket.error();
  slot = std::move(*socket);
  slot->set_writable_handler([this](Timestamp now) { on_writable(now); });
  // ICMP unreachable for our Hellos: on to the next address, or "connection refused" at
  // once when it was the last, not a long timeout.
  slot->set_error_handler([this](const Address& to, int error, Timestamp now) {
    engine_->handle_unreachable(now, to, error);
    progress(now);
  });
  return {};
}

UdpSocket& ClientConnection::socket_for(const Address& to) const {
  return to.family == Address::Family::ipv6 ? *socket_v6_ : *socket_v4_;
}

void ClientConnection::service(Timestamp now) {
  for (;;) {
    const Address to = engine_->next_destination();
    UdpSocket& socket = socket_for(to);
    MutableBytes buf = socket.prepare_send();
    if (buf.empty()) break;  // queue full: on_writable() resumes
    const size_t n = engine_->poll_transmit(now, buf);
    if (n == 0) break;
    socket.commit_send(to, n);
    // Hand each full GSO run to the kernel while its packets are still in the CPU's
    // cache, rather than sealing the whole queue (1024 packets, 1.2 MB) first.
    if (socket.send_queue_size() >= kFlushPackets) socket.flush();
  }
  bool full = false;
  for (UdpSocket* socket : {socket_v4_.get(), socket_v6_.get()}) {
    if (!socket) continue;
    socket->flush();
    full = full || socket->send_queue_free() == 0;
  }
  // With a full send queue the engine may have more due now; the writable handler calls
  // service() again, so the timer need not spin meanwhile.
  Timestamp next = full ? Timestamp::never() : engine_->next_timeout();
  // Timer slack: a wake-up due sooner than kTimerSlack is put off until then. Paced at a
  // rate just under what the CPU can seal, the pacer's next packet is due a few
  // microseconds after each batch, and waking for each cost a timerfd_settime (a VM
  // exit) and an epoll_wait per one or two packets: a 1 GiB push on the project's 2-core
  // VM went from ~3,000 timer arms to 78,000 in some runs and ran 20-30% slower. The
  // pacer banks what falls due meanwhile (CcPacer credit, 10 ms), so the rate is kept and
  // the packets leave as one burst of at most kTimerSlack's worth. Below ~50 Mbit/s one
  // packet's spacing is already longer than the slack.
  if (next != Timestamp::never() && next > now) next = std::max(next, now + kTimerSlack);
  arm_timer(next);
}

void ClientConnection::arm_timer(Timestamp deadline) {
  // A deadline later than the one armed keeps the armed one: that wake-up comes early,
  // finds nothing due and re-arms then. While data flows the deadline moves later with
  // nearly every batch (the oldest transmission's timeout, the pacer), and each
  // timerfd_settime reprograms a hardware timer, which in a VM is an exit to the host:
  // re-arming on every batch was 41% of `curvecp connect`'s CPU samples on the project's
  // 2-core VM (perf, 1 GiB upload, busy host). never() always disarms, so a finished
  // connection leaves nothing armed that would keep the loop running.
  const Timestamp armed = timer_->deadline();
  if (deadline != Timestamp::never() && armed != Timestamp::never() && armed <= deadline) return;
  timer_->arm(deadline);
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
