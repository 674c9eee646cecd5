// The sending half of the push conversation (push_protocol.h): says what it has, hears
// what the receiver has, sends the missing bytes with a BLAKE2b of each whole file, and
// collects the receiver's verdict. Blocking, over a FrameChannel; `curvecp push` runs it
// against the pipes of a `curvecp connect` child (push_command.cpp).
#pragma once

#include <functional>
#include <string>

#include "client/push_channel.h"
#include "client/push_progress.h"
#include "client/push_tree.h"

namespace curvecp::push {

struct SenderOutcome {
  bool completed = false;  // the receiver's Summary arrived
  uint64_t files_sent = 0;
  uint64_t files_skipped = 0;  // already there and verified
  uint64_t bytes_sent = 0;     // file data sent in this run
  std::vector<std::string> failures;  // "NAME: reason", ours and the receiver's
  std::string fatal;       // why the conversation stopped early (empty if completed)
};

// `to` is --to SUBDIR (empty: the receiver's DIR). `poll` is called between chunks: it
// prints a status line when one was asked for and fails when the user interrupted.
SenderOutcome run_push_sender(FrameChannel& channel, const LocalTree& tree, const std::string& to,
                              Progress& progress, const std::function<Status()>& poll);

}  // namespace curvecp::push
