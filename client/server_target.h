// Where a client command connects: the server's addresses and port, its name, long-term
// key and extension, from the command line and the servers files. Shared by the client
// commands (`curvecp connect`, `curvecp push`) so that a host name or an alias means the
// same thing to all of them. Documented for users in man/curvecp-servers.5.
//
// A servers file maps an alias to a server, one per line, fields separated by blanks:
//
//     # ALIAS   HOST               PORT  NAME            KEY (64 hex)  [EXT (32 hex)]
//     backup    backup.example.org 4500  backup.example  0123...cdef
//
// '#' starts a comment (at the start of a line or after a blank); blank lines are
// ignored. Files are read in the order of servers_file_paths(): the user's file
// ($XDG_CONFIG_HOME/curvecp/servers, else ~/.config/curvecp/servers), then the
// system's (/etc/curvecp/servers); the first line naming the alias wins. A missing file
// is no error; an unreadable file or a malformed line is, with "FILE:LINE: what" (a
// typo in a file one relies on is better told than silently skipped).
//
// Typical use (a command with TARGET [PORT] on its command line):
//
//     ServerTarget t;                     // options given on the command line
//     t.name = name_option; ...
//     auto r = resolve_target(words, t);  // words: "backup" or "host.example 4500"
//     if (!r) { usage or failure: r.error().message is one line }
//     r->addresses, r->port, r->crypto (name, key, extension) go to ClientEngineConfig.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/address.h"
#include "core/result.h"
#include "crypto/keys.h"
#include "crypto/packets.h"

namespace curvecp {

// The server as text, before checking: every field empty means "not given".
struct ServerTarget {
  std::string host;     // a name to resolve, an IPv4/IPv6 literal, or a comma-separated list
  std::string port;     // decimal 1..65535
  std::string name;     // the server name (--name), DNS-style
  std::string key_hex;  // the server's long-term public key, 64 hex digits
  std::string ext_hex;  // the server's extension, 32 hex digits (empty: all zero)
  std::string origin;   // "FILE:LINE" for a target from a servers file, else empty

  // Fills every field of *this that is empty from `file` (explicit values win).
  void fill_from(const ServerTarget& file);
};

struct ServersFileEntry {
  std::string alias;
  ServerTarget target;  // host, port, name, key_hex, ext_hex and origin all set
};

// Parses the text of one servers file named `path` (used in messages). Checks the
// number of fields, the port, the key and the extension; fails on the first malformed
// line with "PATH:LINE: what is wrong".
Result<std::vector<ServersFileEntry>> parse_servers_file(std::string_view text, const std::string& path);

// The servers files, most specific first: the user's, then /etc/curvecp/servers. The
// user's is $XDG_CONFIG_HOME/curvecp/servers when that variable is an absolute path,
// else $HOME/.config/curvecp/servers (left out when HOME is unset too).
std::vector<std::string> servers_file_paths();

// The first entry for `alias` in `paths` (in order); nullopt when no file names it.
// Missing files are skipped. Fails on an unreadable file or a malformed line, with one
// line naming FILE[:LINE].
Result<std::optional<ServerTarget>> find_server_alias(const std::string& alias, const std::vector<std::string>& paths);

// The addresses of `host` (an IP literal, or a name given to getaddrinfo: /etc/hosts, DNS),
// IPv6 and IPv4, in getaddrinfo's order of preference (RFC 6724), without duplicates,
// each with `port`. `host` may also be a comma-separated list of names and literals, as
// the reference client's ip argument (CURVECP.md 4.1): their addresses in list order.
// Fails with "cannot resolve NAME: reason" for the first entry that does not resolve.
Result<std::vector<Address>> resolve_host(const std::string& host, uint16_t port);

// A checked target, ready for ClientEngineConfig.
struct ResolvedTarget {
  std::vector<Address> addresses;  // at least one
  ServerName name{};
  PublicKey key;
  Extension ext{};
  std::string alias;  // the alias used, if any
};

// Why resolve_target() failed: usage (what the user typed or a servers file says is
// wrong: exit 100) or failure (a name that does not resolve, an unreadable file: 111).
struct TargetError {
  enum class Kind : uint8_t { usage, failure };
  Kind kind;
  std::string message;  // one line, no "curvecp" prefix
};

// Turns the command's positional words into a target. `words` is [ALIAS] or [HOST, PORT];
// `given` holds the values of the command's options (name, key_hex, ext_hex), which
// override an alias's. A first word that is an IP literal is never looked up as an alias;
// any other word is looked up in `paths` first (default servers_file_paths()), and taken
// as a host name when no file has it. words_used (1 or 2) tells the caller where its
// program's argv starts. Nothing is resolved before every given value has been checked.
struct TargetResult {
  ResolvedTarget target;
  size_t words_used = 0;
};
std::variant<TargetResult, TargetError> resolve_target(const std::vector<std::string>& words, ServerTarget given,
                                                       const std::vector<std::string>& paths);

}  // namespace curvecp
