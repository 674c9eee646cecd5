// A trace of congestion-controller decisions, for studying a real path (docs/NETLAB.md):
// when the environment names a file in CURVECP_CC_TRACE, the `curvecp` binary installs a
// sink (client/main.cpp) and the controllers write one line per decision (mode changes,
// decreases and why, timeouts) plus their state once per round trip. Off by default,
// and then each call costs one branch. Lines hold no keys and no data, only numbers.
#pragma once

namespace curvecp {

using CcTraceSink = void (*)(const char* line);

// Installs `sink` (nullptr: off). Not thread-safe: call before the event loop starts.
void set_cc_trace_sink(CcTraceSink sink);
bool cc_trace_enabled();
// Formats one line (no newline needed) and hands it to the sink, if any.
void cc_trace(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace curvecp
