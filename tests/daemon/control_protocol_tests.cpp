// The control socket's protocol, sans-I/O (daemon/control_protocol.h, control_json.h):
// request parsing and its errors, reply formatting and reading back, the answer to a
// request against a small in-memory ControlTarget, and the status table.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "core/rng.h"
#include "daemon/control_json.h"
#include "daemon/control_protocol.h"

using namespace curvecp;

namespace {

ConnectionInfo sample(uint64_t id) {
  ConnectionInfo c;
  c.id = id;
  c.peer_key = std::string(64, 'a');
  c.address = "127.0.0.1:4500";
  c.priority = "normal";
  c.bytes_sent = 18446744073709551615ull;  // 2^64-1 survives: numbers are kept as text
  c.bytes_received = 1048576;
  c.rate_bps = 20000000;
  c.rtt_ms = 40.125;
  c.loss = 0.0125;
  c.retransmissions = 17;
  c.age_s = 12.5;
  return c;
}

// Connections by id with a class each; what a daemon would hold.
class Table : public ControlTarget {
 public:
  std::map<uint64_t, Priority> classes;
  std::vector<ConnectionInfo> control_connections(Timestamp) const override {
    std::vector<ConnectionInfo> out;
    for (const auto& [id, p] : classes) {
      ConnectionInfo c = sample(id);
      c.priority = format_priority(p);
      out.push_back(c);
    }
    return out;
  }
  Status control_set_priority(uint64_t id, const Priority& p, Timestamp) override {
    auto it = classes.find(id);
    if (it == classes.end()) return make_error("no connection " + std::to_string(id));
    it->second = p;
    return {};
  }
};

std::string error_of(const std::string& reply) {
  auto v = parse_json(reply);
  REQUIRE(v);
  const JsonValue* e = v->find("error");
  return e == nullptr ? std::string() : e->text;
}

}  // namespace

TEST_CASE("json: values, escapes, limits") {
  auto v = parse_json(R"( {"a": [1, -2.5e3, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00"} )");
  REQUIRE(v);
  const JsonValue* a = v->find("a");
  REQUIRE(a != nullptr);
  REQUIRE(a->items.size() == 5);
  CHECK(a->items[0].as_u64() == 1u);
  CHECK(!a->items[1].as_u64());
  CHECK(a->items[1].as_double() == doctest::Approx(-2500));
  CHECK(a->items[2].boolean);
  CHECK(a->items[4].kind == JsonValue::Kind::null);
  CHECK(v->find("s")->text == "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(!parse_json("{\"a\": 1,}"));
  CHECK(!parse_json("[1 2]"));
  CHECK(!parse_json("\"\\ud800\""));
  CHECK(!parse_json("01"));
  CHECK(!parse_json("{} x"));
  CHECK(!parse_json(std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']')));
  CHECK(parse_json(std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']')));
  CHECK(parse_json("18446744073709551616")->as_u64() == std::nullopt);  // 2^64
  CHECK(json_quote("a\"b\\c\n\x01\xff") == R"("a\"b\\c\u000a\u0001\u00ff")");
  CHECK(json_number(1.0 / 0.0, 3) == "0");
}

TEST_CASE("requests: status and priority, and what is refused") {
  auto s = parse_control_request("status");
  REQUIRE(s);
  CHECK(s->kind == ControlRequest::Kind::status);
  CHECK(parse_control_request("status\r"));

  auto p = parse_control_request("priority 7 background");
  REQUIRE(p);
  CHECK(p->kind == ControlRequest::Kind::priority);
  CHECK(p->id == 7);
  CHECK(p->priority.cls == Priority::Class::background);
  auto w = parse_control_request("  priority   12   2.5 ");
  REQUIRE(w);
  CHECK(w->priority.cls == Priority::Class::weighted);
  CHECK(w->priority.weight == doctest::Approx(2.5));

  CHECK(parse_control_request("").error().message.find("empty request") != std::string::npos);
  CHECK(parse_control_request("reboot").error().message.find("unknown request 'reboot'") != std::string::npos);
  CHECK(!parse_control_request("status now"));
  CHECK(!parse_control_request("priority 7"));
  CHECK(!parse_control_request("priority 0 normal"));
  CHECK(!parse_control_request("priority -1 normal"));
  CHECK(!parse_control_request("priority 99999999999999999999 normal"));
  const std::string bad_class = parse_control_request("priority 7 urgent").error().message;
  CHECK(bad_class.find("bad priority 'urgent'") != std::string::npos);
  CHECK(bad_class.find("background, normal or a number N with 1 <= N <= 100") != std::string::npos);
  CHECK(!parse_control_request("priority 7 0.5"));
  CHECK(!parse_control_request("priority 7 101"));
  CHECK(!parse_control_request("priority 7 nan"));
  const std::string long_line = "priority 7 " + std::string(kMaxControlRequestBytes, 'x');
  CHECK(parse_control_request(long_line).error().message.find("too long") != std::string::npos);
  // An unprintable token is shown safely, and cut.
  CHECK(parse_control_request("\x01\x02").error().message.find("'?\?'") != std::string::npos);

  CHECK(format_status_request() == "status\n");
  Priority two;
  two.cls = Priority::Class::weighted;
  two.weight = 2;
  CHECK(format_priority_request(3, two) == "priority 3 2\n");
  CHECK(parse_control_request(format_priority_request(3, two).substr(0, 12))->priority == two);
  CHECK(parse_connection_id("42") == 42u);
  CHECK(!parse_connection_id("4x"));
  CHECK(!parse_connection_id("+4"));
}

TEST_CASE("replies: status round trip keeps every field") {
  const std::vector<ConnectionInfo> list{sample(1), sample(2)};
  const std::string line = format_status_reply(list);
  CHECK(line.rfind("{\"connections\": [{\"id\": 1, \"peer_key\": \"", 0) == 0);
  CHECK(line.find('\n') == std::string::npos);
  auto back = parse_status_reply(line);
  REQUIRE(back);
  REQUIRE(back->size() == 2);
  CHECK((*back)[0].bytes_sent == list[0].bytes_sent);
  CHECK((*back)[1] == list[1]);
  CHECK(format_status_reply({}) == "{\"connections\": []}");
  CHECK(parse_status_reply("{\"connections\": []}")->empty());

  // Extra fields from a newer daemon are fine; missing or mistyped ones are not.
  CHECK(parse_status_reply(line.substr(0, line.size() - 3) + ", \"new\": [1]}]}"));
  auto missing = parse_status_reply("{\"connections\": [{\"id\": 1}]}");
  CHECK(missing.error().message.find("bad reply from the daemon") == 0);
  CHECK(!parse_status_reply("{\"connections\": 3}"));
  CHECK(!parse_status_reply("[]"));
  CHECK(!parse_status_reply("garbage"));
  CHECK(parse_status_reply("{\"error\": \"busy\"}").error().message == "busy");
}

TEST_CASE("replies: priority and errors") {
  Priority bg;
  bg.cls = Priority::Class::background;
  CHECK(format_priority_reply(5, bg) == R"({"ok": true, "id": 5, "priority": "background"})");
  CHECK(parse_priority_reply(format_priority_reply(5, bg)));
  CHECK(parse_priority_reply(format_error_reply("no connection 9")).error().message == "no connection 9");
  CHECK(!parse_priority_reply("{\"ok\": false}"));
  CHECK(!parse_priority_reply("{}"));
  CHECK(error_of(format_error_reply("a \"quoted\"\nline")) == "a \"quoted\"\nline");
}

TEST_CASE("answer: a request line against a target") {
  Table t;
  t.classes[1] = Priority{};
  t.classes[4] = Priority{};
  const Timestamp now{};

  const std::string status = answer_control_request("status", t, now);
  REQUIRE(status.back() == '\n');
  auto list = parse_status_reply(status.substr(0, status.size() - 1));
  REQUIRE(list);
  REQUIRE(list->size() == 2);
  CHECK((*list)[1].id == 4);
  CHECK((*list)[1].priority == "normal");

  const std::string ok = answer_control_request("priority 4 background", t, now);
  CHECK(ok == "{\"ok\": true, \"id\": 4, \"priority\": \"background\"}\n");
  CHECK(t.classes[4].cls == Priority::Class::background);
  CHECK(parse_status_reply(answer_control_request("status", t, now))->at(1).priority == "background");

  CHECK(error_of(answer_control_request("priority 5 normal", t, now)) == "no connection 5");
  CHECK(error_of(answer_control_request("priority 4 fast", t, now)).find("bad priority") == 0);
  CHECK(t.classes[4].cls == Priority::Class::background);  // unchanged by the bad request
  CHECK(error_of(answer_control_request("hello", t, now)).find("unknown request") == 0);
}

TEST_CASE("table: aligned columns, short keys, readable units") {
  CHECK(format_status_table({}) == "no connections\n");
  std::vector<ConnectionInfo> list{sample(1), sample(12)};
  list[0].bytes_sent = 1536;
  list[1].address = "[::1]:65535";
  list[1].priority = "background";
  const std::string table = format_status_table(list);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = table.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(table.substr(start, nl - start));
  }
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].rfind("ID  PEER", 0) == 0);
  CHECK(lines[1].find("aaaaaaaaaaaaaaaa ") != std::string::npos);  // 16 hex digits
  CHECK(lines[1].find(std::string(17, 'a')) == std::string::npos);
  CHECK(lines[1].find("1.5 KiB") != std::string::npos);
  CHECK(lines[1].find("20.0 Mbit/s") != std::string::npos);
  CHECK(lines[1].find("40.1 ms") != std::string::npos);
  CHECK(lines[1].find("1.25%") != std::string::npos);
  // Columns line up: the PRIORITY column starts at the same offset in every line.
  const size_t col = lines[0].find("PRIORITY");
  CHECK(lines[1].substr(col, 6) == "normal");
  CHECK(lines[2].substr(col, 10) == "background");
}

TEST_CASE("stream figures: class, and no rate or RTT before anything was sent") {
  SeededRng rng(7);
  StreamConfig config;
  config.priority.cls = Priority::Class::background;
  auto stream = Stream::create(config, rng, Timestamp{});
  REQUIRE(stream);
  ConnectionInfo info;
  fill_stream_figures(info, **stream);
  CHECK(info.priority == "background");
  CHECK(info.bytes_sent == 0);
  CHECK(info.rate_bps == 0);
  CHECK(info.rtt_ms == 0);
  CHECK(info.loss == 0);
  Priority two;
  two.cls = Priority::Class::weighted;
  two.weight = 2;
  REQUIRE((*stream)->set_priority(two, Timestamp{}));
  fill_stream_figures(info, **stream);
  CHECK(info.priority == "2");
}
