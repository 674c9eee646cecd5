// The local side of `curvecp push`: turns the PATH arguments into the list of entries to
// send (push_protocol.h), walking directories without following symlinks.
#pragma once

#include <string>
#include <vector>

#include "client/push_protocol.h"
#include "core/result.h"

namespace curvecp::push {

struct LocalEntry {
  Entry entry;             // entry.path is the name on the receiver (below --to)
  std::string local_path;  // where to read it here
};

struct LocalTree {
  std::vector<LocalEntry> entries;  // parents before their contents, names sorted
  // Things not sent (sockets, devices, unreadable directories): one line each. They
  // count as failures: push exits 111 when any is left.
  std::vector<std::string> skipped;
};

// Each PATH is sent under its last name ("dir/sub/" as "sub", a directory with its whole
// tree). Fails, before anything is sent, when a PATH does not exist, has no usable name
// ("/", "."), or two PATHs would land on the same name.
Result<LocalTree> collect_tree(const std::vector<std::string>& paths);

}  // namespace curvecp::push
