// Priority classes of a transfer (docs/PRIORITY.md): `background` (less than best effort,
// background.cpp), `normal` (the configured controller, chicago by default) and a weight
// N > 1 (weighted.cpp: behaves like N normal flows). A stream's class can change while it
// runs (Stream::set_priority); this file only names the classes and makes their controllers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/rng.h"
#include "core/time.h"
#include "scheduler/congestion.h"

namespace curvecp {

struct Priority {
  enum class Class : uint8_t { background, normal, weighted };
  Class cls = Class::normal;
  double weight = 1.0;  // weighted only; >= 1

  friend bool operator==(const Priority&, const Priority&) = default;
};

// Largest weight accepted: beyond it one flow would starve everything else on its path.
inline constexpr double kMaxPriorityWeight = 100.0;

// "background" | "normal" | a real number N with 1 <= N <= 100 ("1" is normal, "2" and
// "2.5" are weighted); nullopt otherwise (empty, trailing garbage, nan, inf, out of range).
std::optional<Priority> parse_priority(std::string_view text);
// Inverse of parse_priority: "background", "normal", "2", "2.5".
std::string format_priority(const Priority& p);

// The controller for `p`: `normal_controller` (a registry name, congestion.h) for normal,
// background.cpp for background, weighted.cpp for weighted. nullptr when
// `normal_controller` is unknown and p is normal.
std::unique_ptr<CongestionController> make_priority_controller(const Priority& p, std::string_view normal_controller,
                                                               Rng& rng, Timestamp now);

}  // namespace curvecp
