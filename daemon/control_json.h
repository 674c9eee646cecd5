// A small JSON reader and writer for the control socket (daemon/control_protocol.h):
// the daemon writes its replies with json_quote() and the number formatters, and
// `curvecp status`/`ctl` read them back with parse_json(). Only what those replies need,
// but all of RFC 8259's syntax is accepted, so a reply from a newer daemon with extra
// fields still parses. Bounded: at most kMaxJsonDepth nested arrays/objects, and numbers
// are kept as their literal text (64-bit counters do not fit a double exactly).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace curvecp {

inline constexpr int kMaxJsonDepth = 16;

struct JsonMember;

struct JsonValue {
  enum class Kind : uint8_t { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::string text;                                        // number: literal; string: decoded
  std::vector<JsonValue> items;                            // array
  std::vector<JsonMember> members;                         // object, in document order

  // The first member named `key` of an object; nullptr if absent or not an object.
  const JsonValue* find(std::string_view key) const;
  // A number that is a non-negative integer fitting 64 bits; nothing otherwise.
  std::optional<uint64_t> as_u64() const;
  // Any number as a double; nothing if not a number.
  std::optional<double> as_double() const;
};

// One name/value pair of an object. A struct of its own rather than std::pair: a pair
// naming the still-incomplete JsonValue inside JsonValue is rejected by clang with
// libstdc++ (std::vector of an incomplete struct is allowed, a pair of one is not).
struct JsonMember {
  std::string name;
  JsonValue value;
};

// Parses one JSON text (surrounding white space allowed). Fails with one line naming
// the byte offset of the first error.
Result<JsonValue> parse_json(std::string_view text);

// `s` as a JSON string literal, quotes included; control characters and non-UTF-8
// bytes are escaped (bytes >= 0x80 as \u00XX, so the output is always ASCII).
std::string json_quote(std::string_view s);
// A finite double with `decimals` digits after the point ("0" for NaN or infinities,
// which JSON cannot carry).
std::string json_number(double value, int decimals);

}  // namespace curvecp
