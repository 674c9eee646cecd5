#include "tests/sim/sim_clock.h"

#include <algorithm>

namespace curvecp::sim {

void EventQueue::at(Timestamp when, Action action) {
  heap_.push_back(Event{std::max(when, now_), next_order_++, std::move(action)});
  std::push_heap(heap_.begin(), heap_.end(), later);
}

bool EventQueue::run_one(Timestamp end) {
  if (heap_.empty() || heap_.front().when > end) return false;
  std::pop_heap(heap_.begin(), heap_.end(), later);
  Event event = std::move(heap_.back());
  heap_.pop_back();
  now_ = event.when;
  ++events_run_;
  event.action();
  return true;
}

void EventQueue::run_until(Timestamp end) {
  while (run_one(end)) {
  }
  if (end != Timestamp::never()) now_ = std::max(now_, end);
}

bool EventQueue::run_until(Timestamp end, const std::function<bool()>& done) {
  while (!done() && run_one(end)) {
  }
  return done();
}

}  // namespace curvecp::sim
