// Descriptor-relative path resolution for `curvecp receive` (receive_fs.h).
#include "client/receive_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>

#include "client/push_protocol.h"
#include "core/bytes.h"
#include "crypto/hash.h"

namespace curvecp::push {

std::pair<std::string_view, std::string_view> split_parent(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view{}, path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

Result<UniqueFd> open_dir_below(int base, std::string_view rel, bool create) {
  UniqueFd dir(::openat(base, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return make_error(std::string("cannot open the directory: ") + std::strerror(errno));
  if (rel.empty()) return dir;
  std::string so_far;
  for (std::string_view part : split_path(rel)) {
    const std::string name(part);
    so_far += (so_far.empty() ? "" : "/") + name;
    int fd = ::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(dir.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
        return make_error("cannot make directory '" + so_far + "': " + std::strerror(errno));
      }
      fd = ::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR) return make_error("'" + so_far + "' is a symlink or not a directory: refused");
      return make_error("cannot open directory '" + so_far + "': " + std::strerror(errno));
    }
    dir.reset(fd);
  }
  return dir;
}

std::string temp_name_for(std::string_view name) {
  static const char* hex = "0123456789abcdef";
  const Blake2bDigest h = Blake2b::of(ascii(name));
  std::string out = ".curvecp-push-";
  for (size_t i = 0; i < 8; ++i) {
    out += hex[h[i] >> 4];
    out += hex[h[i] & 15];
  }
  return out + ".part";
}

}  // namespace curvecp::push
