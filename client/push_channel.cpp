// Blocking frame I/O over two descriptors (push_channel.h).
#include "client/push_channel.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace curvecp::push {

namespace {
constexpr size_t kFlushThresholdBytes = 1 << 20;
// Data frames at least this long skip the copy into out() (send_data); smaller ones are
// batched there, so a tree of small files still costs few writes.
constexpr size_t kDirectDataBytes = 64 * 1024;
// Bytes asked of one read from the connection.
constexpr size_t kReadBytes = 256 * 1024;
}  // namespace

Status FrameChannel::write_all(const uint8_t* p, size_t n) { return write_both(Bytes(p, n), Bytes()); }

Status FrameChannel::write_both(Bytes first, Bytes second) {
  while (!first.empty() || !second.empty()) {
    iovec iov[2];
    int count = 0;
    if (!first.empty()) iov[count++] = iovec{const_cast<uint8_t*>(first.data()), first.size()};
    if (!second.empty()) iov[count++] = iovec{const_cast<uint8_t*>(second.data()), second.size()};
    ssize_t w = ::writev(write_fd_, iov, count);
    if (w < 0) {
      if (errno == EINTR) {
        if (Status s = on_interrupt_(); !s) return s;
        continue;
      }
      if (errno == EPIPE) return make_error("the connection closed while sending");
      return make_error(std::string("write to the connection: ") + std::strerror(errno));
    }
    size_t n = static_cast<size_t>(w);
    bytes_written_ += n;
    const size_t from_first = std::min(n, first.size());
    first = first.subspan(from_first);
    second = second.subspan(n - from_first);
  }
  return {};
}

Status FrameChannel::send_data(Bytes data) {
  if (data.size() < kDirectDataBytes) {
    encode_data(out_, data);
    return maybe_flush();
  }
  encode_data_header(out_, data.size());
  Status s = write_both(Bytes(out_.data(), out_.size()), data.first(std::min(data.size(), kMaxData)));
  out_.clear();
  return s;
}

Status FrameChannel::maybe_flush() { return out_.size() >= kFlushThresholdBytes ? flush() : Status{}; }

Status FrameChannel::flush() {
  Status s = write_all(out_.data(), out_.size());
  out_.clear();
  return s;
}

Result<size_t> FrameChannel::read_some(uint8_t* p, size_t n) {
  for (;;) {
    ssize_t r = ::read(read_fd_, p, n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EINTR) return make_error(std::string("read from the connection: ") + std::strerror(errno));
    if (Status s = on_interrupt_(); !s) return s.error();
  }
}

Result<FrameView> FrameChannel::receive_view() {
  for (;;) {
    auto frame = decoder_.next_view();
    if (!frame) return make_error("malformed data from the peer: " + frame.error().message);
    if (*frame) return std::move(**frame);
    // Straight into the decoder's buffer: no copy through a second one.
    MutableBytes space = decoder_.prepare(kReadBytes);
    auto n = read_some(space.data(), space.size());
    if (!n) return n.error();
    if (*n == 0) {
      return make_error(decoder_.buffered() ? "the connection ended inside a frame"
                                            : "the connection ended before the other side finished");
    }
    decoder_.commit(*n);
  }
}

Result<Frame> FrameChannel::receive() {
  auto view = receive_view();
  if (!view) return view.error();
  return Frame{view->type, std::vector<uint8_t>(view->payload.begin(), view->payload.end())};
}

Status FrameChannel::expect_eof() {
  if (decoder_.buffered()) return make_error("unexpected data after the end of the conversation");
  for (;;) {
    auto n = read_some(in_buffer_.data(), in_buffer_.size());
    if (!n) return n.error();
    if (*n == 0) return {};
    return make_error("unexpected data after the end of the conversation");
  }
}

void FrameChannel::discard_until_eof() {
  for (;;) {
    auto n = read_some(in_buffer_.data(), in_buffer_.size());
    if (!n || *n == 0) return;
  }
}

void FrameChannel::close_write() {
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = -1;
}

}  // namespace curvecp::push
