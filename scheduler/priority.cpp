// Priority classes: parsing, formatting and the controller of each class (priority.h).
#include "scheduler/priority.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "scheduler/controllers.h"

namespace curvecp {

std::optional<Priority> parse_priority(std::string_view text) {
  if (text == "background") return Priority{Priority::Class::background, 1.0};
  if (text == "normal") return Priority{Priority::Class::normal, 1.0};
  if (text.empty() || text.front() == '+' || text.front() == '-') return std::nullopt;
  double weight = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), weight, std::chars_format::fixed);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (!std::isfinite(weight) || weight < 1.0 || weight > kMaxPriorityWeight) return std::nullopt;
  if (weight == 1.0) return Priority{Priority::Class::normal, 1.0};
  return Priority{Priority::Class::weighted, weight};
}

std::string format_priority(const Priority& p) {
  switch (p.cls) {
    case Priority::Class::background:
      return "background";
    case Priority::Class::normal:
      return "normal";
    case Priority::Class::weighted:
      break;
  }
  // Shortest text that parses back to the same weight ("2", "2.5", "1.3333333333333333").
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, p.weight);
  if (ec != std::errc()) return "normal";
  return std::string(buf, end);
}

std::unique_ptr<CongestionController> make_priority_controller(const Priority& p, std::string_view normal_controller,
                                                               Rng& rng, Timestamp now) {
  switch (p.cls) {
    case Priority::Class::background:
      return make_background_controller(rng, now);
    case Priority::Class::weighted:
      if (p.weight > 1.0) return make_weighted_controller(p.weight, rng, now);
      break;
    case Priority::Class::normal:
      break;
  }
  return make_controller(normal_controller, rng, now);
}

}  // namespace curvecp
