#include "daemon/udp_socket.h"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "daemon/sockaddr.h"
#include "daemon/uv_handle.h"

namespace curvecp {

namespace {

// Segments per GSO super-datagram: the kernel's UDP_MAX_SEGMENTS is 64 on older kernels.
constexpr size_t kMaxGsoSegments = 64;
// A super-datagram must fit in one IP packet (65535 minus IP and UDP headers).
constexpr size_t kMaxGsoBytes = 65000;
// recvmmsg calls per readiness event before other events get their turn.
constexpr int kReceiveRounds = 8;
constexpr size_t kGroReceiveBufferBytes = 65536;
constexpr size_t kPlainReceiveBufferBytes = 2048;
// Error-queue entries read per drain; more wait for the next error readiness.
constexpr int kErrorDrainLimit = 256;

// Errors from sendmmsg that speak of reachability, reported to the error handler.
bool reachability_error(int err) {
  return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == EHOSTDOWN || err == ENETDOWN;
}

void set_buffer(int fd, int force_option, int option, int bytes) {
  // SO_*BUFFORCE ignores the sysctl maximum but needs CAP_NET_ADMIN; fall back quietly.
  if (setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes);
  }
}

// Buffers, path-MTU behaviour and the error queue, set before bind. None is fatal: a
// refusal costs throughput or means fewer ICMP errors are heard.
void set_socket_options(int fd, int domain, int buffer_bytes) {
  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, buffer_bytes);
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, buffer_bytes);
  // Like the reference (spec 2.1) we allow fragmentation of 1184-byte packets on paths
  // with a small MTU rather than losing them to path-MTU discovery.
  if (domain == AF_INET) {
    int v = IP_PMTUDISC_DONT;
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof v);
  } else {
    int v = IPV6_PMTUDISC_DONT;
    setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof v);
  }
  // ICMP errors about our datagrams go to the error queue (drain_error_queue); without
  // this an unconnected UDP socket never hears of them. On an IPv6 socket IP_RECVERR
  // covers v4-mapped destinations; failure only means fewer errors are heard.
  int one = 1;
  setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof one);
  if (domain == AF_INET6) setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof one);
}

// The segment size of a GRO-coalesced receive buffer (its UDP_GRO control message), or
// `total` when the kernel did not coalesce it.
// The kernel's receive time (CLOCK_REALTIME) of a message, or 0 when it has none.
int64_t kernel_receive_ns(const msghdr& h) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
    }
  }
  return 0;
}

size_t gro_segment_bytes(const msghdr& h, size_t total) {
  size_t segment = total;
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int size = 0;
      std::memcpy(&size, CMSG_DATA(c), sizeof size);
      if (size > 0) segment = static_cast<size_t>(size);
    }
  }
  return segment;
}

}  // namespace

Result<std::unique_ptr<UdpSocket>> UdpSocket::open(EventLoop& loop, const Address& local, ReceiveHandler on_receive,
                                                   const UdpSocketOptions& options) {
  std::unique_ptr<UdpSocket> s(new UdpSocket(loop, std::move(on_receive)));
  sockaddr_storage ss;
  socklen_t len = to_sockaddr(local, ss);
  if (len == 0) return make_error("socket: no address family");
  int domain = local.family == Address::Family::ipv4 ? AF_INET : AF_INET6;
  s->fd_.reset(socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s->fd_.valid()) return make_error(errno_text("socket", errno));
  int fd = s->fd_.get();

  set_socket_options(fd, domain, options.buffer_bytes);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return make_error(errno_text(("bind " + local.to_string()).c_str(), errno));
  }
  sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
    return make_error(errno_text("getsockname", errno));
  }
  s->local_ = from_sockaddr(reinterpret_cast<sockaddr*>(&bound), bound_len);

  s->enable_offloads(options);
  s->allocate_buffers(options);

  UdpSocket* self = s.get();
  auto watcher = FdWatcher::create(loop, fd, [self](int events, Timestamp now) { self->on_ready(events, now); });
  if (!watcher) return watcher.error();
  s->watcher_ = std::move(watcher.value());
  s->update_watch();
  return s;
}

void UdpSocket::enable_offloads(const UdpSocketOptions& options) {
  const int fd = fd_.get();
  if (options.allow_gso) {
    int zero = 0;  // accepted by kernels that know UDP_SEGMENT; 0 = no default segment size
    gso_ = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0;
  }
  if (options.allow_gro) {
    int one = 1;
    gro_ = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  }
  int one = 1;
  timestamps_ = setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) == 0;
}

void UdpSocket::allocate_buffers(const UdpSocketOptions& options) {
  receive_buffer_bytes_ = gro_ ? kGroReceiveBufferBytes : kPlainReceiveBufferBytes;
  receive_slots_in_use_ = gro_ ? kGroReceiveBatch : kReceiveBatch;
  receive_buffers_.reset(new uint8_t[kReceiveBatch * receive_buffer_bytes_]);
  receive_headers_.resize(kReceiveBatch);
  receive_iovecs_.resize(kReceiveBatch);
  receive_addresses_.resize(kReceiveBatch);
  receive_controls_.resize(kReceiveBatch);
  // The kernel coalesces at most 64 segments per GRO buffer; a batch that would overflow
  // anyway (tiny hostile datagrams) is handed over early rather than reallocated.
  batch_.reserve(gro_ ? kGroReceiveBatch * 64 : kReceiveBatch);

  slots_.resize(std::max<size_t>(options.send_queue_packets, 1));
  send_headers_.resize(kSendBatch);
  send_iovecs_.resize(kSendBatch * kMaxGsoSegments);
  send_controls_.resize(kSendBatch);
}

void UdpSocket::set_receiving(bool on) {
  receiving_ = on;
  update_watch();
}

void UdpSocket::update_watch() {
  int events = (receiving_ ? FdWatcher::kReadable : 0) | (waiting_writable_ ? FdWatcher::kWritable : 0);
  watcher_->set_events(events);
}

void UdpSocket::on_ready(int events, Timestamp now) {
  // POLLERR: a pending error or a non-empty error queue. Draining clears both, so the
  // watcher does not fire again for the same error (no busy loop).
  if (events & FdWatcher::kError) drain_error_queue();
  if ((events & FdWatcher::kWritable) && waiting_writable_) {
    waiting_writable_ = false;
    flush();
    update_watch();
    if (!waiting_writable_ && on_writable_) on_writable_(now);
  }
  if ((events & FdWatcher::kReadable) && receiving_) receive(now);
  report_errors(now);
  // An error status stops the libuv watcher; select again.
  update_watch();
}

void UdpSocket::drain_error_queue() {
  for (int i = 0; i < kErrorDrainLimit; ++i) {
    sockaddr_storage destination{};
    uint8_t payload[64];  // the offending datagram (truncated); not needed
    alignas(cmsghdr) uint8_t control[512];
    iovec iov{payload, sizeof payload};
    msghdr h{};
    h.msg_name = &destination;
    h.msg_namelen = sizeof destination;
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control;
    h.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd_.get(), &h, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: drained
    }
    bool known = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      const bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR;
      const bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR;
      if (!(v4 || v6) || c->cmsg_len < CMSG_LEN(sizeof(sock_extended_err))) continue;
      sock_extended_err ee;
      std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
      if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6) continue;
      if (h.msg_namelen == 0 || ee.ee_errno == 0) continue;
      known = true;
      ++stats_.icmp_errors;
      Address to = from_sockaddr(reinterpret_cast<const sockaddr*>(&destination), h.msg_namelen);
      pending_errors_.push_back(PendingError{to, static_cast<int>(ee.ee_errno)});
    }
    if (!known) ++stats_.other_errors;
  }
}

void UdpSocket::report_errors(Timestamp now) {
  if (reporting_errors_) return;  // a handler that flushes: its errors follow in this loop
  reporting_errors_ = true;
  // Index loop: the handler may send, and a send may add errors.
  for (size_t i = 0; i < pending_errors_.size(); ++i) {
    const PendingError e = pending_errors_[i];
    if (on_error_) on_error_(e.destination, e.error, now);
  }
  pending_errors_.clear();
  reporting_errors_ = false;
}

void UdpSocket::receive(Timestamp now) {
  if (receive_rounds(now) && on_receive_done_) on_receive_done_(std::max(now, mono_now_));
}

bool UdpSocket::receive_rounds(Timestamp now) {
  bool received = false;
  for (int round = 0; round < kReceiveRounds && receiving_; ++round) {
    reset_receive_headers();
    const size_t slots = receive_slots_in_use_;
    int n = recvmmsg(fd_.get(), receive_headers_.data(), static_cast<unsigned>(slots), 0, nullptr);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      // A pending asynchronous error (ECONNREFUSED, ...) is returned once instead of
      // data; its details are in the error queue. Read that, then the data.
      drain_error_queue();
      continue;
    }
    if (n <= 0) return received;  // EAGAIN: drained
    ++stats_.receive_calls;
    // Both clocks read together: a kernel receive time (CLOCK_REALTIME) is turned into the
    // loop's monotonic clock by how long before this read it lies.
    timespec real{};
    clock_gettime(CLOCK_REALTIME, &real);
    mono_now_ = read_monotonic_clock();
    real_now_ns_ = static_cast<int64_t>(real.tv_sec) * 1000000000 + real.tv_nsec;
    // The handler gets the time of this read, not of the wake-up: a later round of this
    // loop holds datagrams that arrived after `now`, and clamping their kernel receive
    // times to a `now` from before they arrived made them look early (RTT samples up to
    // several ms below the path's propagation delay on a busy host; a background flow
    // then saw a queue forever and starved, docs/CHICAGO.md 4).
    now = std::max(now, mono_now_);
    received = true;
    deliver_received(static_cast<size_t>(n), now);
    if (gro_) adapt_receive_slots(static_cast<size_t>(n));
    if (static_cast<size_t>(n) < slots) return received;
  }
  return received;
}

// With GRO: many buffers per call while every buffer held a single datagram of at most
// kPlainReceiveBufferBytes (the kernel coalesced nothing), few once it coalesces again.
void UdpSocket::adapt_receive_slots(size_t messages) {
  bool all_single = true;
  for (size_t i = 0; i < messages && all_single; ++i) {
    all_single = receive_headers_[i].msg_len <= kPlainReceiveBufferBytes;
  }
  receive_slots_in_use_ = all_single ? kReceiveBatch : kGroReceiveBatch;
}

void UdpSocket::reset_receive_headers() {
  for (size_t i = 0; i < receive_slots_in_use_; ++i) {
    receive_iovecs_[i] = iovec{receive_buffers_.get() + i * receive_buffer_bytes_, receive_buffer_bytes_};
    msghdr& h = receive_headers_[i].msg_hdr;
    h = msghdr{};
    h.msg_name = &receive_addresses_[i];
    h.msg_namelen = sizeof(sockaddr_storage);
    h.msg_iov = &receive_iovecs_[i];
    h.msg_iovlen = 1;
    if (gro_ || timestamps_) {
      h.msg_control = receive_controls_[i].data();
      h.msg_controllen = receive_controls_[i].size();
    }
    receive_headers_[i].msg_len = 0;
  }
}

void UdpSocket::deliver_received(size_t messages, Timestamp now) {
  batch_.clear();
  for (size_t i = 0; i < messages; ++i) {
    if (receive_headers_[i].msg_hdr.msg_flags & MSG_TRUNC) {
      ++stats_.truncated;
      continue;
    }
    append_datagrams(i, now);
  }
  if (!batch_.empty()) on_receive_(batch_, now);
}

void UdpSocket::append_datagrams(size_t message, Timestamp now) {
  const msghdr& h = receive_headers_[message].msg_hdr;
  Address from = from_sockaddr(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen);
  const uint8_t* data = static_cast<const uint8_t*>(receive_iovecs_[message].iov_base);
  const size_t total = receive_headers_[message].msg_len;
  const size_t segment = gro_ ? gro_segment_bytes(h, total) : total;
  // Kernel receive time on the loop's clock: how long before the read the kernel took it,
  // at most 1 s (a stepped wall clock must not make nonsense of it), and never later than
  // `now`, the time the handler is given.
  Timestamp arrived = now;
  if (const int64_t kernel_ns = timestamps_ ? kernel_receive_ns(h) : 0; kernel_ns > 0) {
    const int64_t ago = std::clamp<int64_t>(real_now_ns_ - kernel_ns, 0, Duration::seconds(1).ns);
    arrived = std::min(now, mono_now_ - Duration::nanoseconds(ago));
  }
  for (size_t off = 0; off < total; off += segment) {
    // Full: 8 buffers of 64 segments fit; a call with kReceiveBatch buffers after a run of
    // small single datagrams may bring more when the kernel coalesces again.
    if (batch_.size() == batch_.capacity()) {
      on_receive_(batch_, now);
      batch_.clear();
    }
    batch_.push_back(Datagram{from, Bytes(data + off, std::min(segment, total - off)), arrived});
    ++stats_.datagrams_received;
  }
}

MutableBytes UdpSocket::prepare_send() {
  if (queued_ == slots_.size()) return {};
  SendSlot& slot = slots_[(head_ + queued_) % slots_.size()];
  return MutableBytes(slot.data, kMaxSendBytes);
}

void UdpSocket::commit_send(const Address& to, size_t bytes) {
  if (queued_ == slots_.size() || bytes == 0 || bytes > kMaxSendBytes) return;
  SendSlot& slot = slots_[(head_ + queued_) % slots_.size()];
  slot.to_len = to_sockaddr(to, slot.to);
  if (slot.to_len == 0) return;
  slot.bytes = static_cast<uint16_t>(bytes);
  ++queued_;
}

bool UdpSocket::send(const Address& to, Bytes packet) {
  MutableBytes buf = prepare_send();
  if (buf.empty() || packet.size() > buf.size()) return false;
  std::memcpy(buf.data(), packet.data(), packet.size());
  commit_send(to, packet.size());
  return true;
}

void UdpSocket::flush() {
  flush_queue();
  report_errors(loop_.now());
}

void UdpSocket::flush_queue() {
  // Whether the last sendmmsg failure was retried after draining the error queue: a
  // failure repeated right after that belongs to the datagram in hand.
  bool retried = false;
  while (queued_ > 0 && !waiting_writable_) {
    const size_t headers = build_send_batch();
    int sent = sendmmsg(fd_.get(), send_headers_.data(), static_cast<unsigned>(headers), 0);
    if (sent < 0) {
      retried = handle_send_error(errno, retried);
      continue;
    }
    retried = false;
    complete_send(static_cast<size_t>(sent));
  }
}

size_t UdpSocket::build_send_batch() {
  size_t headers = 0;
  size_t iov_used = 0;
  size_t covered = 0;  // slots covered by the headers so far
  while (headers < kSendBatch && covered < queued_) {
    const size_t first = (head_ + covered) % slots_.size();
    const size_t count = gso_ ? gso_run_length(first, queued_ - covered) : 1;
    fill_send_header(headers, first, count, iov_used);
    iov_used += count;
    send_run_slots_[headers] = count;
    covered += count;
    ++headers;
  }
  return headers;
}

size_t UdpSocket::gso_run_length(size_t first, size_t available) const {
  const size_t capacity = slots_.size();
  const SendSlot& lead = slots_[first];
  size_t count = 1;
  size_t bytes = lead.bytes;
  while (count < available && count < kMaxGsoSegments) {
    const SendSlot& prev = slots_[(first + count - 1) % capacity];
    const SendSlot& next = slots_[(first + count) % capacity];
    if (prev.bytes != lead.bytes || next.bytes > lead.bytes || bytes + next.bytes > kMaxGsoBytes ||
        next.to_len != lead.to_len || std::memcmp(&next.to, &lead.to, lead.to_len) != 0) {
      break;
    }
    bytes += next.bytes;
    ++count;
  }
  return count;
}

void UdpSocket::fill_send_header(size_t header, size_t first, size_t count, size_t iov_first) {
  const SendSlot& lead = slots_[first];
  msghdr& h = send_headers_[header].msg_hdr;
  h = msghdr{};
  h.msg_name = const_cast<sockaddr_storage*>(&lead.to);
  h.msg_namelen = lead.to_len;
  h.msg_iov = &send_iovecs_[iov_first];
  h.msg_iovlen = count;
  for (size_t k = 0; k < count; ++k) {
    SendSlot& slot = slots_[(first + k) % slots_.size()];
    send_iovecs_[iov_first + k] = iovec{slot.data, slot.bytes};
  }
  if (count > 1) {
    // UDP_SEGMENT: the kernel cuts the super-datagram into lead.bytes pieces.
    h.msg_control = send_controls_[header].data();
    h.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
    cmsghdr* c = CMSG_FIRSTHDR(&h);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t segment = lead.bytes;
    std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
  }
}

bool UdpSocket::handle_send_error(int err, bool retried) {
  if (err == EINTR) return retried;
  if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
    ++stats_.would_block;
    waiting_writable_ = true;
    update_watch();
    return retried;
  }
  if (send_run_slots_[0] > 1 && (err == EIO || err == EINVAL || err == EOPNOTSUPP)) {
    // The kernel or device cannot segment: fall back to one datagram per packet.
    gso_ = false;
    return retried;
  }
  if (!retried) {
    // Possibly a pending error left by an ICMP message about an earlier datagram
    // (sendmmsg returns it once, sending nothing): read the error queue and try again.
    drain_error_queue();
    return true;
  }
  drop_refused_run(err);
  return false;
}

void UdpSocket::drop_refused_run(int err) {
  // The first datagram is refused for good (unreachable, too big, filtered): drop it
  // and carry on with the rest. CurveCP's retransmission covers the loss.
  if (reachability_error(err)) {
    const SendSlot& lost = slots_[head_];
    pending_errors_.push_back(PendingError{from_sockaddr(reinterpret_cast<const sockaddr*>(&lost.to), lost.to_len), err});
  }
  stats_.send_errors += send_run_slots_[0];
  release_slots(send_run_slots_[0]);
}

void UdpSocket::complete_send(size_t sent_headers) {
  ++stats_.send_calls;
  size_t done = 0;
  for (size_t i = 0; i < sent_headers; ++i) {
    done += send_run_slots_[i];
    if (send_run_slots_[i] > 1) ++stats_.gso_sends;
  }
  stats_.datagrams_sent += done;
  release_slots(done);
}

void UdpSocket::release_slots(size_t count) {
  head_ = (head_ + count) % slots_.size();
  queued_ -= count;
}

}  // namespace curvecp
