#include "daemon/allow_list.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "core/bytes.h"

namespace curvecp {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Cuts a trailing comment: '#' at the start or after white space.
std::string_view strip_comment(std::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || is_blank(line[i - 1]))) return line.substr(0, i);
  }
  return line;
}

// The next white-space separated word of `rest` (and `rest` moves past it).
std::string_view next_word(std::string_view& rest) {
  rest = trim(rest);
  size_t end = 0;
  while (end < rest.size() && !is_blank(rest[end])) ++end;
  std::string_view word = rest.substr(0, end);
  rest.remove_prefix(end);
  return word;
}

std::optional<std::string> check_label(std::string_view label) {
  if (label.empty()) return "empty label=";
  if (label.size() > kMaxLabelBytes) return "label longer than " + std::to_string(kMaxLabelBytes) + " bytes";
  for (char c : label) {
    if (c < 0x20 || c > 0x7e) return std::string("label holds a character other than printable ASCII");
  }
  return std::nullopt;
}

// Settings after the key into `entry`; an error message if one is bad.
std::optional<std::string> parse_settings(std::string_view rest, AllowEntry& entry) {
  for (;;) {
    rest = trim(rest);
    if (rest.empty()) return std::nullopt;
    if (rest.substr(0, 6) == "label=") {
      const std::string_view label = trim(rest.substr(6));
      if (auto bad = check_label(label)) return bad;
      entry.label.assign(label);
      return std::nullopt;  // the label takes the rest of the line
    }
    const std::string_view word = next_word(rest);
    if (word.substr(0, 9) == "priority=") {
      const std::string_view value = word.substr(9);
      if (entry.priority) return std::string("priority= given twice");
      entry.priority = parse_priority(value);
      if (!entry.priority) {
        return "unknown priority class '" + std::string(value) + "' (background, normal or a weight 1..100)";
      }
      continue;
    }
    return "unknown setting '" + std::string(word) + "' (known: priority=, label=)";
  }
}

}  // namespace

Result<AllowList> AllowList::parse(std::string_view text) {
  AllowList list;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    std::string_view rest = trim(strip_comment(line));
    if (rest.empty()) continue;
    auto fail = [&](const std::string& what) { return make_error("line " + std::to_string(line_number) + ": " + what); };
    const std::string_view hex = next_word(rest);
    PublicKey key;
    if (hex.size() != 2 * key.bytes.size() || !decode_hex(hex, key.bytes)) {
      return fail("not a key (64 hex digits): '" + std::string(hex.substr(0, 80)) + "'");
    }
    AllowEntry entry;
    entry.line = line_number;
    if (auto bad = parse_settings(rest, entry)) return fail(*bad);
    auto [it, inserted] = list.entries_.emplace(key, std::move(entry));
    if (!inserted) return fail("key listed twice (first on line " + std::to_string(it->second.line) + ")");
  }
  return list;
}

Result<AllowList> AllowList::load(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return make_error(path + ": " + std::strerror(errno));
  std::string text;
  char buf[65536];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    text.append(buf, n);
    if (text.size() > kMaxAllowFileBytes) {
      std::fclose(f);
      return make_error(path + ": larger than " + std::to_string(kMaxAllowFileBytes) + " bytes");
    }
  }
  const bool read_error = std::ferror(f) != 0;
  const int saved = errno;
  std::fclose(f);
  if (read_error) return make_error(path + ": " + std::strerror(saved));
  auto list = parse(text);
  if (!list) return make_error(path + ": " + list.error().message);
  return list;
}

const AllowEntry* AllowList::find(const PublicKey& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

}  // namespace curvecp
