#include "client/server_target.h"

#include <fcntl.h>
#include <netdb.h>
#include <unistd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "crypto/server_name.h"
#include "daemon/sockaddr.h"

namespace curvecp {

void ServerTarget::fill_from(const ServerTarget& file) {
  for (auto [mine, theirs] : {std::pair{&host, &file.host}, {&port, &file.port}, {&name, &file.name},
                              {&key_hex, &file.key_hex}, {&ext_hex, &file.ext_hex}}) {
    if (mine->empty()) *mine = *theirs;
  }
  origin = file.origin;
}

namespace {

// The line without its comment, split at blanks.
std::vector<std::string> fields_of(const std::string& line) {
  std::string text = line;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t')) {
      text.resize(i);
      break;
    }
  }
  std::vector<std::string> fields;
  std::istringstream in(text);
  for (std::string f; in >> f;) fields.push_back(f);
  return fields;
}

// What is wrong with one line's fields, or an empty string.
std::string check_entry(const std::vector<std::string>& f) {
  if (f.size() < 5 || f.size() > 6) {
    return "expected ALIAS HOST PORT NAME KEY [EXT], found " + std::to_string(f.size()) + " field" +
           (f.size() == 1 ? "" : "s");
  }
  if (!parse_port(f[2])) return "bad port '" + f[2] + "' (expected 1..65535)";
  if (auto name = encode_server_name(f[3]); !name) return "bad server name: " + name.error().message;
  PublicKey key;
  if (!parse_public_key(f[4], key)) return "the key must be exactly 64 hexadecimal digits";
  Extension ext;
  if (f.size() == 6 && !parse_extension(f[5], ext)) return "the extension must be exactly 32 hexadecimal digits";
  return {};
}

}  // namespace

Result<std::vector<ServersFileEntry>> parse_servers_file(std::string_view text, const std::string& path) {
  std::vector<ServersFileEntry> entries;
  std::istringstream in{std::string(text)};
  size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const std::vector<std::string> f = fields_of(line);
    if (f.empty()) continue;
    const std::string where = path + ":" + std::to_string(number);
    if (std::string wrong = check_entry(f); !wrong.empty()) return make_error(where + ": " + wrong);
    ServersFileEntry e;
    e.alias = f[0];
    e.target = ServerTarget{f[1], f[2], f[3], f[4], f.size() == 6 ? f[5] : "", where};
    entries.push_back(std::move(e));
  }
  return entries;
}

namespace {

// The whole of file `path` into `text`: 0, or the errno of the failing call (ENOENT: no
// such file).
int read_text_file(const std::string& path, std::string& text) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buf[4096];
  int error = 0;
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) error = errno;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return error;
}

}  // namespace

std::vector<std::string> servers_file_paths() {
  std::vector<std::string> paths;
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  // The XDG base directory rule: a relative XDG_CONFIG_HOME is invalid and ignored.
  if (xdg != nullptr && xdg[0] == '/') {
    paths.push_back(std::string(xdg) + "/curvecp/servers");
  } else if (home != nullptr && home[0] != '\0') {
    paths.push_back(std::string(home) + "/.config/curvecp/servers");
  }
  paths.push_back("/etc/curvecp/servers");
  return paths;
}

Result<std::optional<ServerTarget>> find_server_alias(const std::string& alias, const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    std::string text;
    if (const int error = read_text_file(path, text); error != 0) {
      if (error == ENOENT || error == ENOTDIR) continue;
      return make_error("cannot read " + path + ": " + std::strerror(error));
    }
    auto entries = parse_servers_file(text, path);
    if (!entries) return entries.error();
    for (const ServersFileEntry& e : *entries) {
      if (e.alias == alias) return std::optional<ServerTarget>(e.target);
    }
  }
  return std::optional<ServerTarget>();
}

namespace {

// Appends the addresses of one name or literal to `out`, skipping ones already there.
Status resolve_one(const std::string& host, uint16_t port, std::vector<Address>& out) {
  auto add = [&out](const Address& a) {
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  };
  if (auto literal = Address::parse(host, port)) {
    add(*literal);
    return {};
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  // No AI_ADDRCONFIG: it drops 127.0.0.1 for "localhost" on a host (or network
  // namespace) with only a loopback interface; ClientConnection leaves out addresses it
  // has no route to instead.
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    return make_error("cannot resolve " + host + ": " + (rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc)));
  }
  bool found = false;
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    Address a = from_sockaddr(ai->ai_addr, ai->ai_addrlen);
    a.port = port;
    if (a.family == Address::Family::none) continue;
    add(a);
    found = true;
  }
  freeaddrinfo(list);
  if (!found) return make_error("cannot resolve " + host + ": no IPv4 or IPv6 address");
  return {};
}

}  // namespace

Result<std::vector<Address>> resolve_host(const std::string& host, uint16_t port) {
  std::vector<Address> addresses;
  size_t start = 0;
  for (;;) {
    const size_t comma = host.find(',', start);
    const std::string one = host.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (one.empty()) return make_error("bad host list '" + host + "': an empty entry");
    if (Status s = resolve_one(one, port, addresses); !s) return s.error();
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return addresses;
}

namespace {

TargetError usage(std::string message) { return TargetError{TargetError::Kind::usage, std::move(message)}; }

std::string list_paths(const std::vector<std::string>& paths) {
  std::string text;
  for (const auto& p : paths) text += (text.empty() ? "" : " or ") + p;
  return text.empty() ? "no servers file" : text;
}

// Checks name, key and extension of `t` into `out`; an empty string when all are good.
std::string check_credentials(const ServerTarget& t, ResolvedTarget& out) {
  const std::string from = t.origin.empty() ? "" : " (from " + t.origin + ")";
  if (t.name.empty()) return "--name is required (or an ALIAS whose servers-file line gives it)";
  auto name = encode_server_name(t.name);
  if (!name) return "--name: " + name.error().message;
  out.name = *name;
  if (t.key_hex.empty()) return "--server-key is required (or an ALIAS whose servers-file line gives it)";
  if (!parse_public_key(t.key_hex, out.key)) return "--server-key must be exactly 64 hexadecimal digits" + from;
  if (!t.ext_hex.empty() && !parse_extension(t.ext_hex, out.ext)) {
    return "--ext must be exactly 32 hexadecimal digits" + from;
  }
  return {};
}

}  // namespace

std::variant<TargetResult, TargetError> resolve_target(const std::vector<std::string>& words, ServerTarget given,
                                                       const std::vector<std::string>& paths) {
  if (words.empty() || words[0].empty() || words[0] == "--") {
    return usage("no server given: HOST PORT, or an ALIAS from a servers file");
  }
  TargetResult result;
  const std::string& first = words[0];
  const bool literal = Address::parse(first, 1).has_value();
  std::optional<ServerTarget> from_file;
  if (!literal) {
    auto found = find_server_alias(first, paths);
    if (!found) {
      const bool malformed = found.error().message.rfind("cannot read ", 0) != 0;
      return TargetError{malformed ? TargetError::Kind::usage : TargetError::Kind::failure, found.error().message};
    }
    from_file = *found;
  }
  if (from_file) {
    given.host.clear();
    given.port.clear();
    given.fill_from(*from_file);
    result.target.alias = first;
    result.words_used = 1;
  } else {
    if (words.size() < 2 || words[1] == "--") {
      if (literal) return usage("no PORT after " + first);
      return usage("unknown alias '" + first + "' (not in " + list_paths(paths) + "); for a host, give HOST PORT");
    }
    if (!literal && !parse_port(words[1])) {
      return usage("'" + first + "' is no alias in " + list_paths(paths) + ", and '" + words[1] +
                   "' is no PORT (1..65535) for a host of that name");
    }
    given.host = first;
    given.port = words[1];
    result.words_used = 2;
  }
  auto port = parse_port(given.port);
  if (!port) return usage("bad port '" + given.port + "' (expected 1..65535)");
  if (std::string wrong = check_credentials(given, result.target); !wrong.empty()) return usage(wrong);
  auto addresses = resolve_host(given.host, *port);
  if (!addresses) {
    const std::string from = given.origin.empty() ? "" : " (alias " + first + ", " + given.origin + ")";
    return TargetError{TargetError::Kind::failure, addresses.error().message + from};
  }
  result.target.addresses = std::move(*addresses);
  return result;
}

}  // namespace curvecp
