// Ownership helpers shared by every libuv handle owner in daemon/ (ARCHITECTURE.md: RAII
// owners for every libuv handle, freed in the close callback, never in a destructor).
//
// Every handle we create is allocated with `new` as its concrete type (uv_timer_t,
// uv_poll_t, ...). An owner's destructor calls close_and_free(): libuv closes the handle
// asynchronously and the close callback deletes it. The owner clears handle->data first,
// so a callback that is still queued cannot reach a destroyed owner.
#pragma once

#include <uv.h>

#include <string>

#include "core/time.h"

namespace curvecp {

// Starts closing `handle` (no-op if already closing) and deletes it in the close callback,
// using handle->type to pick the concrete type. Sets handle->data to nullptr.
void close_and_free(uv_handle_t* handle);

// Reads CLOCK_MONOTONIC. The runtime's only clock read (EventLoop::update_now() calls it
// once per callback); timers (daemon/timer.h) are armed against the same clock.
Timestamp read_monotonic_clock();

// "what: strerror" for a libuv status code (negative errno).
std::string uv_error_text(const char* what, int status);

}  // namespace curvecp
