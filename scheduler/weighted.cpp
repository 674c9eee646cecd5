// Priority `N` (N > 1): a chicago flow that counts as N chicago flows (docs/PRIORITY.md).
//
// What it follows
// - MulTCP (Crowcroft & Oechslin, "Differentiated end-to-end Internet services using a
//   weighted proportional fair sharing TCP", CCR 28(3), 1998): one connection emulates N
//   TCP connections by growing its window N packets per RTT and giving up only 1/(2N) of
//   it per loss, because a loss is seen by only one of the N flows it stands for.
//
// Where it departs
// - In cruise the decreases stay chicago's. MulTCP's 1/(2N) models losses that hit one of
//   the N flows at random; chicago ignores random loss and in cruise answers only signals
//   that all N flows sharing the bottleneck would see at once (a delay rise, a loss burst
//   well above the path's random loss). With the same decrease and N times the increase,
//   AIMD flows that see the same signals settle at shares proportional to their increases
//   (Chiu & Jain 1989): N : 1. Making the decrease 1/N as well would give N^2 : 1
//   (measured in the simulator: weight 2 took 5.4 times a CUBIC flow's share).
// - In competitive mode (chicago.cpp: CUBIC's curve in rate form, against a buffer-filling
//   flow) MulTCP's model is followed: a drop-tail overflow is a loss event for one of the
//   N CUBIC flows, so the weighted flow gives up (1 - 0.7) / N and the sum regrows along
//   that one flow's curve (ChicagoController::on_loss, start_cubic_epoch). N times a CUBIC
//   curve with the full decrease gave 1.13 times CUBIC's share for weight 2 (simulator).
// - Chicago's additive increase grows with sqrt(rate) above 20 Mbit/s (HighSpeed TCP's
//   idea). N flows sharing rate R would each add increase(R / N), so the weighted flow
//   adds N x increase(R / N), not N x increase(R): with the latter, two flows of weights
//   N and 1 would settle at N^2 : 1 at high rates, not N : 1.
// - Timeouts (nothing acknowledged across two retransmission timeouts) halve the rate as
//   in chicago: an outage hits all N flows.
// - "N times a TCP flow's share" holds as far as chicago itself is TCP-fair: the weighted
//   flow takes N times what chicago would (chicago takes 0.43-0.50 of a 20 Mbit/s, 40 ms
//   link against one CUBIC flow in the simulator, docs/CHICAGO.md).
// - The weight is capped at 100 (priority.h): a larger N would starve every other flow
//   on its path.
// Nothing else is copied: the machinery is ChicagoController's, with its weight.

#include <algorithm>
#include <memory>

#include "scheduler/chicago.h"
#include "scheduler/controllers.h"

namespace curvecp {

double weighted_increase(double weight, double rate_bytes_per_s, const std::function<double(double)>& increase) {
  const double n = std::max(1.0, weight);
  return n * increase(rate_bytes_per_s / n);
}

std::unique_ptr<CongestionController> make_weighted_controller(double weight, Rng& rng, Timestamp now) {
  return std::make_unique<ChicagoController>(rng, now, weight);
}

}  // namespace curvecp
