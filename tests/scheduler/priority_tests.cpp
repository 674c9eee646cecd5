// Priority classes (scheduler/priority.h): parsing and formatting, the controller of each
// class, and Stream::set_priority on a live stream in memory (the behaviour of the
// controllers on a shared path is tested in the simulator, tests/sim/sim_priority_tests.cpp).
#include <doctest/doctest.h>

#include <string>

#include "core/rng.h"
#include "scheduler/chicago.h"
#include "scheduler/priority.h"
#include "scheduler/stream.h"
#include "tests/scheduler/pair_harness.h"

using namespace curvecp;
using namespace curvecp::test;

TEST_CASE("parse_priority: classes, weights, and everything else rejected") {
  using C = Priority::Class;
  CHECK(parse_priority("background")->cls == C::background);
  CHECK(parse_priority("normal")->cls == C::normal);
  CHECK(parse_priority("1")->cls == C::normal);
  CHECK(parse_priority("1.0")->cls == C::normal);
  CHECK(parse_priority("2")->cls == C::weighted);
  CHECK(parse_priority("2")->weight == 2.0);
  CHECK(parse_priority("2.5")->weight == 2.5);
  CHECK(parse_priority("100")->weight == 100.0);
  for (const char* bad : {"", " ", "0", "0.5", "0.999", "100.01", "101", "-2", "+2", "2x", "x", "nan", "inf", "1e1",
                          "Background", "NORMAL", "2 ", " 2", "1,5", "0x2"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_priority(bad).has_value());
  }
}

TEST_CASE("format_priority is the inverse of parse_priority") {
  CHECK(format_priority(Priority{}) == "normal");
  CHECK(format_priority(Priority{Priority::Class::background, 1.0}) == "background");
  CHECK(format_priority(Priority{Priority::Class::weighted, 2.0}) == "2");
  CHECK(format_priority(Priority{Priority::Class::weighted, 2.5}) == "2.5");
  for (const char* text : {"background", "normal", "2", "2.5", "1.25", "99.75", "100"}) {
    CAPTURE(text);
    const auto p = parse_priority(text);
    REQUIRE(p.has_value());
    CHECK(format_priority(*p) == text);
    CHECK(parse_priority(format_priority(*p)) == p);
  }
  const Priority third{Priority::Class::weighted, 4.0 / 3.0};
  CHECK(parse_priority(format_priority(third)) == third);
}

TEST_CASE("each class has its own controller; weighted is chicago with a weight") {
  SeededRng rng(1);
  auto bg = make_priority_controller(*parse_priority("background"), "chicago", rng, Timestamp{0});
  auto normal = make_priority_controller(*parse_priority("normal"), "reference-chicago", rng, Timestamp{0});
  auto weighted = make_priority_controller(*parse_priority("3"), "chicago", rng, Timestamp{0});
  REQUIRE(bg);
  REQUIRE(normal);
  REQUIRE(weighted);
  CHECK(bg->name() == "background");
  CHECK(normal->name() == "reference-chicago");
  CHECK(weighted->name() == "weighted");
  auto* chicago = dynamic_cast<ChicagoController*>(weighted.get());
  REQUIRE(chicago != nullptr);
  CHECK(chicago->weight() == 3.0);
  CHECK_FALSE(make_priority_controller(Priority{}, "no-such-controller", rng, Timestamp{0}));
}

TEST_CASE("stream: set_priority switches the class of a live transfer, byte-exact, keeping the RTT") {
  StreamConfig a;
  a.role = StreamRole::client;
  StreamConfig b;
  b.role = StreamRole::server;
  a.priority = *parse_priority("background");
  LinkConfig link;
  link.rate_bytes_per_s = 2.5e6;
  StreamPair pair(a, b, link, 10);
  CHECK(pair.a().priority() == *parse_priority("background"));
  CHECK(pair.a().controller_name() == "background");
  pair.app_a = AppEnd{.send_seed = 1, .to_send = 3'000'000, .recv_seed = 2};
  pair.app_b = AppEnd{.send_seed = 2, .to_send = 100'000, .recv_seed = 1};
  int switches = 0;
  pair.on_step = [&] {
    const uint64_t got = pair.app_b.received;
    Stream& s = pair.a();
    if ((switches == 0 && got > 1'000'000) || (switches == 1 && got > 2'000'000)) {
      const Duration srtt = s.stats().srtt;
      const Duration min_rtt = s.stats().min_rtt;
      const Priority next = *parse_priority(switches == 0 ? "normal" : "2");
      REQUIRE(s.set_priority(next, pair.now()).ok());
      CHECK(s.priority() == next);
      CHECK(s.controller_name() == (switches == 0 ? "chicago" : "weighted"));
      CHECK(s.stats().srtt == srtt);
      CHECK(s.stats().min_rtt == min_rtt);
      // The successor continues from the rate the path gave the transfer.
      CHECK(s.stats().rate_bytes_per_s > 0);
      ++switches;
    }
  };
  const PairResult r = pair.run(Duration::seconds(120));
  CHECK(r.finished);
  CHECK(switches == 2);
  CHECK_FALSE(pair.app_a.corrupt);
  CHECK_FALSE(pair.app_b.corrupt);
  CHECK(pair.app_b.received == pair.app_a.to_send);
  CHECK(pair.app_a.received == pair.app_b.to_send);
}

TEST_CASE("stream: invalid weights are refused, the same class again changes nothing") {
  SeededRng rng(1);
  StreamConfig c;
  c.priority = Priority{Priority::Class::weighted, 0.5};
  CHECK_FALSE(Stream::create(c, rng, Timestamp{0}).ok());
  c.priority = Priority{Priority::Class::weighted, 1000};
  CHECK_FALSE(Stream::create(c, rng, Timestamp{0}).ok());
  c.priority = Priority{};
  auto s = Stream::create(c, rng, Timestamp{0});
  REQUIRE(s.ok());
  CHECK((*s)->priority() == Priority{});
  CHECK((*s)->controller_name() == "chicago");
  CHECK_FALSE((*s)->set_priority(Priority{Priority::Class::weighted, 0.5}, Timestamp{0}).ok());
  CHECK_FALSE((*s)->set_priority(Priority{Priority::Class::weighted, 101}, Timestamp{0}).ok());
  CHECK((*s)->priority() == Priority{});
  REQUIRE((*s)->set_priority(Priority{Priority::Class::weighted, 2}, Timestamp{0}).ok());
  CHECK((*s)->controller_name() == "weighted");
  REQUIRE((*s)->set_priority(Priority{Priority::Class::weighted, 2}, Timestamp{0}).ok());
  CHECK((*s)->controller_name() == "weighted");
  // set_controller makes the class normal with that controller.
  REQUIRE((*s)->set_controller("reference-chicago", Timestamp{0}).ok());
  CHECK((*s)->priority() == Priority{});
  CHECK((*s)->controller_name() == "reference-chicago");
}
