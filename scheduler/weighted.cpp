// Priority `N` (N > 1): a chicago flow that counts as N chicago flows (docs/PRIORITY.md).
//
// What it follows
// - MulTCP (Crowcroft & Oechslin, "Differentiated end-to-end Internet services using a
//   weighted proportional fair sharing TCP", CCR 28(3), 1998): one connection emulates N
//   TCP connections by growing its window N packets per RTT and giving up only 1/(2N) of
//   it per loss, because a loss is seen by only one of the N flows it stands for.
//
// Where it departs
// - The decreases stay chicago's. MulTCP's 1/(2N) models losses that hit one of the N
//   flows at random; chicago ignores random loss (its loss discrimination) and answers
//   only signals that all N flows sharing the bottleneck would see at once: a delay rise
//   (cruise), a loss burst well above the path's random loss (cruise), a drop-tail
//   overflow while a buffer-filling flow holds the queue (competitive mode). With the
//   same decrease and N times the increase, AIMD flows that see the same signals settle
//   at shares proportional to their increases (Chiu & Jain 1989): N : 1. Making the
//   decrease 1/N as well would give N^2 : 1 (measured in the simulator: weight 2 took 5.4
//   times a CUBIC flow's share, where chicago alone takes about 1.4 times).
// - Chicago's additive increase grows with sqrt(rate) above 20 Mbit/s (HighSpeed TCP's
//   idea). N flows sharing rate R would each add increase(R / N), so the weighted flow
//   adds N x increase(R / N), not N x increase(R): with the latter, two flows of weights
//   N and 1 would settle at N^2 : 1 at high rates, not N : 1.
// - Timeouts (nothing acknowledged across two retransmission timeouts) halve the rate as
//   in chicago: an outage hits all N flows.
// - "N times a TCP flow's share" holds as far as chicago itself is TCP-fair: the weighted
//   flow takes N times what chicago would (chicago takes 0.51-0.60 of the link against
//   one CUBIC flow in the simulator, docs/CHICAGO.md).
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
