#include "scheduler/congestion.h"

#include <algorithm>
#include <map>

#include "scheduler/controllers.h"

namespace curvecp {

Duration CongestionController::retransmit_timeout(const PathState& path) const {
  return rfc6298_retransmit_timeout(path);
}

Duration rfc6298_retransmit_timeout(const PathState& path) {
  // RFC 6298: RTO = SRTT + max(G, 4 * RTTVAR), 1 s before the first sample. The 200 ms
  // floor of TCP is for delayed acks of 200 ms; our peers ack within a few ms, so the floor
  // is a few ms plus the clock granularity of the runtime (1 ms).
  if (!path.has_rtt_sample) return Duration::seconds(1);
  Duration rto = path.srtt + std::max(Duration::milliseconds(1), path.rttvar * 4);
  return std::max(rto, Duration::milliseconds(5));
}

namespace {

std::map<std::string, ControllerFactory, std::less<>>& registry() {
  static std::map<std::string, ControllerFactory, std::less<>> r = {
      {"chicago", make_chicago_controller},
      {"reference-chicago", make_reference_chicago_controller},
      {"background", make_background_controller},
  };
  return r;
}

}  // namespace

void register_controller(std::string name, ControllerFactory factory) { registry()[std::move(name)] = std::move(factory); }

std::unique_ptr<CongestionController> make_controller(std::string_view name, Rng& rng, Timestamp now) {
  auto& r = registry();
  auto it = r.find(name);
  if (it == r.end()) return nullptr;
  return it->second(rng, now);
}

std::vector<std::string> controller_names() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : registry()) names.push_back(name);
  return names;
}

}  // namespace curvecp
