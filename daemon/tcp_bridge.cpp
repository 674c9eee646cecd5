#include "daemon/tcp_bridge.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "daemon/sockaddr.h"

namespace curvecp {

namespace {

// One loop thread per process: a shared scratch buffer for reads from sockets.
std::array<uint8_t, 65536>& scratch() {
  static std::array<uint8_t, 65536> buffer;
  return buffer;
}

// "connection refused", as errno_text words it, without the "what: " part.
std::string error_words(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

void set_no_delay(int fd) {
  // Forwarded traffic is often interactive (ssh): no Nagle delay on our side.
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

Result<std::unique_ptr<TcpBridge>> TcpBridge::connect(EventLoop& loop, const Address& target, Duration connect_timeout,
                                                      WakeHandler wake) {
  std::unique_ptr<TcpBridge> b(new TcpBridge(std::move(wake)));
  b->target_ = target.to_string();
  sockaddr_storage ss{};
  const socklen_t len = to_sockaddr(target, ss);
  if (len == 0) return make_error("connect: no address");
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(errno_text("socket", errno));
  b->socket_.reset(fd);
  set_no_delay(fd);
  if (Status s = b->watch(loop); !s) return s.error();
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) {
    b->connected_ = true;
  } else if (errno != EINPROGRESS) {
    // Refused at once (e.g. a local port with no listener): reported by transfer().
    b->fail(nullptr, "connect to " + b->target_ + ": " + error_words(errno));
  } else {
    TcpBridge* self = b.get();
    auto timer = Timer::create(loop, [self](Timestamp now) {
      if (self->connected_ || self->failed_) return;
      self->connect_timed_out_ = true;
      if (self->wake_) self->wake_(now);
    });
    if (!timer) return timer.error();
    b->connect_timer_ = std::move(*timer);
    b->connect_timer_->arm(loop.now() + connect_timeout);
    b->watcher_->set_events(FdWatcher::kWritable);
    b->writable_ = false;
    b->readable_ = false;
  }
  return b;
}

Result<std::unique_ptr<TcpBridge>> TcpBridge::adopt(EventLoop& loop, UniqueFd socket, WakeHandler wake) {
  std::unique_ptr<TcpBridge> b(new TcpBridge(std::move(wake)));
  b->socket_ = std::move(socket);
  if (!set_nonblocking(b->socket_.get(), true)) return make_error(errno_text("fcntl", errno));
  set_no_delay(b->socket_.get());
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(b->socket_.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    b->target_ = from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len).to_string();
  }
  if (Status s = b->watch(loop); !s) return s.error();
  b->connected_ = true;
  return b;
}

TcpBridge::~TcpBridge() {
  if (!finished()) reset();
  if (watcher_) watcher_->close();
}

Status TcpBridge::watch(EventLoop& loop) {
  auto w = FdWatcher::create(loop, socket_.get(), [this](int events, Timestamp now) { on_ready(events, now); });
  if (!w) return w.error();
  watcher_ = std::move(*w);
  return {};
}

void TcpBridge::on_ready(int events, Timestamp now) {
  if (events & FdWatcher::kReadable) readable_ = true;
  if (events & FdWatcher::kWritable) writable_ = true;
  if (watcher_) watcher_->set_events(0);
  if (wake_) wake_(now);
}

void TcpBridge::reset() {
  if (watcher_) watcher_->close();
  if (!socket_.valid()) return;
  // SO_LINGER with a zero timeout: close() sends RST and drops unsent data, so the TCP
  // peer sees a failure, never an end of stream.
  linger lg{1, 0};
  ::setsockopt(socket_.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  socket_.reset();
}

void TcpBridge::fail(Stream* stream, std::string why) {
  if (failed_) return;
  failed_ = true;
  error_ = std::move(why);
  if (connect_timer_) connect_timer_->disarm();
  if (stream != nullptr && !read_closed_) {
    stream->close_write(true);
    read_closed_ = true;
  } else if (stream == nullptr) {
    fail_unreported_ = true;
  }
  reset();
}

void TcpBridge::check_connect() {
  if (connect_timed_out_) {
    fail(nullptr, "connect to " + target_ + ": timed out");
    return;
  }
  if (!writable_) return;
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(socket_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == EINPROGRESS || err == EALREADY) {
    writable_ = false;
    return;
  }
  if (err != 0) {
    fail(nullptr, "connect to " + target_ + ": " + error_words(err));
    return;
  }
  connected_ = true;
  readable_ = true;
  if (connect_timer_) connect_timer_->disarm();
}

bool TcpBridge::transfer(Stream& stream, Timestamp now) {
  (void)now;
  bool changed = false;
  if (!failed_ && !connected_) check_connect();
  if (fail_unreported_) {
    fail_unreported_ = false;
    if (!read_closed_) {
      stream.close_write(true);
      read_closed_ = true;
    }
    return true;
  }
  if (failed_ || !connected_) {
    if (!failed_ && watcher_) watcher_->set_events(FdWatcher::kWritable);
    return changed;
  }
  changed |= write_tcp(stream);
  if (!failed_ && readable_ && !read_closed_) changed |= read_tcp(stream);
  if (!failed_) update_watch(stream);
  return changed;
}

bool TcpBridge::read_tcp(Stream& stream) {
  bool changed = false;
  auto& buf = scratch();
  // A few socket-fulls per call, so one busy connection cannot starve the loop.
  for (int round = 0; round < 8; ++round) {
    const size_t space = stream.send_space();
    if (space == 0) return changed;  // resumes when acknowledgements free space
    const size_t want = std::min(space, buf.size());
    const ssize_t n = ::recv(socket_.get(), buf.data(), want, 0);
    if (n > 0) {
      stream.write(Bytes(buf.data(), static_cast<size_t>(n)));  // all of it: n <= send_space()
      stats_.bytes_from_tcp += static_cast<uint64_t>(n);
      changed = true;
      if (static_cast<size_t>(n) < want) break;
      continue;
    }
    if (n == 0) {
      // FIN: the TCP side finished sending; carried through as our clean EOF.
      read_closed_ = true;
      stream.close_write(false);
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    fail(&stream, "read from " + target_ + ": " + error_words(errno));
    return true;
  }
  readable_ = false;
  return changed;
}

bool TcpBridge::write_tcp(Stream& stream) {
  bool changed = false;
  while (writable_ && !write_closed_) {
    // Stream bytes go out through the shared scratch buffer; only what the socket does
    // not take at once is kept in pending_ (freed once written): an idle bridge holds
    // no buffer.
    const bool staged = pending_begin_ < pending_.size();
    const uint8_t* data = staged ? pending_.data() + pending_begin_ : scratch().data();
    const size_t size = staged ? pending_.size() - pending_begin_
                               : stream.read(MutableBytes(scratch().data(), kChunkBytes));
    if (size == 0) break;
    changed |= !staged;
    const ssize_t n = ::send(socket_.get(), data, size, MSG_NOSIGNAL);
    const size_t sent = n > 0 ? static_cast<size_t>(n) : 0;
    const int err = n > 0 ? 0 : n == 0 ? EAGAIN : errno;  // 0 bytes taken: wait for room
    stats_.bytes_to_tcp += sent;
    if (staged) {
      pending_begin_ += sent;
    } else if (sent < size) {
      pending_.assign(data + sent, data + size);
      pending_begin_ = 0;
    }
    if (pending_begin_ == pending_.size() && !pending_.empty()) {
      pending_ = {};
      pending_begin_ = 0;
    }
    if (err == 0 || err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      writable_ = false;
      break;
    }
    fail(&stream, "write to " + target_ + ": " + error_words(err));
    return true;
  }
  // Only a clean end of the peer's stream becomes a FIN; after a FAIL the owner resets.
  if (!write_closed_ && pending_.empty() && stream.read_finished() && !stream.read_failed()) {
    write_closed_ = true;
    if (::shutdown(socket_.get(), SHUT_WR) != 0 && errno != ENOTCONN) {
      fail(&stream, "shutdown " + target_ + ": " + error_words(errno));
    }
    changed = true;
  }
  return changed;
}

void TcpBridge::update_watch(const Stream& stream) {
  if (!watcher_ || watcher_->closed()) return;
  int events = 0;
  if (!read_closed_ && !readable_ && stream.send_space() > 0) events |= FdWatcher::kReadable;
  if (!write_closed_ && !writable_) events |= FdWatcher::kWritable;
  watcher_->set_events(events);
}

std::optional<HostPort> parse_host_port(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  std::string host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return std::nullopt;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return std::nullopt;  // an IPv6 literal needs brackets
  }
  auto port = parse_port(std::string_view(text).substr(colon + 1));
  if (!port) return std::nullopt;
  return HostPort{host, *port};
}

Result<Address> resolve_tcp_address(const std::string& host, uint16_t port) {
  if (auto literal = Address::parse(host, port)) return *literal;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) return make_error("cannot resolve " + host + ": " + gai_strerror(rc));
  Address found;
  for (addrinfo* ai = list; ai != nullptr && found.family == Address::Family::none; ai = ai->ai_next) {
    found = from_sockaddr(ai->ai_addr, ai->ai_addrlen);
  }
  ::freeaddrinfo(list);
  if (found.family == Address::Family::none) return make_error("cannot resolve " + host + ": no IP address");
  found.port = port;
  return found;
}

}  // namespace curvecp
