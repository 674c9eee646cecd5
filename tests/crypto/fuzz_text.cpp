// libFuzzer target for the text parsers that reach the wire or the command line:
// addresses and ports (core/address.h), extensions and public keys in hex
// (crypto/keys.h), and the server-name encoder (crypto/server_name.h). Each parse that
// succeeds must round-trip where the format allows it.
#include <cstdint>
#include <string_view>

#include "core/address.h"
#include "crypto/keys.h"
#include "crypto/server_name.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace curvecp;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto port = parse_port(text)) {
    if (*port == 0) __builtin_trap();
  }
  if (auto a = Address::parse(text, 1)) {
    // The printed form parses back to the same address.
    auto again = Address::parse(a->ip_string(), 1);
    if (!again || !(*again == *a)) __builtin_trap();
  }
  Extension ext;
  (void)parse_extension(text, ext);
  PublicKey pk;
  (void)parse_public_key(text, pk);
  (void)encode_server_name(text);
  return 0;
}
