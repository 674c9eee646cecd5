// The push protocol spoken between `curvecp push` and `curvecp receive` over one CurveCP
// stream (man/curvecp-push.1, PROTOCOL). Sans-I/O: encoders append frames to a byte
// vector, FrameDecoder cuts frames out of whatever bytes arrive, parsers check every
// field. Nothing here touches a file, a descriptor or a clock.
//
// Frame: u8 type, u32 payload length (little-endian), payload (at most kMaxPayload).
// Strings are u16 length + bytes. Conversation (version 1):
//
//   sender                                   receiver
//   Hello(version, --to SUBDIR)         ->
//                                       <-   Hello(version)            (or Error)
//   Entry * N, ListEnd(N)               ->
//                                       <-   Reply * N                 (one per entry, in order)
//   per file to send: FileBegin(i, offset), Data*, FileEnd(hash)  ->
//   Done                                ->
//                                       <-   Result * K (files sent), Summary
//
// The receiver answers the whole list only after ListEnd and reports results only after
// Done, so neither side ever blocks writing while the other is blocked writing too.
// A Reply says what the receiver has: `want` from an offset (a partial file whose first
// `offset` bytes hash to `hash`: the sender continues there if its own prefix matches,
// else starts again at 0), `have` (a complete file of the same size and mtime hashing to
// `hash`: skipped if the sender's hash matches), `done` (directory or symlink made),
// `refused` (with the reason). Error ends the conversation with a reason, either way.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/result.h"
#include "crypto/hash.h"

namespace curvecp::push {

inline constexpr uint16_t kVersion = 1;
inline constexpr std::string_view kMagic = "curvecp-push";
inline constexpr size_t kFrameHeaderBytes = 5;
inline constexpr size_t kMaxData = 256 * 1024;      // bytes of file data per Data frame
inline constexpr size_t kMaxPayload = kMaxData + 64;
inline constexpr size_t kMaxPathBytes = 4096;

enum class FrameType : uint8_t {
  hello = 'H',
  entry = 'E',
  list_end = 'L',
  reply = 'R',
  file_begin = 'B',
  data = 'D',
  file_end = 'F',
  done = 'Z',
  result = 'S',
  summary = 'U',
  error = 'X',
};

struct Frame {
  FrameType type;
  std::vector<uint8_t> payload;
};

// A frame whose payload is a view into the decoder's buffer (FrameDecoder::next_view).
struct FrameView {
  FrameType type;
  Bytes payload;
};

enum class EntryKind : uint8_t { file = 1, directory = 2, symlink = 3 };

struct Hello {
  uint16_t version = kVersion;
  std::string subdir;  // sender: --to SUBDIR (empty: DIR itself); receiver: empty
};

struct Entry {
  EntryKind kind = EntryKind::file;
  uint32_t mode = 0644;     // permission bits (07777)
  int64_t mtime_s = 0;
  uint32_t mtime_ns = 0;    // < 1e9
  uint64_t size = 0;        // files only
  std::string path;         // relative, '/'-separated (check_relative_path)
  std::string link_target;  // symlinks only
};

enum class ReplyState : uint8_t { want = 0, have = 1, done = 2, refused = 3 };

struct Reply {
  uint32_t index = 0;
  ReplyState state = ReplyState::want;
  uint64_t offset = 0;  // want: bytes already there
  Blake2bDigest hash{};  // want: hash of those bytes; have: hash of the whole file
  std::string message;  // refused: why
};

struct FileBegin {
  uint32_t index = 0;
  uint64_t offset = 0;
};

struct FileResult {
  uint32_t index = 0;
  bool ok = false;
  std::string message;
};

struct Summary {
  uint64_t files_written = 0;
  uint64_t bytes_received = 0;  // file data bytes that arrived in Data frames
  uint64_t files_skipped = 0;
  uint32_t failures = 0;
};

// Encoders: append one whole frame to `out`.
void encode_hello(std::vector<uint8_t>& out, const Hello& m);
void encode_entry(std::vector<uint8_t>& out, const Entry& m);
void encode_list_end(std::vector<uint8_t>& out, uint32_t count);
void encode_reply(std::vector<uint8_t>& out, const Reply& m);
void encode_file_begin(std::vector<uint8_t>& out, const FileBegin& m);
void encode_data(std::vector<uint8_t>& out, Bytes data);  // data.size() <= kMaxData
// Only the header of a Data frame of `data_bytes` (<= kMaxData): the caller sends the
// data right after it, from its own buffer.
void encode_data_header(std::vector<uint8_t>& out, size_t data_bytes);
void encode_file_end(std::vector<uint8_t>& out, const Blake2bDigest& hash);
void encode_done(std::vector<uint8_t>& out);
void encode_result(std::vector<uint8_t>& out, const FileResult& m);
void encode_summary(std::vector<uint8_t>& out, const Summary& m);
void encode_error(std::vector<uint8_t>& out, std::string_view message);

// Parsers of a frame's payload: an error names what is wrong; trailing bytes are an error.
Result<Hello> parse_hello(Bytes payload);
// Also checks the path (check_relative_path), the mode and the kind; a symlink's target
// is left to the receiver's policy (check_link_target).
Result<Entry> parse_entry(Bytes payload);
Result<uint32_t> parse_list_end(Bytes payload);
Result<Reply> parse_reply(Bytes payload);
Result<FileBegin> parse_file_begin(Bytes payload);
Result<Blake2bDigest> parse_file_end(Bytes payload);
Status parse_done(Bytes payload);
Result<FileResult> parse_result(Bytes payload);
Result<Summary> parse_summary(Bytes payload);
Result<std::string> parse_error(Bytes payload);

// Cuts frames out of a byte stream. feed() appends; next() returns the next complete
// frame, nothing if more bytes are needed, or an error (unknown type, oversized length)
// after which the stream is unusable.
class FrameDecoder {
 public:
  void feed(Bytes bytes);
  // Room for at least `n` more bytes at the end of the buffer, for reading straight into
  // it (no copy through a second buffer); commit() says how many arrived. The span is
  // valid until the next call of any other method.
  MutableBytes prepare(size_t n);
  void commit(size_t n) { end_ += n; }
  Result<std::optional<Frame>> next();
  // Like next(), without copying the payload: the view is valid until the next call of
  // any method.
  Result<std::optional<FrameView>> next_view();
  // Bytes fed but not yet returned in a frame (non-zero at EOF: a truncated frame).
  size_t buffered() const { return end_ - start_; }

 private:
  // Not a std::vector: growing it would zero every byte before a read overwrites it.
  std::unique_ptr<uint8_t[]> buffer_;
  size_t capacity_ = 0;
  size_t start_ = 0;  // first byte not yet returned in a frame
  size_t end_ = 0;    // end of the bytes fed
};

// A name the receiver may create under its directory: non-empty, at most kMaxPathBytes,
// relative, no empty, "." or ".." component, no NUL. Ok or the reason.
Status check_relative_path(std::string_view path);
// A symlink at `link_path` (checked as above) whose `target`, read relative to the link's
// directory, never climbs above the top: not absolute, and no prefix of it has more ".."
// than the link's depth plus the names before. Lexical: the receiver never follows links
// anyway (it opens every component with O_NOFOLLOW).
Status check_link_target(std::string_view link_path, std::string_view target);

// Splits "a/b/c" into {"a", "b", "c"} (no checks).
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace curvecp::push
