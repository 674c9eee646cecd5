// `serve --allow FILE`: the client long-term public keys the server admits, with optional
// per-key settings (curvecp-serve(1), ALLOW FILE). One key per line:
//
//   # comment (a line whose first non-blank character is '#')
//   KEY [priority=CLASS] [label=TEXT]     # trailing comment after white space
//
// KEY is 64 hex digits (either case). CLASS is what --priority accepts (background,
// normal or a weight 1..100; parse_priority in scheduler/priority.h). label= takes the rest of the line up to a
// trailing comment, trimmed: printable ASCII and spaces, at most kMaxLabelBytes; it
// reaches the program as CURVECPCLIENTLABEL. A key may appear once. Parsing is all or
// nothing: any bad line rejects the whole file with its line number, so a reload with a
// broken file keeps the old list (serve_command.cpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.h"
#include "crypto/keys.h"
#include "scheduler/priority.h"

namespace curvecp {

inline constexpr size_t kMaxLabelBytes = 200;
inline constexpr size_t kMaxAllowFileBytes = 16 * 1024 * 1024;

struct AllowEntry {
  std::optional<Priority> priority;  // none: the server's default class
  std::string label;     // empty: no CURVECPCLIENTLABEL
  size_t line = 0;       // where it was read, for messages
};

class AllowList {
 public:
  // Parses the text of an allow file. Error: "line N: what" (N counted from 1).
  static Result<AllowList> parse(std::string_view text);
  // Reads and parses `path` (at most kMaxAllowFileBytes). Error: "PATH: what".
  static Result<AllowList> load(const std::string& path);

  // The entry for `key`, or nullptr if it is not admitted.
  const AllowEntry* find(const PublicKey& key) const;
  size_t size() const { return entries_.size(); }

 private:
  std::unordered_map<PublicKey, AllowEntry, PublicKeyHash> entries_;
};

}  // namespace curvecp
