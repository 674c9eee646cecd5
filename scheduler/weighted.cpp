// Priority `N` (N > 1): a chicago flow that counts as N chicago flows (docs/PRIORITY.md).
//
// What it follows
// - MulTCP (Crowcroft & Oechslin, "Differentiated end-to-end Internet services using a
//   weighted proportional fair sharing TCP", CCR 28(3), 1998): one connection emulates N
//   TCP connections by growing its window N packets per RTT and giving up only 1/(2N) of
//   it per loss, because a loss is seen by only one of the N flows it stands for.
//
// Where it departs
// - Chicago is rate-based and mostly delay-based (chicago.cpp). The N flows it stands for
//   would share one bottleneck queue, so they would all see a delay rise at once and all
//   back off by chicago's factor: the delay-triggered decrease stays chicago's. Only the
//   loss-triggered decreases (competitive mode, loss bursts in cruise) use MulTCP's
//   1 - (1 - beta) / N, as only one of N flows would have lost the packet.
// - Chicago's additive increase grows with sqrt(rate) above 20 Mbit/s (HighSpeed TCP's
//   idea). N flows sharing rate R would each add increase(R / N), so the weighted flow
//   adds N x increase(R / N), not N x increase(R): with the latter, two flows of weights
//   N and 1 would settle at N^2 : 1 at high rates, not N : 1.
// - Timeouts (nothing acknowledged across two retransmission timeouts) still halve the
//   rate: an outage hits all N flows.
// - The weight is capped at 100 (priority.h): MulTCP notes that a large N makes the
//   emulated aggregate burstier than N real flows, and it would starve every other flow.
// Nothing else is copied: the machinery is ChicagoController's, with its weight.

#include <algorithm>
#include <memory>

#include "scheduler/chicago.h"
#include "scheduler/controllers.h"

namespace curvecp {

double weighted_loss_beta(double beta, double weight) { return 1.0 - (1.0 - beta) / std::max(1.0, weight); }

double weighted_increase(double weight, double rate_bytes_per_s, const std::function<double(double)>& increase) {
  const double n = std::max(1.0, weight);
  return n * increase(rate_bytes_per_s / n);
}

std::unique_ptr<CongestionController> make_weighted_controller(double weight, Rng& rng, Timestamp now) {
  return std::make_unique<ChicagoController>(rng, now, weight);
}

}  // namespace curvecp
