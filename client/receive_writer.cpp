// Aligned O_DIRECT writes of a large received file (receive_writer.h).
#include "client/receive_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace curvecp::push {

void DirectFileWriter::FreeAligned::operator()(uint8_t* p) const { std::free(p); }

DirectFileWriter::DirectFileWriter(int fd, uint64_t offset)
    : fd_(fd), pos_(offset), buffer_(static_cast<uint8_t*>(std::aligned_alloc(kAlignBytes, kBlockBytes))) {
  if (!buffer_) direct_possible_ = false;  // then write() reports the missing buffer
}

DirectFileWriter::~DirectFileWriter() { (void)set_direct(false); }

bool DirectFileWriter::set_direct(bool on) {
  if (on == direct_on_) return true;
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT)) != 0) {
    if (on) direct_possible_ = false;
    return false;
  }
  direct_on_ = on;
  return true;
}

std::string DirectFileWriter::write_at(const uint8_t* p, size_t n, bool direct) {
  while (n > 0) {
    if (!set_direct(direct)) direct = false;
    const ssize_t w = ::pwrite(fd_, p, n, static_cast<off_t>(pos_));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && direct && errno == EINVAL) {
      // The file system takes O_DIRECT but not these sizes: plain writes from now on.
      direct_possible_ = false;
      direct = false;
      continue;
    }
    if (w <= 0) return std::string("write error: ") + std::strerror(w < 0 ? errno : EIO);
    if (direct) used_direct_ = true;
    p += w;
    n -= static_cast<size_t>(w);
    pos_ += static_cast<uint64_t>(w);
    // A short direct write leaves an unaligned position: the rest goes plainly.
    if (direct && (pos_ % kAlignBytes != 0 || n % kAlignBytes != 0)) direct = false;
  }
  return {};
}

// Writes the queued bytes: all of them when `final`, else the longest prefix that ends
// on an aligned file offset (the few bytes after it stay queued for the next block).
std::string DirectFileWriter::drain(bool final) {
  size_t n = fill_;
  if (!final) n -= static_cast<size_t>((pos_ + fill_) % kAlignBytes);
  if (n == 0) return {};
  const bool direct = !final && direct_possible_ && pos_ % kAlignBytes == 0 && n % kAlignBytes == 0;
  if (std::string e = write_at(buffer_.get(), n, direct); !e.empty()) return e;
  std::memmove(buffer_.get(), buffer_.get() + n, fill_ - n);
  fill_ -= n;
  return {};
}

std::string DirectFileWriter::write(Bytes bytes) {
  if (!buffer_) return "out of memory for the write buffer";
  while (!bytes.empty()) {
    const size_t take = std::min(bytes.size(), kBlockBytes - fill_);
    std::memcpy(buffer_.get() + fill_, bytes.data(), take);
    fill_ += take;
    bytes = bytes.subspan(take);
    if (fill_ == kBlockBytes) {
      if (std::string e = drain(false); !e.empty()) return e;
    }
  }
  return {};
}

std::string DirectFileWriter::finish() {
  std::string e = buffer_ ? drain(true) : std::string{};
  if (!set_direct(false) && e.empty()) e = std::string("cannot leave direct I/O: ") + std::strerror(errno);
  return e;
}

}  // namespace curvecp::push
