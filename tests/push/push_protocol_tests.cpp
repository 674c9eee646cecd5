// Units of the push protocol (client/push_protocol.h) and of the receiver's
// descriptor-relative path resolution (client/receive_fs.h).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "client/push_protocol.h"
#include "client/receive_fs.h"

namespace curvecp::push {
namespace {

std::vector<Frame> decode_all(const std::vector<uint8_t>& bytes, size_t step) {
  FrameDecoder d;
  std::vector<Frame> frames;
  for (size_t at = 0; at < bytes.size(); at += step) {
    d.feed(Bytes(bytes.data() + at, std::min(step, bytes.size() - at)));
    for (;;) {
      auto f = d.next();
      REQUIRE(f.ok());
      if (!*f) break;
      frames.push_back(std::move(**f));
    }
  }
  CHECK(d.buffered() == 0);
  return frames;
}

Entry sample_entry() {
  Entry e;
  e.kind = EntryKind::symlink;
  e.mode = 0755;
  e.mtime_s = 1700000000;
  e.mtime_ns = 123456789;
  e.size = 0;
  e.path = "dir/link";
  e.link_target = "../other/file";
  return e;
}

TEST_CASE("data frames read straight into the decoder, as views, match the encoded bytes") {
  // The receiver's path for file data: prepare/commit instead of feed, next_view instead
  // of next; large frames arriving in odd-sized reads make the buffer slide and grow.
  std::vector<uint8_t> wire;
  std::vector<std::vector<uint8_t>> sent;
  for (size_t k = 0; k < 5; ++k) {
    std::vector<uint8_t> data(k == 2 ? 0 : kMaxData - k * 1000);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + k);
    encode_data(wire, data);
    sent.push_back(std::move(data));
  }
  encode_done(wire);
  FrameDecoder d;
  size_t at = 0;
  size_t got = 0;
  bool done = false;
  while (!done) {
    auto f = d.next_view();
    REQUIRE(f.ok());
    if (*f) {
      if ((*f)->type == FrameType::done) {
        done = true;
        continue;
      }
      REQUIRE((*f)->type == FrameType::data);
      REQUIRE(got < sent.size());
      CHECK(std::vector<uint8_t>((*f)->payload.begin(), (*f)->payload.end()) == sent[got]);
      ++got;
      continue;
    }
    REQUIRE(at < wire.size());
    MutableBytes space = d.prepare(100003);
    REQUIRE(space.size() >= 100003);
    const size_t n = std::min(space.size(), std::min<size_t>(100003, wire.size() - at));
    std::memcpy(space.data(), wire.data() + at, n);
    d.commit(n);
    at += n;
  }
  CHECK(got == sent.size());
  CHECK(at == wire.size());
  CHECK(d.buffered() == 0);
}

TEST_CASE("every message survives encode, any split into reads, and parse") {
  std::vector<uint8_t> out;
  encode_hello(out, Hello{kVersion, "sub/dir"});
  encode_entry(out, sample_entry());
  encode_list_end(out, 1);
  Reply reply{7, ReplyState::want, 4096, Blake2b::of(ascii("abc")), ""};
  encode_reply(out, reply);
  encode_file_begin(out, FileBegin{7, 4096});
  encode_data(out, ascii("hello"));
  encode_file_end(out, Blake2b::of(ascii("hello")));
  encode_done(out);
  encode_result(out, FileResult{3, false, "BLAKE2b check failed"});
  encode_summary(out, Summary{10, 20, 30, 1});
  encode_error(out, "absolute path '/x' refused");
  for (size_t step : {size_t{1}, size_t{3}, size_t{64}, out.size()}) {
    auto frames = decode_all(out, step);
    REQUIRE(frames.size() == 11);
    auto hello = parse_hello(frames[0].payload);
    REQUIRE(hello.ok());
    CHECK(hello->subdir == "sub/dir");
    auto entry = parse_entry(frames[1].payload);
    REQUIRE(entry.ok());
    CHECK(entry->path == "dir/link");
    CHECK(entry->link_target == "../other/file");
    CHECK(entry->mtime_ns == 123456789);
    CHECK(entry->mode == 0755);
    CHECK(*parse_list_end(frames[2].payload) == 1);
    auto r = parse_reply(frames[3].payload);
    REQUIRE(r.ok());
    CHECK(r->offset == 4096);
    CHECK(r->hash == reply.hash);
    CHECK(parse_file_begin(frames[4].payload)->offset == 4096);
    CHECK(frames[5].type == FrameType::data);
    CHECK(frames[5].payload.size() == 5);
    CHECK(*parse_file_end(frames[6].payload) == Blake2b::of(ascii("hello")));
    CHECK(parse_done(frames[7].payload).ok());
    CHECK(parse_result(frames[8].payload)->message == "BLAKE2b check failed");
    CHECK(parse_summary(frames[9].payload)->files_skipped == 30);
    CHECK(*parse_error(frames[10].payload) == "absolute path '/x' refused");
  }
}

TEST_CASE("the decoder refuses unknown types and oversized frames; parsers refuse truncation and trailing bytes") {
  FrameDecoder d;
  const uint8_t unknown[] = {'Q', 0, 0, 0, 0};
  d.feed(unknown);
  CHECK_FALSE(d.next().ok());
  FrameDecoder big;
  std::vector<uint8_t> header = {'D', 0, 0, 0, 0};
  store_le32(header.data() + 1, static_cast<uint32_t>(kMaxPayload + 1));
  big.feed(header);
  CHECK_FALSE(big.next().ok());
  std::vector<uint8_t> out;
  encode_file_begin(out, FileBegin{1, 2});
  Bytes payload(out.data() + kFrameHeaderBytes, out.size() - kFrameHeaderBytes);
  CHECK(parse_file_begin(payload).ok());
  CHECK_FALSE(parse_file_begin(payload.first(payload.size() - 1)).ok());
  std::vector<uint8_t> longer(payload.begin(), payload.end());
  longer.push_back(0);
  CHECK_FALSE(parse_file_begin(longer).ok());
  CHECK_FALSE(parse_hello(ascii("curvecp-pusX\x01\x00\x00\x00")).ok());
}

TEST_CASE("entries with unsafe names are refused by the parser") {
  for (const char* bad : {"/etc/passwd", "../x", "a/../../x", "a/..", "", "a//b", "./a", "a/", "a/."}) {
    Entry e = sample_entry();
    e.kind = EntryKind::file;
    e.link_target.clear();
    e.path = bad;
    std::vector<uint8_t> out;
    encode_entry(out, e);
    auto parsed = parse_entry(Bytes(out.data() + kFrameHeaderBytes, out.size() - kFrameHeaderBytes));
    CHECK_MESSAGE(!parsed.ok(), bad);
  }
  CHECK(check_relative_path("a/b/c.txt").ok());
  CHECK(check_relative_path("..a/b..").ok());
  CHECK(check_relative_path(std::string(4097, 'a')).error().message.find("4096") != std::string::npos);
}

TEST_CASE("symlink targets may not climb out of the tree") {
  CHECK(check_link_target("a/b/l", "../c").ok());
  CHECK(check_link_target("a/b/l", "../../c").ok());
  CHECK_FALSE(check_link_target("a/b/l", "../../../c").ok());
  CHECK_FALSE(check_link_target("l", "../c").ok());
  CHECK_FALSE(check_link_target("l", "/etc").ok());
  CHECK_FALSE(check_link_target("a/l", "x/../../..").ok());
  CHECK(check_link_target("l", "x/y/../z").ok());
  CHECK_FALSE(check_link_target("l", "").ok());
}

TEST_CASE("open_dir_below never follows a symlink and makes missing directories only when asked") {
  char templ[] = "/tmp/push-fs-XXXXXX";
  REQUIRE(::mkdtemp(templ) != nullptr);
  const std::string top = templ;
  REQUIRE(::mkdir((top + "/in").c_str(), 0755) == 0);
  REQUIRE(::symlink("/tmp", (top + "/in/out").c_str()) == 0);
  UniqueFd base(::open((top + "/in").c_str(), O_RDONLY | O_DIRECTORY));
  REQUIRE(base.valid());
  auto through_link = open_dir_below(base.get(), "out", true);
  REQUIRE_FALSE(through_link.ok());
  CHECK(through_link.error().message.find("symlink") != std::string::npos);
  CHECK_FALSE(open_dir_below(base.get(), "out/x", true).ok());
  CHECK_FALSE(open_dir_below(base.get(), "new/sub", false).ok());
  CHECK(open_dir_below(base.get(), "new/sub", true).ok());
  struct stat st;
  CHECK(::stat((top + "/in/new/sub").c_str(), &st) == 0);
  CHECK(split_parent("a/b/c").first == "a/b");
  CHECK(split_parent("c").first.empty());
  CHECK(temp_name_for("x") == temp_name_for("x"));
  CHECK(temp_name_for("x") != temp_name_for("y"));
  CHECK(temp_name_for(std::string(255, 'n')).size() < 40);
  REQUIRE(std::system(("rm -rf '" + top + "'").c_str()) == 0);
}

}  // namespace
}  // namespace curvecp::push
