// Readiness notification for systemd's Type=notify (sd_notify(3) protocol, written by hand
// so the daemon needs no libsystemd): one datagram such as "READY=1" to the AF_UNIX socket
// named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "daemon/unique_fd.h"

namespace curvecp {

class SdNotifier {
 public:
  // Takes $NOTIFY_SOCKET out of the environment (so programs started later do not
  // inherit it) and opens a datagram socket for it. nullopt when the variable is unset
  // (not run by systemd); an error for an unusable value or socket.
  static Result<std::optional<SdNotifier>> from_environment();

  // Sends `state` ("READY=1", "STOPPING=1", "STATUS=...") as one datagram.
  Status send(std::string_view state) const;

 private:
  SdNotifier(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;  // '@' already turned into the leading NUL of an abstract name
};

}  // namespace curvecp
