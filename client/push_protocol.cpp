// Encoders, parsers and the frame decoder of the push protocol (push_protocol.h).
#include "client/push_protocol.h"

#include <algorithm>
#include <cstring>

namespace curvecp::push {
namespace {

// Builds one frame: the header is patched with the payload length at the end.
class FrameBuilder {
 public:
  FrameBuilder(std::vector<uint8_t>& out, FrameType type) : out_(out), start_(out.size()) {
    out_.push_back(static_cast<uint8_t>(type));
    out_.resize(out_.size() + 4);
  }
  ~FrameBuilder() {
    store_le32(out_.data() + start_ + 1, static_cast<uint32_t>(out_.size() - start_ - kFrameHeaderBytes));
  }
  FrameBuilder(const FrameBuilder&) = delete;
  FrameBuilder& operator=(const FrameBuilder&) = delete;

  template <typename T>
  void le(T v) {
    size_t at = out_.size();
    out_.resize(at + sizeof(T));
    store_le<T>(out_.data() + at, v);
  }
  void bytes(Bytes b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void str(std::string_view s) {
    if (s.size() > 0xffff) s = s.substr(0, 0xffff);
    le<uint16_t>(static_cast<uint16_t>(s.size()));
    bytes(ascii(s));
  }

 private:
  std::vector<uint8_t>& out_;
  size_t start_;
};

std::string read_str(ByteReader& r) {
  uint16_t n = r.u16();
  Bytes b = r.take(n);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

Blake2bDigest read_hash(ByteReader& r) {
  Blake2bDigest h{};
  Bytes b = r.take(h.size());
  if (r.ok()) std::memcpy(h.data(), b.data(), h.size());
  return h;
}

// The common tail of every parser: all fields present, nothing left over.
Status finished(const ByteReader& r, const char* what) {
  if (!r.ok()) return make_error(std::string("truncated ") + what + " frame");
  if (r.remaining() != 0) return make_error(std::string("trailing bytes in ") + what + " frame");
  return {};
}

bool known_type(uint8_t t) {
  switch (static_cast<FrameType>(t)) {
    case FrameType::hello: case FrameType::entry: case FrameType::list_end: case FrameType::reply:
    case FrameType::file_begin: case FrameType::data: case FrameType::file_end: case FrameType::done:
    case FrameType::result: case FrameType::summary: case FrameType::error:
      return true;
  }
  return false;
}

}  // namespace

void encode_hello(std::vector<uint8_t>& out, const Hello& m) {
  FrameBuilder f(out, FrameType::hello);
  f.bytes(ascii(kMagic));
  f.le<uint16_t>(m.version);
  f.str(m.subdir);
}

void encode_entry(std::vector<uint8_t>& out, const Entry& m) {
  FrameBuilder f(out, FrameType::entry);
  f.le<uint8_t>(static_cast<uint8_t>(m.kind));
  f.le<uint32_t>(m.mode);
  f.le<uint64_t>(static_cast<uint64_t>(m.mtime_s));
  f.le<uint32_t>(m.mtime_ns);
  f.le<uint64_t>(m.size);
  f.str(m.path);
  f.str(m.link_target);
}

void encode_list_end(std::vector<uint8_t>& out, uint32_t count) {
  FrameBuilder f(out, FrameType::list_end);
  f.le<uint32_t>(count);
}

void encode_reply(std::vector<uint8_t>& out, const Reply& m) {
  FrameBuilder f(out, FrameType::reply);
  f.le<uint32_t>(m.index);
  f.le<uint8_t>(static_cast<uint8_t>(m.state));
  f.le<uint64_t>(m.offset);
  f.bytes(m.hash);
  f.str(m.message);
}

void encode_file_begin(std::vector<uint8_t>& out, const FileBegin& m) {
  FrameBuilder f(out, FrameType::file_begin);
  f.le<uint32_t>(m.index);
  f.le<uint64_t>(m.offset);
}

void encode_data(std::vector<uint8_t>& out, Bytes data) {
  FrameBuilder f(out, FrameType::data);
  f.bytes(data.first(std::min(data.size(), kMaxData)));
}

void encode_data_header(std::vector<uint8_t>& out, size_t data_bytes) {
  const size_t at = out.size();
  out.resize(at + kFrameHeaderBytes);
  out[at] = static_cast<uint8_t>(FrameType::data);
  store_le32(out.data() + at + 1, static_cast<uint32_t>(std::min(data_bytes, kMaxData)));
}

void encode_file_end(std::vector<uint8_t>& out, const Blake2bDigest& hash) {
  FrameBuilder f(out, FrameType::file_end);
  f.bytes(hash);
}

void encode_done(std::vector<uint8_t>& out) { FrameBuilder f(out, FrameType::done); }

void encode_result(std::vector<uint8_t>& out, const FileResult& m) {
  FrameBuilder f(out, FrameType::result);
  f.le<uint32_t>(m.index);
  f.le<uint8_t>(m.ok ? 1 : 0);
  f.str(m.message);
}

void encode_summary(std::vector<uint8_t>& out, const Summary& m) {
  FrameBuilder f(out, FrameType::summary);
  f.le<uint64_t>(m.files_written);
  f.le<uint64_t>(m.bytes_received);
  f.le<uint64_t>(m.files_skipped);
  f.le<uint32_t>(m.failures);
}

void encode_error(std::vector<uint8_t>& out, std::string_view message) {
  FrameBuilder f(out, FrameType::error);
  f.str(message);
}

Result<Hello> parse_hello(Bytes payload) {
  ByteReader r(payload);
  Bytes magic = r.take(kMagic.size());
  if (!r.ok() || !bytes_equal(magic, ascii(kMagic))) return make_error("not a curvecp push peer (bad Hello)");
  Hello m;
  m.version = r.u16();
  m.subdir = read_str(r);
  if (Status s = finished(r, "Hello"); !s) return s.error();
  if (!m.subdir.empty()) {
    if (Status s = check_relative_path(m.subdir); !s) return make_error("--to " + s.error().message);
  }
  return m;
}

Result<Entry> parse_entry(Bytes payload) {
  ByteReader r(payload);
  Entry m;
  uint8_t kind = r.u8();
  m.mode = r.u32();
  m.mtime_s = static_cast<int64_t>(r.u64());
  m.mtime_ns = r.u32();
  m.size = r.u64();
  m.path = read_str(r);
  m.link_target = read_str(r);
  if (Status s = finished(r, "Entry"); !s) return s.error();
  if (kind < 1 || kind > 3) return make_error("unknown entry kind " + std::to_string(kind));
  m.kind = static_cast<EntryKind>(kind);
  if (m.mode > 07777) return make_error("bad mode bits in entry");
  if (m.mtime_ns >= 1000000000u) return make_error("bad modification time in entry");
  if (Status s = check_relative_path(m.path); !s) return s.error();
  if (m.kind != EntryKind::symlink && !m.link_target.empty()) {
    return make_error("link target on an entry that is not a symlink");
  }
  return m;
}

Result<uint32_t> parse_list_end(Bytes payload) {
  ByteReader r(payload);
  uint32_t n = r.u32();
  if (Status s = finished(r, "ListEnd"); !s) return s.error();
  return n;
}

Result<Reply> parse_reply(Bytes payload) {
  ByteReader r(payload);
  Reply m;
  m.index = r.u32();
  uint8_t state = r.u8();
  m.offset = r.u64();
  m.hash = read_hash(r);
  m.message = read_str(r);
  if (Status s = finished(r, "Reply"); !s) return s.error();
  if (state > 3) return make_error("unknown reply state " + std::to_string(state));
  m.state = static_cast<ReplyState>(state);
  return m;
}

Result<FileBegin> parse_file_begin(Bytes payload) {
  ByteReader r(payload);
  FileBegin m;
  m.index = r.u32();
  m.offset = r.u64();
  if (Status s = finished(r, "FileBegin"); !s) return s.error();
  return m;
}

Result<Blake2bDigest> parse_file_end(Bytes payload) {
  ByteReader r(payload);
  Blake2bDigest h = read_hash(r);
  if (Status s = finished(r, "FileEnd"); !s) return s.error();
  return h;
}

Status parse_done(Bytes payload) {
  ByteReader r(payload);
  return finished(r, "Done");
}

Result<FileResult> parse_result(Bytes payload) {
  ByteReader r(payload);
  FileResult m;
  m.index = r.u32();
  uint8_t ok = r.u8();
  m.message = read_str(r);
  if (Status s = finished(r, "Result"); !s) return s.error();
  if (ok > 1) return make_error("bad result flag");
  m.ok = ok == 1;
  return m;
}

Result<Summary> parse_summary(Bytes payload) {
  ByteReader r(payload);
  Summary m;
  m.files_written = r.u64();
  m.bytes_received = r.u64();
  m.files_skipped = r.u64();
  m.failures = r.u32();
  if (Status s = finished(r, "Summary"); !s) return s.error();
  return m;
}

Result<std::string> parse_error(Bytes payload) {
  ByteReader r(payload);
  std::string message = read_str(r);
  if (Status s = finished(r, "Error"); !s) return s.error();
  // One line on the terminal, whatever the peer sent.
  for (char& c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return message;
}

void FrameDecoder::feed(Bytes bytes) {
  if (bytes.empty()) return;
  std::memcpy(prepare(bytes.size()).data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

MutableBytes FrameDecoder::prepare(size_t n) {
  if (capacity_ - end_ < n) {
    const size_t live = end_ - start_;
    if (capacity_ - live >= n && start_ > 0) {
      // Slide the unreturned bytes (less than a frame) to the front.
      std::memmove(buffer_.get(), buffer_.get() + start_, live);
    } else {
      const size_t grown = std::max(capacity_ * 2, live + n);
      std::unique_ptr<uint8_t[]> bigger(new uint8_t[grown]);
      if (live > 0) std::memcpy(bigger.get(), buffer_.get() + start_, live);
      buffer_ = std::move(bigger);
      capacity_ = grown;
    }
    start_ = 0;
    end_ = live;
  }
  return MutableBytes(buffer_.get() + end_, capacity_ - end_);
}

Result<std::optional<FrameView>> FrameDecoder::next_view() {
  if (buffered() < kFrameHeaderBytes) return std::optional<FrameView>{};
  const uint8_t* p = buffer_.get() + start_;
  if (!known_type(p[0])) return make_error("unknown frame type " + std::to_string(p[0]));
  const uint32_t length = load_le32(p + 1);
  if (length > kMaxPayload) return make_error("frame of " + std::to_string(length) + " bytes is too long");
  if (buffered() < kFrameHeaderBytes + length) return std::optional<FrameView>{};
  start_ += kFrameHeaderBytes + length;
  return std::optional<FrameView>{FrameView{static_cast<FrameType>(p[0]), Bytes(p + kFrameHeaderBytes, length)}};
}

Result<std::optional<Frame>> FrameDecoder::next() {
  auto view = next_view();
  if (!view) return view.error();
  if (!*view) return std::optional<Frame>{};
  const Bytes payload = (*view)->payload;
  return std::optional<Frame>{Frame{(*view)->type, std::vector<uint8_t>(payload.begin(), payload.end())}};
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t at = 0;
  while (at <= path.size()) {
    size_t slash = path.find('/', at);
    if (slash == std::string_view::npos) slash = path.size();
    parts.push_back(path.substr(at, slash - at));
    at = slash + 1;
  }
  return parts;
}

Status check_relative_path(std::string_view path) {
  if (path.empty()) return make_error("empty path refused");
  if (path.size() > kMaxPathBytes) return make_error("path longer than 4096 bytes refused");
  if (path.find('\0') != std::string_view::npos) return make_error("path with a NUL byte refused");
  if (path.front() == '/') return make_error("absolute path '" + std::string(path) + "' refused");
  for (std::string_view part : split_path(path)) {
    if (part == "..") return make_error("path '" + std::string(path) + "' with '..' refused");
    if (part.empty() || part == ".") return make_error("path '" + std::string(path) + "' is not in canonical form");
    if (part.size() > 255) return make_error("path component longer than 255 bytes refused");
  }
  return {};
}

Status check_link_target(std::string_view link_path, std::string_view target) {
  if (target.empty()) return make_error("symlink '" + std::string(link_path) + "' with an empty target refused");
  if (target.size() > kMaxPathBytes || target.find('\0') != std::string_view::npos) {
    return make_error("symlink '" + std::string(link_path) + "' with a malformed target refused");
  }
  const std::string why = "symlink '" + std::string(link_path) + "' -> '" + std::string(target) + "' points out of the tree: refused";
  if (target.front() == '/') return make_error(why);
  // Depth of the link's directory below the top, then walk the target.
  long depth = static_cast<long>(split_path(link_path).size()) - 1;
  for (std::string_view part : split_path(target)) {
    if (part == "..") {
      if (--depth < 0) return make_error(why);
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
  }
  return {};
}

}  // namespace curvecp::push
