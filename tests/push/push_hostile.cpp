// A hostile push sender for tests/e2e/push_traversal.sh: run as the program of
// `curvecp connect ... -- push_hostile NAME [TARGET]` (fd 6 from the server, fd 7 to it),
// it offers one entry whose name (or symlink target) tries to leave the receiver's
// directory, then prints what the receiver answered: "error: ..." (it stopped the push),
// "refused: ..." (it refused the entry) or "accepted". Exit 0 once an answer is printed.
//
//   push_hostile /abs/path          a file with an absolute name
//   push_hostile ../x               a file with a '..' name
//   push_hostile NAME TARGET        a symlink NAME -> TARGET
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "client/push_protocol.h"

using namespace curvecp;
using namespace curvecp::push;

namespace {

bool write_all(const std::vector<uint8_t>& out) {
  size_t at = 0;
  while (at < out.size()) {
    ssize_t w = ::write(7, out.data() + at, out.size() - at);
    if (w <= 0) return false;
    at += static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: push_hostile NAME [SYMLINK-TARGET]\n");
    return 100;
  }
  Entry e;
  e.path = argv[1];
  e.kind = argc > 2 ? EntryKind::symlink : EntryKind::file;
  if (argc > 2) e.link_target = argv[2];
  std::vector<uint8_t> out;
  encode_hello(out, Hello{kVersion, ""});
  encode_entry(out, e);
  encode_list_end(out, 1);
  if (!write_all(out)) return 111;
  FrameDecoder d;
  uint8_t buf[4096];
  for (;;) {
    auto f = d.next();
    if (!f) {
      std::printf("malformed: %s\n", f.error().message.c_str());
      return 111;
    }
    if (*f) {
      const Frame& frame = **f;
      if (frame.type == FrameType::error) {
        std::printf("error: %s\n", parse_error(frame.payload)->c_str());
        return 0;
      }
      if (frame.type == FrameType::reply) {
        auto r = parse_reply(frame.payload);
        if (r && r->state == ReplyState::refused) {
          std::printf("refused: %s\n", r->message.c_str());
        } else {
          std::printf("accepted\n");
        }
        return 0;
      }
      continue;  // the receiver's Hello
    }
    ssize_t n = ::read(6, buf, sizeof buf);
    if (n <= 0) {
      std::printf("closed without an answer\n");
      return 111;
    }
    d.feed(Bytes(buf, static_cast<size_t>(n)));
  }
}
