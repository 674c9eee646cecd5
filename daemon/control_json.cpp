#include "daemon/control_json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace curvecp {

namespace {

// A recursive-descent reader over `text_`; every error names its byte offset.
class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : text_(text) {}

  Result<JsonValue> document() {
    JsonValue v;
    if (!value(v, 0)) return failure();
    skip_space();
    if (pos_ != text_.size()) return fail_at("trailing characters");
    return v;
  }

 private:
  bool value(JsonValue& v, int depth) {
    skip_space();
    if (pos_ >= text_.size()) return set_error("unexpected end");
    const char c = text_[pos_];
    if (c == '{') return object(v, depth + 1);
    if (c == '[') return array(v, depth + 1);
    if (c == '"') {
      v.kind = JsonValue::Kind::string;
      return string(v.text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number(v);
    if (literal("true")) {
      v.kind = JsonValue::Kind::boolean;
      v.boolean = true;
      return true;
    }
    if (literal("false")) {
      v.kind = JsonValue::Kind::boolean;
      return true;
    }
    if (literal("null")) return true;
    return set_error("unexpected character");
  }

  bool object(JsonValue& v, int depth) {
    if (depth > kMaxJsonDepth) return set_error("nested too deeply");
    v.kind = JsonValue::Kind::object;
    ++pos_;  // '{'
    skip_space();
    if (consume('}')) return true;
    for (;;) {
      skip_space();
      std::string key;
      if (pos_ >= text_.size() || text_[pos_] != '"') return set_error("expected a member name");
      if (!string(key)) return false;
      skip_space();
      if (!consume(':')) return set_error("expected ':'");
      JsonValue member;
      if (!value(member, depth)) return false;
      v.members.push_back(JsonMember{std::move(key), std::move(member)});
      skip_space();
      if (consume('}')) return true;
      if (!consume(',')) return set_error("expected ',' or '}'");
    }
  }

  bool array(JsonValue& v, int depth) {
    if (depth > kMaxJsonDepth) return set_error("nested too deeply");
    v.kind = JsonValue::Kind::array;
    ++pos_;  // '['
    skip_space();
    if (consume(']')) return true;
    for (;;) {
      JsonValue item;
      if (!value(item, depth)) return false;
      v.items.push_back(std::move(item));
      skip_space();
      if (consume(']')) return true;
      if (!consume(',')) return set_error("expected ',' or ']'");
    }
  }

  // RFC 8259 section 6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
  bool number(JsonValue& v) {
    const size_t start = pos_;
    consume('-');
    if (consume('0')) {
    } else if (!digits()) {
      return set_error("bad number");
    }
    if (consume('.') && !digits()) return set_error("bad number");
    if (consume('e') || consume('E')) {
      if (!consume('+')) consume('-');
      if (!digits()) return set_error("bad number");
    }
    v.kind = JsonValue::Kind::number;
    v.text.assign(text_.substr(start, pos_ - start));
    return true;
  }

  bool digits() {
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    return pos_ > start;
  }

  bool string(std::string& out) {
    ++pos_;  // '"'
    while (pos_ < text_.size()) {
      const unsigned char c = static_cast<unsigned char>(text_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return set_error("control character in string");
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      if (!escape(out)) return false;
    }
    return set_error("unterminated string");
  }

  bool escape(std::string& out) {
    if (pos_ >= text_.size()) return set_error("unterminated string");
    const char e = text_[pos_++];
    switch (e) {
      case '"': out.push_back('"'); return true;
      case '\\': out.push_back('\\'); return true;
      case '/': out.push_back('/'); return true;
      case 'b': out.push_back('\b'); return true;
      case 'f': out.push_back('\f'); return true;
      case 'n': out.push_back('\n'); return true;
      case 'r': out.push_back('\r'); return true;
      case 't': out.push_back('\t'); return true;
      case 'u': return unicode(out);
      default: return set_error("bad escape");
    }
  }

  // \uXXXX (a surrogate pair for code points above U+FFFF), appended as UTF-8.
  bool unicode(std::string& out) {
    auto cp = hex4();
    if (!cp) return set_error("bad \\u escape");
    uint32_t code = *cp;
    if (code >= 0xD800 && code <= 0xDBFF) {
      if (!literal("\\u")) return set_error("lone surrogate");
      auto low = hex4();
      if (!low || *low < 0xDC00 || *low > 0xDFFF) return set_error("lone surrogate");
      code = 0x10000 + ((code - 0xD800) << 10) + (*low - 0xDC00);
    } else if (code >= 0xDC00 && code <= 0xDFFF) {
      return set_error("lone surrogate");
    }
    append_utf8(out, code);
    return true;
  }

  std::optional<uint32_t> hex4() {
    if (text_.size() - pos_ < 4) return std::nullopt;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') v |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= static_cast<uint32_t>(h - 'A' + 10);
      else return std::nullopt;
    }
    return v;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool set_error(const char* what) {
    if (error_.empty()) error_ = std::string(what) + " at byte " + std::to_string(pos_);
    return false;
  }
  Error fail_at(const char* what) {
    set_error(what);
    return failure();
  }
  Error failure() const { return make_error("bad JSON: " + error_); }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

const JsonValue* JsonValue::find(std::string_view key) const {
  if (kind != Kind::object) return nullptr;
  for (const auto& [name, value] : members) {
    if (name == key) return &value;
  }
  return nullptr;
}

std::optional<uint64_t> JsonValue::as_u64() const {
  if (kind != Kind::number || text.empty() || text.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;  // sign, fraction or exponent
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  return v;
}

std::optional<double> JsonValue::as_double() const {
  if (kind != Kind::number) return std::nullopt;
  return std::strtod(text.c_str(), nullptr);
}

Result<JsonValue> parse_json(std::string_view text) { return JsonReader(text).document(); }

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c >= 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out.append(buf);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
  return out;
}

std::string json_number(double value, int decimals) {
  if (!std::isfinite(value)) return "0";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

}  // namespace curvecp
