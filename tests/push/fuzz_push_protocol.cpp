// libFuzzer target for the push protocol's frame decoder and every payload parser
// (client/push_protocol.h): arbitrary bytes are cut into frames, each parsed by its type;
// whatever parses must encode back to a frame that parses to the same fields. With
// CURVECP_FUZZ_SEEDS=DIR set, LLVMFuzzerInitialize first writes one valid conversation
// per seed file there (tests/push/corpus/fuzz_push_protocol/README.md).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "client/push_protocol.h"

namespace curvecp::push {
namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void roundtrip_entry(const Entry& e) {
  std::vector<uint8_t> out;
  encode_entry(out, e);
  auto again = parse_entry(Bytes(out.data() + kFrameHeaderBytes, out.size() - kFrameHeaderBytes));
  check(again.ok() && again->path == e.path && again->link_target == e.link_target && again->size == e.size &&
        again->mode == e.mode && again->mtime_s == e.mtime_s && again->mtime_ns == e.mtime_ns);
}

void parse_frame(const Frame& f) {
  const Bytes p(f.payload);
  switch (f.type) {
    case FrameType::hello: (void)parse_hello(p); break;
    case FrameType::entry:
      if (auto e = parse_entry(p); e) {
        check(check_relative_path(e->path).ok());
        (void)check_link_target(e->path, e->link_target);
        roundtrip_entry(*e);
      }
      break;
    case FrameType::list_end: (void)parse_list_end(p); break;
    case FrameType::reply: (void)parse_reply(p); break;
    case FrameType::file_begin: (void)parse_file_begin(p); break;
    case FrameType::data: check(p.size() <= kMaxPayload); break;
    case FrameType::file_end: (void)parse_file_end(p); break;
    case FrameType::done: (void)parse_done(p); break;
    case FrameType::result: (void)parse_result(p); break;
    case FrameType::summary: (void)parse_summary(p); break;
    case FrameType::error: (void)parse_error(p); break;
  }
}

std::vector<std::vector<uint8_t>> seeds() {
  std::vector<uint8_t> sender, receiver, hostile;
  encode_hello(sender, Hello{kVersion, "to/here"});
  Entry dir{EntryKind::directory, 0755, 1700000000, 5, 0, "tree", ""};
  Entry file{EntryKind::file, 0644, 1700000001, 6, 5, "tree/a.txt", ""};
  Entry link{EntryKind::symlink, 0777, 1700000002, 7, 0, "tree/l", "a.txt"};
  for (const Entry& e : {dir, file, link}) encode_entry(sender, e);
  encode_list_end(sender, 3);
  encode_file_begin(sender, FileBegin{1, 0});
  encode_data(sender, ascii("hello"));
  encode_file_end(sender, Blake2b::of(ascii("hello")));
  encode_done(sender);
  encode_hello(receiver, Hello{kVersion, ""});
  encode_reply(receiver, Reply{0, ReplyState::done, 0, {}, ""});
  encode_reply(receiver, Reply{1, ReplyState::want, 2, Blake2b::of(ascii("he")), ""});
  encode_reply(receiver, Reply{2, ReplyState::refused, 0, {}, "no"});
  encode_result(receiver, FileResult{1, false, "write error"});
  encode_summary(receiver, Summary{1, 5, 0, 1});
  encode_error(hostile, "stop");
  Entry abs{EntryKind::file, 0644, 0, 0, 0, "/etc/passwd", ""};
  encode_entry(hostile, abs);
  return {sender, receiver, hostile};
}

}  // namespace
}  // namespace curvecp::push

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("CURVECP_FUZZ_SEEDS");
  if (!dir) return 0;
  int n = 0;
  for (const auto& seed : curvecp::push::seeds()) {
    const std::string path = std::string(dir) + "/seed-" + std::to_string(n++);
    if (FILE* f = std::fopen(path.c_str(), "wb")) {
      std::fwrite(seed.data(), 1, seed.size(), f);
      std::fclose(f);
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace curvecp::push;
  FrameDecoder d;
  // Fed in two pieces, so partial headers and payloads are exercised too.
  const size_t half = size / 2;
  d.feed(curvecp::Bytes(data, half));
  for (int round = 0; round < 2; ++round) {
    for (;;) {
      auto f = d.next();
      if (!f || !*f) break;
      parse_frame(**f);
    }
    if (round == 0) d.feed(curvecp::Bytes(data + half, size - half));
  }
  return 0;
}
