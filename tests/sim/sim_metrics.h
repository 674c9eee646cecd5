// Figures computed from a finished simulation: goodput, link utilisation, queueing-delay
// percentiles, loss, Jain's fairness index. Windows are [from, to) in simulated time and
// are rounded to the metrics bin (PathConfig::bin).
#pragma once

#include <vector>

#include "core/time.h"
#include "tests/sim/sim_flow.h"
#include "tests/sim/sim_link.h"

namespace curvecp::sim {

// Application bytes per second the flow delivered in the window.
double goodput_bytes_per_s(const FlowMetrics& flow, Timestamp from, Timestamp to);
// Fraction of the link's capacity it spent serialising packets in the window (0..1).
double utilisation(const Link& link, Timestamp from, Timestamp to);
// The p-th percentile (0..100) of the queueing delay of packets that arrived in the
// window and were accepted; 0 when there were none.
Duration queue_delay_percentile(const Link& link, double p, Timestamp from, Timestamp to);
// Packets dropped (queue overflow and wire loss) / packets offered, in the window.
double loss_fraction(const Link& link, Timestamp from, Timestamp to);
// Jain's index (sum x)^2 / (n sum x^2) of non-negative values; 1 for an empty set.
double jain_index(const std::vector<double>& values);
// The start of the first window of length `window` whose utilisation reaches `target`;
// Timestamp::never() when none does before `until`.
Timestamp time_to_utilisation(const Link& link, double target, Duration window, Timestamp until);
// Goodput of the flow per metrics bin, bytes per second, over [from, to).
std::vector<double> goodput_series(const FlowMetrics& flow, Timestamp from, Timestamp to);

}  // namespace curvecp::sim
