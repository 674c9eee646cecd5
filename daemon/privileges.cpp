#include "daemon/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace curvecp {

namespace {

Error step_failed(const char* step) { return make_error(std::string(step) + ": " + std::strerror(errno)); }

}  // namespace

Result<UserIds> resolve_user(const std::string& name) {
  if (::geteuid() != 0) return make_error("--user needs root (running as uid " + std::to_string(::geteuid()) + ")");
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = 0;
  while ((rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE && buf.size() < (1u << 20)) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) return make_error("cannot look up user " + name + ": " + std::strerror(rc));
  if (found == nullptr) return make_error("unknown user: " + name);
  return UserIds{name, pw.pw_uid, pw.pw_gid};
}

Status drop_privileges(const UserIds& user) {
  // Groups first: after setuid we could no longer change them.
  if (::setgroups(1, &user.gid) != 0) return step_failed("setgroups");
  if (::setgid(user.gid) != 0) return step_failed("setgid");
  if (::setuid(user.uid) != 0) return step_failed("setuid");
  if (::getuid() != user.uid || ::geteuid() != user.uid || ::getgid() != user.gid || ::getegid() != user.gid) {
    return make_error("user and group ids did not change to " + user.name + "'s");
  }
  // setuid from root to another user must be irreversible; refuse to serve otherwise.
  if (user.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) return make_error("root could be regained after setuid");
  return {};
}

}  // namespace curvecp
