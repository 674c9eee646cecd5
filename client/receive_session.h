// The receiving half of the push conversation (push_protocol.h), run by `curvecp receive
// DIR` as an ordinary UCSPI server program: the push arrives on one descriptor, answers
// go out on the other. Nothing is written outside DIR (receive_fs.h); a file appears
// under its final name only complete, verified, with its mode and time, and synced.
#pragma once

#include "client/push_channel.h"
#include "daemon/unique_fd.h"

namespace curvecp::push {

// Runs one push into the directory `dir` (an open descriptor). Returns 0 when every entry
// arrived and verified, 111 otherwise; prints one "curvecp: receive: ..." line per
// refusal or failure and a summary line on stderr.
int run_receive_session(FrameChannel& channel, UniqueFd dir);

}  // namespace curvecp::push
