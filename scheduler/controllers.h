// Factories of the built-in congestion controllers, one file each. The registry in
// congestion.cpp lists them, so a static library cannot drop a controller that nothing
// else references. To add a controller: declare its factory here, add one line to
// builtin_controllers() in congestion.cpp.
#pragma once

#include <memory>

#include "scheduler/congestion.h"

namespace curvecp {

// chicago.cpp: our rate-based controller in the spirit of CurveCP's decongestion design.
std::unique_ptr<CongestionController> make_chicago_controller(Rng& rng, Timestamp now);
// reference_chicago.cpp: the reference curvecpmessage algorithm (CURVECP.md 7), a baseline.
std::unique_ptr<CongestionController> make_reference_chicago_controller(Rng& rng, Timestamp now);

// background.cpp: less than best effort (priority `background`, docs/PRIORITY.md).
std::unique_ptr<CongestionController> make_background_controller(Rng& rng, Timestamp now);
// weighted.cpp: chicago counting as `weight` (> 1) flows (priority `N`, docs/PRIORITY.md).
std::unique_ptr<CongestionController> make_weighted_controller(double weight, Rng& rng, Timestamp now);

}  // namespace curvecp
