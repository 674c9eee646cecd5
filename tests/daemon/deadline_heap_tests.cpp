#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "core/rng.h"
#include "daemon/deadline_heap.h"

using namespace curvecp;

TEST_CASE("deadline heap: earliest first, updates and removals keep order") {
  DeadlineHeap heap(100);
  CHECK(heap.empty());
  CHECK(heap.top_deadline() == Timestamp::never());
  heap.set(5, Timestamp{50});
  heap.set(7, Timestamp{20});
  heap.set(9, Timestamp{70});
  CHECK(heap.top_id() == 7);
  heap.set(7, Timestamp{80});  // move later
  CHECK(heap.top_id() == 5);
  heap.set(9, Timestamp{10});  // move earlier
  CHECK(heap.top_id() == 9);
  heap.remove(9);
  CHECK(heap.top_id() == 5);
  heap.set(5, Timestamp::never());  // never() removes
  CHECK_FALSE(heap.contains(5));
  CHECK(heap.size() == 1);
  CHECK(heap.get(7) == Timestamp{80});
  heap.set(200, Timestamp{1});  // out of range id is ignored
  CHECK(heap.size() == 1);
}

TEST_CASE("deadline heap: random operations agree with a sorted reference") {
  SeededRng rng(42);
  const uint32_t n = 300;
  DeadlineHeap heap(n);
  std::vector<Timestamp> ref(n, Timestamp::never());
  for (int step = 0; step < 20000; ++step) {
    uint32_t id = static_cast<uint32_t>(rng.uniform(n));
    if (rng.uniform(4) == 0) {
      heap.remove(id);
      ref[id] = Timestamp::never();
    } else {
      Timestamp t{static_cast<int64_t>(rng.uniform(1000000))};
      heap.set(id, t);
      ref[id] = t;
    }
    Timestamp expect = *std::min_element(ref.begin(), ref.end());
    REQUIRE(heap.top_deadline() == expect);
    if (!heap.empty()) REQUIRE(ref[heap.top_id()] == expect);
  }
  // Popping everything yields non-decreasing deadlines.
  Timestamp last{0};
  while (!heap.empty()) {
    Timestamp t = heap.top_deadline();
    CHECK(t >= last);
    last = t;
    heap.remove(heap.top_id());
  }
}
