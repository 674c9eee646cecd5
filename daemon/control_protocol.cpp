#include "daemon/control_protocol.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "daemon/control_json.h"

namespace curvecp {

namespace {

constexpr std::string_view kAcceptedClasses = "background, normal or a number N with 1 <= N <= 100";
constexpr std::string_view kKnownRequests = "status, priority ID CLASS";

std::vector<std::string_view> split_tokens(std::string_view line) {
  std::vector<std::string_view> tokens;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) tokens.push_back(line.substr(start, i - start));
  }
  return tokens;
}

}  // namespace

std::optional<uint64_t> parse_connection_id(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0) return std::nullopt;
  return v;
}

namespace {

// Printable ASCII of a token for an error message, cut at 32 characters.
std::string shown(std::string_view token) {
  std::string out;
  for (char c : token.substr(0, 32)) out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  if (token.size() > 32) out.append("...");
  return out;
}

Result<ControlRequest> parse_priority_request(const std::vector<std::string_view>& tokens) {
  if (tokens.size() != 3) return make_error("usage: priority ID CLASS");
  auto id = parse_connection_id(tokens[1]);
  if (!id) return make_error("bad connection id '" + shown(tokens[1]) + "' (expected a positive integer)");
  auto p = parse_priority(tokens[2]);
  if (!p) {
    return make_error("bad priority '" + shown(tokens[2]) + "' (expected " + std::string(kAcceptedClasses) + ")");
  }
  ControlRequest r;
  r.kind = ControlRequest::Kind::priority;
  r.id = *id;
  r.priority = *p;
  return r;
}

// --- reading replies ---

Error bad_reply(const std::string& why) { return make_error("bad reply from the daemon: " + why); }

// The reply as a JSON object; an {"error": ...} reply becomes the daemon's message.
Result<JsonValue> reply_object(std::string_view line) {
  auto doc = parse_json(line);
  if (!doc) return bad_reply(doc.error().message);
  if (doc->kind != JsonValue::Kind::object) return bad_reply("not a JSON object");
  if (const JsonValue* e = doc->find("error")) {
    if (e->kind != JsonValue::Kind::string) return bad_reply("error is not a string");
    return make_error(e->text);
  }
  return std::move(doc).value();
}

bool read_u64(const JsonValue& o, const char* name, uint64_t& out) {
  const JsonValue* v = o.find(name);
  if (v == nullptr) return false;
  auto n = v->as_u64();
  if (!n) return false;
  out = *n;
  return true;
}

bool read_double(const JsonValue& o, const char* name, double& out) {
  const JsonValue* v = o.find(name);
  if (v == nullptr) return false;
  auto n = v->as_double();
  if (!n) return false;
  out = *n;
  return true;
}

bool read_string(const JsonValue& o, const char* name, std::string& out) {
  const JsonValue* v = o.find(name);
  if (v == nullptr || v->kind != JsonValue::Kind::string) return false;
  out = v->text;
  return true;
}

Result<ConnectionInfo> read_connection(const JsonValue& o) {
  ConnectionInfo c;
  const bool ok = o.kind == JsonValue::Kind::object && read_u64(o, "id", c.id) &&
                  read_string(o, "peer_key", c.peer_key) && read_string(o, "address", c.address) &&
                  read_string(o, "priority", c.priority) && read_u64(o, "bytes_sent", c.bytes_sent) &&
                  read_u64(o, "bytes_received", c.bytes_received) && read_u64(o, "rate_bps", c.rate_bps) &&
                  read_double(o, "rtt_ms", c.rtt_ms) && read_double(o, "loss", c.loss) &&
                  read_u64(o, "retransmissions", c.retransmissions) && read_double(o, "age_s", c.age_s);
  if (!ok) return bad_reply("a connection lacks a field or has a wrong type");
  return c;
}

// --- the table ---

// 1536 -> "1.5 KiB"; below 1 KiB the exact count.
std::string human_bytes(uint64_t n) {
  static constexpr std::array<const char*, 5> kUnits{"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (n < 1024) return std::to_string(n) + " B";
  double v = static_cast<double>(n) / 1024;
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < kUnits.size()) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  return buf;
}

std::string human_rate(uint64_t bps) {
  char buf[32];
  if (bps >= 1000000) {
    std::snprintf(buf, sizeof buf, "%.1f Mbit/s", static_cast<double>(bps) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f kbit/s", static_cast<double>(bps) / 1e3);
  }
  return buf;
}

std::string fixed(double v, int decimals, const char* suffix) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f%s", decimals, v, suffix);
  return buf;
}

std::vector<std::string> table_row(const ConnectionInfo& c) {
  return {std::to_string(c.id),
          c.peer_key.substr(0, 16),
          c.address,
          c.priority,
          human_bytes(c.bytes_sent),
          human_bytes(c.bytes_received),
          human_rate(c.rate_bps),
          fixed(c.rtt_ms, 1, " ms"),
          fixed(c.loss * 100, 2, "%"),
          std::to_string(c.retransmissions),
          fixed(c.age_s, 0, " s")};
}

}  // namespace

Result<ControlRequest> parse_control_request(std::string_view line) {
  if (line.size() + 1 > kMaxControlRequestBytes) {
    return make_error("request too long (at most " + std::to_string(kMaxControlRequestBytes) + " bytes)");
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const auto tokens = split_tokens(line);
  if (tokens.empty()) return make_error("empty request (known: " + std::string(kKnownRequests) + ")");
  if (tokens[0] == "status") {
    if (tokens.size() != 1) return make_error("usage: status");
    return ControlRequest{};
  }
  if (tokens[0] == "priority") return parse_priority_request(tokens);
  return make_error("unknown request '" + shown(tokens[0]) + "' (known: " + std::string(kKnownRequests) + ")");
}

void fill_stream_figures(ConnectionInfo& info, const Stream& stream) {
  const StreamStats st = stream.stats();
  info.priority = format_priority(stream.priority());
  info.bytes_sent = st.bytes_sent;
  info.bytes_received = st.bytes_received;
  // A controller may report no limit (infinity) before its first sample, and a side that
  // has sent nothing only shows its controller's starting rate: 0 then.
  const bool has_sent = st.bytes_sent > 0 || st.bytes_in_flight > 0;
  const double bps = has_sent ? st.rate_bytes_per_s * 8 : 0;
  info.rate_bps = std::isfinite(bps) && bps > 0 ? static_cast<uint64_t>(std::min(bps, 1e18)) : 0;
  info.rtt_ms = static_cast<double>(st.srtt.ns) / 1e6;
  info.loss = st.loss;
  info.retransmissions = st.retransmissions;
}

std::string format_status_request() { return "status\n"; }

std::string format_priority_request(uint64_t id, const Priority& p) {
  return "priority " + std::to_string(id) + " " + format_priority(p) + "\n";
}

std::string answer_control_request(std::string_view line, ControlTarget& target, Timestamp now) {
  auto request = parse_control_request(line);
  if (!request) return format_error_reply(request.error().message) + "\n";
  if (request->kind == ControlRequest::Kind::status) {
    return format_status_reply(target.control_connections(now)) + "\n";
  }
  if (Status s = target.control_set_priority(request->id, request->priority, now); !s) {
    return format_error_reply(s.error().message) + "\n";
  }
  return format_priority_reply(request->id, request->priority) + "\n";
}

std::string format_status_reply(std::span<const ConnectionInfo> connections) {
  std::string out = "{\"connections\": [";
  for (size_t i = 0; i < connections.size(); ++i) {
    const ConnectionInfo& c = connections[i];
    if (i > 0) out.append(", ");
    out.append("{\"id\": ").append(std::to_string(c.id));
    out.append(", \"peer_key\": ").append(json_quote(c.peer_key));
    out.append(", \"address\": ").append(json_quote(c.address));
    out.append(", \"priority\": ").append(json_quote(c.priority));
    out.append(", \"bytes_sent\": ").append(std::to_string(c.bytes_sent));
    out.append(", \"bytes_received\": ").append(std::to_string(c.bytes_received));
    out.append(", \"rate_bps\": ").append(std::to_string(c.rate_bps));
    out.append(", \"rtt_ms\": ").append(json_number(c.rtt_ms, 3));
    out.append(", \"loss\": ").append(json_number(c.loss, 6));
    out.append(", \"retransmissions\": ").append(std::to_string(c.retransmissions));
    out.append(", \"age_s\": ").append(json_number(c.age_s, 3));
    out.append("}");
  }
  out.append("]}");
  return out;
}

std::string format_priority_reply(uint64_t id, const Priority& p) {
  std::string out = "{\"ok\": true, \"id\": ";
  out.append(std::to_string(id)).append(", \"priority\": ").append(json_quote(format_priority(p))).append("}");
  return out;
}

std::string format_error_reply(std::string_view message) {
  return "{\"error\": " + json_quote(message) + "}";
}

Result<std::vector<ConnectionInfo>> parse_status_reply(std::string_view line) {
  auto reply = reply_object(line);
  if (!reply) return reply.error();
  const JsonValue* list = reply->find("connections");
  if (list == nullptr || list->kind != JsonValue::Kind::array) return bad_reply("no connections array");
  std::vector<ConnectionInfo> out;
  out.reserve(list->items.size());
  for (const JsonValue& item : list->items) {
    auto c = read_connection(item);
    if (!c) return c.error();
    out.push_back(std::move(c).value());
  }
  return out;
}

Status parse_priority_reply(std::string_view line) {
  auto reply = reply_object(line);
  if (!reply) return reply.error();
  const JsonValue* ok = reply->find("ok");
  if (ok == nullptr || ok->kind != JsonValue::Kind::boolean || !ok->boolean) return bad_reply("no \"ok\": true");
  return {};
}

std::string format_status_table(std::span<const ConnectionInfo> connections) {
  if (connections.empty()) return "no connections\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "PEER", "ADDRESS", "PRIORITY", "SENT", "RECEIVED", "RATE", "RTT", "LOSS", "RETRANS", "AGE"});
  for (const ConnectionInfo& c : connections) rows.push_back(table_row(c));
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  // Text columns (peer, address, priority) to the left, figures to the right.
  auto left = [](size_t column) { return column >= 1 && column <= 3; };
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line.append("  ");
      const std::string pad(width[i] - row[i].size(), ' ');
      line.append(left(i) ? row[i] + pad : pad + row[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out.append(line).append("\n");
  }
  return out;
}

}  // namespace curvecp
