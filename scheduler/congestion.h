// Congestion-control interface, after Linux tcp_congestion_ops (ARCHITECTURE.md):
// a few required hooks, optional ones defaulting to nothing, small sample structs.
// Controllers are rate-based (CurveCP schedules blocks in time, CURVECP.md 7) but may
// also cap the bytes in flight. Created per connection by name through the registry, so
// `--scheduler NAME` needs no if-ladder anywhere else. Shared state that must survive a
// controller switch (RTT estimator, delay history) lives in PathState, owned by the stream.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/rng.h"
#include "core/time.h"
#include "scheduler/cc_base_delay.h"

namespace curvecp {

// Long-lived path statistics, owned by the stream, written only by RttEstimator
// (rtt_estimator.h) and the stream, and handed read-only to every controller, so a
// controller switch keeps the RTT and delay history.
struct PathState {
  // Jacobson/Karels estimator (RFC 6298 gains 1/8, 1/4).
  Duration srtt{0};
  Duration rttvar{0};
  Duration latest_rtt{0};
  Duration min_rtt = Duration::infinite();  // lifetime minimum: base delay estimate
  bool has_rtt_sample = false;
  uint64_t rtt_samples = 0;
  // Windowed minimum over the last ~10 s (base delay that follows route changes).
  Duration windowed_min_rtt = Duration::infinite();
  // Base-delay history for delay-based controllers (LEDBAT's per-interval minima,
  // cc_base_delay.h: 6 buckets of 20 s), fed every RTT sample the stream takes.
  CcBaseDelay base_delay;
  // Loss history: packets declared lost / sent, long-term and recent.
  uint64_t packets_sent = 0;
  uint64_t packets_lost = 0;
  uint64_t bytes_acked = 0;
};

struct AckSample {
  Timestamp now;
  Duration rtt;             // sample for the acknowledged transmission (Karn: none on retransmits)
  bool has_rtt = false;
  uint64_t bytes_acked = 0; // newly acknowledged bytes (payload + header)
  uint64_t messages_acked = 0;  // the messages those bytes were sent in
  uint64_t bytes_in_flight = 0;  // after this ack
  uint64_t delivered_bytes = 0;  // total delivered so far (for rate samples)
  bool app_limited = false;
};

struct LossSample {
  Timestamp now;
  uint64_t bytes_lost = 0;
  uint64_t bytes_in_flight = 0;
  bool is_timeout = false;  // retransmission timer fired (vs. detected by selective acks)
  // With this one, the timeouts since the last acknowledgement of new data. The stream
  // counts them, so the count survives a controller switch. One timeout is a late
  // acknowledgement; two without an acknowledgement between them are an outage or heavy
  // congestion (chicago and background halve only then).
  uint32_t timeouts_since_ack = 0;
  // When the newest transmission declared lost was sent; never() if unknown. A loss of a
  // packet sent before the controller's last decrease belongs to the event it answered
  // (TCP's recovery point, RFC 6675).
  Timestamp newest_lost_sent = Timestamp::never();
};

// What a controller leaves to its successor when the stream switches controllers on a
// live path (Stream::set_priority, Stream::set_controller). PathState (RTT, base delay,
// loss counts) carries over by itself; this is the controller's own state that a
// successor needs in order not to cold-start.
struct ControllerHandover {
  Timestamp now;
  double rate_bytes_per_s = 0;     // the previous controller's pacing rate
  uint64_t bytes_in_flight = 0;    // at the switch
  std::string_view previous_name;  // the previous controller's name()
  // The previous controller yielded to other traffic (priority background): its rate
  // says nothing about the share the path would give a normal flow, so the successor
  // should look for it as a new flow would (e.g. a start-up from the current rate).
  bool previous_yielded = false;
  // The previous controller had found a buffer-filling competitor (chicago's competitive
  // mode): the successor competes from the start instead of finding it again.
  bool previous_competing = false;
  // How many normal flows the previous class counted as (1 for normal and background,
  // N for priority N): a switch between weights scales the share looked for.
  double previous_weight = 1.0;
};

struct SendSample {
  Timestamp now;
  uint64_t bytes = 0;
  bool retransmission = false;
};

class CongestionController {
 public:
  virtual ~CongestionController() = default;
  virtual std::string_view name() const = 0;

  // Required hooks.
  virtual void on_ack(const AckSample& s, const PathState& path) = 0;
  virtual void on_loss(const LossSample& s, const PathState& path) = 0;
  // Earliest time the next packet may leave (pacing); `now` if it may go at once.
  virtual Timestamp next_send_time(Timestamp now) const = 0;

  // Optional hooks.
  virtual void on_send(const SendSample&) {}
  // Bytes-in-flight cap; the stream also applies the peer's flow-control window.
  virtual uint64_t window_bytes() const { return UINT64_MAX; }
  // Retransmission timeout; the default is RFC 6298 from PathState.
  virtual Duration retransmit_timeout(const PathState& path) const;
  // Called when the stream has been idle (nothing in flight, nothing to send).
  virtual void on_idle(Timestamp) {}
  // Current pacing rate, for statistics and for the handover to a successor.
  virtual double rate_bytes_per_s() const = 0;
  // Whether it has found a buffer-filling competitor and competes with it (for the
  // handover to a successor).
  virtual bool competing() const { return false; }
  // Called once, right after construction, on a controller that replaces another on a
  // live stream: continue from the path's current state (the previous rate, PathState's
  // RTT and base delay) instead of a cold start, so that a class switch reaches its new
  // share within seconds (docs/PRIORITY.md). The default ignores it (a cold start).
  virtual void on_handover(const ControllerHandover&, const PathState&) {}
};

// RFC 6298's timeout with our floors (congestion.cpp): the default of
// CongestionController::retransmit_timeout, for controllers that add to it.
Duration rfc6298_retransmit_timeout(const PathState& path);

// Registry: create a controller by name ("chicago", "reference-chicago", ...).
using ControllerFactory = std::function<std::unique_ptr<CongestionController>(Rng& rng, Timestamp now)>;

void register_controller(std::string name, ControllerFactory factory);
// nullptr for an unknown name.
std::unique_ptr<CongestionController> make_controller(std::string_view name, Rng& rng, Timestamp now);
std::vector<std::string> controller_names();

}  // namespace curvecp
