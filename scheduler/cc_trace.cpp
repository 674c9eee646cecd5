#include "scheduler/cc_trace.h"

#include <cstdarg>
#include <cstdio>

namespace curvecp {

namespace {
CcTraceSink g_sink = nullptr;
}  // namespace

void set_cc_trace_sink(CcTraceSink sink) { g_sink = sink; }

bool cc_trace_enabled() { return g_sink != nullptr; }

void cc_trace(const char* format, ...) {
  if (g_sink == nullptr) return;
  char line[256];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  g_sink(line);
}

}  // namespace curvecp
