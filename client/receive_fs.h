// File-system steps of `curvecp receive` that can never leave its directory: every name
// is resolved one component at a time below a directory descriptor with O_NOFOLLOW, so a
// symlink anywhere on the way (made by a push, or there before) is refused, not followed.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "daemon/unique_fd.h"

namespace curvecp::push {

// Opens the directory `rel` (a checked relative path, or "" for `base` itself) below
// `base`. With `create`, missing components are made (mode 0755 less the umask). Fails
// with "'a/b' is a symlink or not a directory: refused" and the like.
Result<UniqueFd> open_dir_below(int base, std::string_view rel, bool create);

// "a/b/c" -> {"a/b", "c"}; "c" -> {"", "c"}.
std::pair<std::string_view, std::string_view> split_parent(std::string_view path);

// The name a file or link is written under until it is complete: hidden, in the same
// directory (so the final rename is atomic), the same for the same name on every run (so
// an interrupted push can continue it), and short whatever the name's length.
std::string temp_name_for(std::string_view name);

}  // namespace curvecp::push
