// The CurveCP message format (CURVECP.md 6.1), wire-exact: a 48-byte header with the
// message ID, the acknowledged message ID, six chained acknowledged ranges, size and
// EOF flags and the stream offset, then zero padding, then the data at the very end.
// Pure codec: no state, no allocation; parse views point into the caller's bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/bytes.h"

namespace curvecp {

inline constexpr size_t kMessageHeaderBytes = 48;
inline constexpr size_t kMessageMinBytes = 48;
inline constexpr size_t kMessageMaxBytes = 1088;
inline constexpr size_t kMessageMaxDataBytes = 1024;
// Pure acknowledgements are always 192 bytes (CURVECP.md 6.2).
inline constexpr size_t kPureAckBytes = 192;
// Size/flags field bits (CURVECP.md 6.1).
inline constexpr uint16_t kMessageSizeMask = 0x07ff;
inline constexpr uint16_t kMessageSucc = 0x0800;  // normal end of stream after this data
inline constexpr uint16_t kMessageFail = 0x1000;  // end of stream with error after this data

enum class StreamEnd : uint8_t { none, succ, fail };

// The acknowledgement part of a message (bytes 4..38): acknowledged ID and six chained
// ranges. Range 1 is [0, range1); range k+1 starts gap k bytes after the end of range k.
struct AckFields {
  uint32_t acked_id = 0;
  uint64_t range1 = 0;
  uint32_t gap1 = 0;
  std::array<uint16_t, 5> ranges{};  // ranges 2..6
  std::array<uint16_t, 4> gaps{};    // gaps 2..5
};

// One acknowledged byte interval [start, stop) of the peer's view of our stream.
struct AckRange {
  uint64_t start = 0;
  uint64_t stop = 0;
};

// Decodes the six chained ranges into absolute intervals. Empty ranges (stop == start)
// are kept with their position so callers can apply the reference's rules; a range
// whose end would overflow 64 bits ends the list. Returns how many entries were filled.
size_t decode_ack_ranges(const AckFields& ack, std::array<AckRange, 6>& out);

// A parsed message. `data` views the caller's buffer.
struct Message {
  uint32_t id = 0;  // 0: pure acknowledgement, never acknowledged
  AckFields ack;
  uint16_t size_flags = 0;  // raw field at offset 38
  uint64_t offset = 0;
  Bytes data;
  Bytes padding;  // bytes between the header and the data (extensions live here)
  StreamEnd end = StreamEnd::none;
};

enum class ParseResult : uint8_t {
  ok,
  bad_length,  // not 48..1088 or not a multiple of 16: the whole message is ignored
  bad_data,    // header readable (ack part valid) but the data part is malformed:
               // D > 1024, 48 + D > len, flag bits 13..15 set, or offset + D overflows
};

// Parses `bytes`. On bad_length `out` is unspecified. On bad_data only `out.id` and
// `out.ack` are meaningful (CURVECP.md 6.1: acks are processed, the data is ignored).
ParseResult parse_message(Bytes bytes, Message& out);

// Message length the reference uses for D data bytes: 64 + D rounded up to 192, 320,
// 576 or 1088 (CURVECP.md 6.2). D must be <= 1024.
size_t message_size_for_data(size_t data_bytes);

// What to put into one outgoing message.
struct MessageFields {
  uint32_t id = 0;
  AckFields ack;
  uint64_t offset = 0;
  StreamEnd end = StreamEnd::none;
};

// Writes a message of exactly `size` bytes (a multiple of 16, 48..1088, with room for
// the data) into out[0..size): header, zero padding, data at the end. Returns `size`, or
// 0 if the arguments do not fit (out too small, size invalid, data > 1024 or too long).
size_t encode_message(const MessageFields& fields, Bytes data, size_t size, MutableBytes out);

// Like encode_message, but leaves the last `data_bytes` bytes for the caller to fill
// (so data can be copied straight from a ring buffer in two pieces). Returns the span
// of out where the data goes, or an empty span (and writes nothing) on bad arguments;
// with data_bytes == 0 success is out.size() >= size, check with message_fits().
MutableBytes encode_message_header(const MessageFields& fields, size_t data_bytes, size_t size, MutableBytes out);
bool message_fits(size_t data_bytes, size_t size, size_t out_bytes);

}  // namespace curvecp
