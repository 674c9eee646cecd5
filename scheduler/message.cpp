#include "scheduler/message.h"

#include <cstring>
#include <limits>

namespace curvecp {

size_t decode_ack_ranges(const AckFields& ack, std::array<AckRange, 6>& out) {
  // Range 1 is [0, range1); each later range starts a gap after the previous one
  // (CURVECP.md 6.1). Positions are 64-bit; a malicious peer could make them wrap, so
  // the chain stops at the first range that would.
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  size_t n = 0;
  out[n++] = AckRange{0, ack.range1};
  uint64_t end = ack.range1;
  for (size_t k = 0; k < 5; ++k) {
    const uint64_t gap = k == 0 ? ack.gap1 : ack.gaps[k - 1];
    const uint64_t len = ack.ranges[k];
    if (end > kMax - gap - len) break;
    const uint64_t start = end + gap;
    out[n++] = AckRange{start, start + len};
    end = start + len;
  }
  return n;
}

ParseResult parse_message(Bytes bytes, Message& out) {
  // Cheapest checks first (ARCHITECTURE.md): length range, multiple of 16.
  if (bytes.size() < kMessageMinBytes || bytes.size() > kMessageMaxBytes || bytes.size() % 16 != 0) {
    return ParseResult::bad_length;
  }
  const uint8_t* p = bytes.data();
  out.id = load_le32(p + 0);
  out.ack.acked_id = load_le32(p + 4);
  out.ack.range1 = load_le64(p + 8);
  out.ack.gap1 = load_le32(p + 16);
  for (size_t k = 0; k < 5; ++k) out.ack.ranges[k] = load_le16(p + 20 + 4 * k);
  for (size_t k = 0; k < 4; ++k) out.ack.gaps[k] = load_le16(p + 22 + 4 * k);
  out.size_flags = load_le16(p + 38);
  out.offset = load_le64(p + 40);
  out.data = {};
  out.padding = {};
  out.end = StreamEnd::none;

  // D is the field without the two flag bits; bits 13..15 therefore make D > 1024,
  // which the reference treats as a malformed data part (CURVECP.md 6.1).
  const size_t data_len = out.size_flags & static_cast<uint16_t>(~(kMessageSucc | kMessageFail));
  if (data_len > kMessageMaxDataBytes || kMessageHeaderBytes + data_len > bytes.size()) {
    return ParseResult::bad_data;
  }
  if (out.offset > std::numeric_limits<uint64_t>::max() - data_len) return ParseResult::bad_data;
  // FAIL wins over SUCC when both are set: the stream ended, and not cleanly.
  if (out.size_flags & kMessageFail) {
    out.end = StreamEnd::fail;
  } else if (out.size_flags & kMessageSucc) {
    out.end = StreamEnd::succ;
  }
  out.data = bytes.subspan(bytes.size() - data_len);
  out.padding = bytes.subspan(kMessageHeaderBytes, bytes.size() - kMessageHeaderBytes - data_len);
  return ParseResult::ok;
}

size_t message_size_for_data(size_t data_bytes) {
  const size_t u = 64 + data_bytes;
  if (u <= 192) return 192;
  if (u <= 320) return 320;
  if (u <= 576) return 576;
  return 1088;
}

bool message_fits(size_t data_bytes, size_t size, size_t out_bytes) {
  return size >= kMessageMinBytes && size <= kMessageMaxBytes && size % 16 == 0 &&
         data_bytes <= kMessageMaxDataBytes && kMessageHeaderBytes + data_bytes <= size && out_bytes >= size;
}

MutableBytes encode_message_header(const MessageFields& fields, size_t data_bytes, size_t size, MutableBytes out) {
  if (!message_fits(data_bytes, size, out.size())) return {};
  uint8_t* p = out.data();
  store_le32(p + 0, fields.id);
  store_le32(p + 4, fields.ack.acked_id);
  store_le64(p + 8, fields.ack.range1);
  store_le32(p + 16, fields.ack.gap1);
  for (size_t k = 0; k < 5; ++k) store_le16(p + 20 + 4 * k, fields.ack.ranges[k]);
  for (size_t k = 0; k < 4; ++k) store_le16(p + 22 + 4 * k, fields.ack.gaps[k]);
  uint16_t size_flags = static_cast<uint16_t>(data_bytes);
  if (fields.end == StreamEnd::succ) size_flags |= kMessageSucc;
  if (fields.end == StreamEnd::fail) size_flags |= kMessageFail;
  store_le16(p + 38, size_flags);
  store_le64(p + 40, fields.offset);
  std::memset(p + kMessageHeaderBytes, 0, size - kMessageHeaderBytes - data_bytes);
  return out.subspan(size - data_bytes, data_bytes);
}

size_t encode_message(const MessageFields& fields, Bytes data, size_t size, MutableBytes out) {
  if (!message_fits(data.size(), size, out.size())) return 0;
  MutableBytes dst = encode_message_header(fields, data.size(), size, out);
  if (!data.empty()) std::memcpy(dst.data(), data.data(), data.size());
  return size;
}

}  // namespace curvecp
