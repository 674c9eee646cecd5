// A flow in the simulator: one sender and one receiver joined by the simulated path.
// FlowMetrics is what every flow records (application bytes delivered per time bin), so
// metrics and reports treat CurveCP streams and TCP models alike.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/time.h"

namespace curvecp::sim {

struct FlowMetrics {
  std::string label;              // "chicago", "cubic", ...
  Timestamp start{0};
  Duration bin = Duration::milliseconds(100);
  std::vector<uint64_t> delivered_per_bin;  // application bytes delivered to the receiver
  uint64_t delivered_bytes = 0;
  bool finished = false;          // finite transfer: the receiver saw the end of stream
  Timestamp finish_time = Timestamp::never();
  bool end_was_failure = false;   // the stream ended with FAIL
  uint64_t corrupt_bytes = 0;     // delivered bytes that differ from what was sent
  uint64_t sender_packets = 0;    // packets the sender put on the path
  uint64_t sender_retransmissions = 0;

  void record_delivery(Timestamp now, uint64_t bytes) {
    delivered_bytes += bytes;
    const size_t i = static_cast<size_t>(std::max<int64_t>(now.ns, 0) / bin.ns);
    if (delivered_per_bin.size() <= i) delivered_per_bin.resize(i + 1, 0);
    delivered_per_bin[i] += bytes;
  }
};

class Flow {
 public:
  virtual ~Flow() = default;
  // Called by the network at the flow's start time.
  virtual void start() = 0;
  // Stops sending new data (a competitor leaving the path); what is in flight may still
  // be retransmitted or acknowledged. Flows that cannot stop ignore it.
  virtual void stop() {}
  virtual const FlowMetrics& metrics() const = 0;
};

}  // namespace curvecp::sim
