// Discrete-event core of the network simulator: a virtual clock and an event queue.
// Events run in (time, insertion order), so a run depends only on its seed and inputs.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/time.h"

namespace curvecp::sim {

class EventQueue {
 public:
  using Action = std::function<void()>;

  Timestamp now() const { return now_; }
  // Schedules `action` at `when` (clamped to now). Events at the same time run in the
  // order they were scheduled.
  void at(Timestamp when, Action action);
  void after(Duration delay, Action action) { at(now_ + delay, std::move(action)); }
  // Runs events until the queue is empty or the next event is later than `end`; the
  // clock then stands at `end` (or at the last event if the queue emptied earlier).
  void run_until(Timestamp end);
  // Runs until `done()` is true after an event, or `end`. Returns done().
  bool run_until(Timestamp end, const std::function<bool()>& done);
  size_t pending() const { return heap_.size(); }
  uint64_t events_run() const { return events_run_; }

 private:
  struct Event {
    Timestamp when;
    uint64_t order;
    Action action;
  };
  static bool later(const Event& a, const Event& b) {
    return a.when != b.when ? a.when > b.when : a.order > b.order;
  }
  bool run_one(Timestamp end);

  Timestamp now_{0};
  uint64_t next_order_ = 0;
  uint64_t events_run_ = 0;
  std::vector<Event> heap_;
};

}  // namespace curvecp::sim
