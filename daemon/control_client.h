// The client end of the control socket (daemon/control_protocol.h), for `curvecp status`
// and `curvecp ctl`: one request line, one reply line, over a blocking unix socket with
// a time limit. No event loop: these commands do nothing else meanwhile.
#pragma once

#include <string>

#include "core/result.h"
#include "core/time.h"

namespace curvecp {

// Replies larger than this are refused (a status of 65535 connections is about 20 MB).
inline constexpr size_t kMaxControlReplyBytes = 64u << 20;

// Sends `request` ("\n"-terminated) to the control socket at `path` and returns the reply
// line without its "\n". Fails with one line: nothing listening at `path` (no such
// socket, connection refused), permission denied, no complete reply within `timeout`,
// the daemon closed without replying, a reply over kMaxControlReplyBytes.
Result<std::string> control_request(const std::string& path, const std::string& request, Duration timeout);

// The control socket a command talks to when --control is not given: $CURVECPCONTROL
// (set for programs run by serve and connect), else default_serve_control_path().
// Fails with one line when there is none.
Result<std::string> control_path_from_environment();

}  // namespace curvecp
