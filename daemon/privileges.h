// `serve --user USER`: giving up root after the socket is bound and the key is loaded, as
// daemontools' setuidgid and OpenSSH's privilege separation do. The programs started for
// connections then run as USER too (they inherit our credentials).
#pragma once

#include <string>
#include <sys/types.h>

#include "core/result.h"

namespace curvecp {

struct UserIds {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Looks `name` up in the user database. Fails with "unknown user: NAME" (or the lookup's
// error), or "--user needs root (running as uid N)" when we are not root.
Result<UserIds> resolve_user(const std::string& name);

// setgroups (the user's primary group only), setgid, setuid; then checks that real and
// effective ids are the user's and that root cannot be regained. Fails with a line naming
// the step; the caller must exit then (the process may be half-changed).
Status drop_privileges(const UserIds& user);

}  // namespace curvecp
