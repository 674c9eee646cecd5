// serve --allow: the allow-file parser (daemon/allow_list.h) and the refusal signal that
// a refused client receives (daemon/refusal.h, docs/EXTENSIONS.md section 5).
#include <doctest/doctest.h>

#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/rng.h"
#include "daemon/allow_list.h"
#include "daemon/refusal.h"
#include "scheduler/message.h"
#include "scheduler/stream.h"

using namespace curvecp;

namespace {

const std::string kHexA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kHexB = "FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210";

PublicKey key_of(const std::string& hex) {
  PublicKey k;
  REQUIRE(decode_hex(hex, k.bytes));
  return k;
}

std::string error_of(const std::string& text) {
  auto list = AllowList::parse(text);
  REQUIRE_FALSE(list);
  return list.error().message;
}

}  // namespace

TEST_CASE("allow list: keys, comments, blank lines and settings") {
  const std::string text = "# clients of the backup service\n"
                           "\n"
                           "   " + kHexA + "\n" +
                           kHexB + " priority=background label=alice's laptop  # trailing comment\n";
  auto list = AllowList::parse(text);
  REQUIRE(list);
  CHECK(list->size() == 2);
  const AllowEntry* a = list->find(key_of(kHexA));
  REQUIRE(a != nullptr);
  CHECK(a->label.empty());
  CHECK_FALSE(a->priority);
  CHECK(a->line == 3);
  const AllowEntry* b = list->find(key_of(kHexB));
  REQUIRE(b != nullptr);
  REQUIRE(b->priority);
  CHECK(format_priority(*b->priority) == "background");
  CHECK(b->label == "alice's laptop");
  CHECK(list->find(PublicKey{}) == nullptr);
}

TEST_CASE("allow list: priority classes and an empty file") {
  auto list = AllowList::parse(kHexA + " priority=normal\n" + kHexB + " priority=2.5\r\n");
  REQUIRE(list);
  CHECK(list->find(key_of(kHexA))->priority == parse_priority("normal"));
  CHECK(format_priority(*list->find(key_of(kHexB))->priority) == "2.5");
  auto empty = AllowList::parse("# nobody yet\n");
  REQUIRE(empty);
  CHECK(empty->size() == 0);
}

TEST_CASE("allow list: every bad line is rejected with its number") {
  CHECK(error_of("# ok\n" + kHexA.substr(0, 63) + "\n") == "line 2: not a key (64 hex digits): '" + kHexA.substr(0, 63) + "'");
  CHECK(error_of(kHexA + "0\n").find("line 1: not a key") == 0);
  CHECK(error_of("zz" + kHexA.substr(2) + "\n").find("line 1: not a key") == 0);
  CHECK(error_of(kHexA + " prio=1\n") == "line 1: unknown setting 'prio=1' (known: priority=, label=)");
  CHECK(error_of(kHexA + " priority=urgent\n") ==
        "line 1: unknown priority class 'urgent' (background, normal or a weight 1..100)");
  CHECK(error_of(kHexA + " priority=101\n").find("line 1: unknown priority class '101'") == 0);
  CHECK(error_of(kHexA + " priority=1 priority=2\n") == "line 1: priority= given twice");
  CHECK(error_of(kHexA + " label=\n") == "line 1: empty label=");
  CHECK(error_of(kHexA + " label=" + std::string(kMaxLabelBytes + 1, 'x') + "\n").find("line 1: label longer") == 0);
  CHECK(error_of(kHexA + " label=a\tb\n").find("printable ASCII") != std::string::npos);
  CHECK(error_of(kHexA + "\n" + kHexA + " label=again\n") == "line 2: key listed twice (first on line 1)");
  // Upper and lower case are the same key.
  std::string upper = kHexA;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  CHECK(error_of(kHexA + "\n" + upper + "\n").find("line 2: key listed twice") == 0);
}

TEST_CASE("allow list: load names the file") {
  char path[] = "/tmp/curvecp-allow-test.XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  const std::string text = kHexA + " label=x\n";
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  auto list = AllowList::load(path);
  REQUIRE(list);
  CHECK(list->find(key_of(kHexA))->label == "x");
  std::remove(path);
  auto missing = AllowList::load(path);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == std::string(path) + ": No such file or directory");
}

TEST_CASE("refusal signal: only our FAIL with the flag counts") {
  SeededRng rng(12);
  StreamConfig config;
  config.role = StreamRole::server;
  auto stream = Stream::create(config, rng, Timestamp{});
  REQUIRE(stream);
  (*stream)->abort();
  std::array<uint8_t, 1088> out{};
  const size_t n = (*stream)->poll_transmit(Timestamp{}, out, out.size());
  REQUIRE(n >= 64);
  MutableBytes message(out.data(), n);
  CHECK_FALSE(carries_refusal(message));  // an ordinary failure
  mark_refusal(message);
  CHECK(carries_refusal(message));
  // The reference sees an ordinary FAIL: the header is unchanged, only padding differs.
  Message parsed;
  REQUIRE(parse_message(message, parsed) == ParseResult::ok);
  CHECK(parsed.end == StreamEnd::fail);

  // A reference FAIL (zero padding) cannot be marked, and a marked message without FAIL
  // is no refusal.
  MessageFields fail;
  fail.id = 1;
  fail.end = StreamEnd::fail;
  std::array<uint8_t, 192> reference{};
  REQUIRE(encode_message(fail, Bytes{}, reference.size(), reference) == reference.size());
  mark_refusal(reference);
  CHECK_FALSE(carries_refusal(reference));
  std::vector<uint8_t> data_message(out.begin(), out.begin() + static_cast<long>(n));
  data_message[38] = 0;  // size/flags: no data, no end
  data_message[39] = 0;
  CHECK_FALSE(carries_refusal(data_message));
}
