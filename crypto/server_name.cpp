#include "crypto/server_name.h"

namespace curvecp {

// Spec 3.12: dots separate labels, empty labels are skipped, each label is a length byte
// and its bytes (no case folding), then a terminating zero; the rest is zero padding.
Result<ServerName> encode_server_name(std::string_view name) {
  ServerName out{};
  size_t pos = 0;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    const size_t label_bytes = dot - start;
    if (label_bytes > 63) return make_error("server name label longer than 63 bytes");
    if (label_bytes > 0) {
      // The label, its length byte and the final zero byte must still fit.
      if (pos + 1 + label_bytes + 1 > kServerNameBytes) return make_error("server name longer than 255 bytes encoded");
      out[pos++] = static_cast<uint8_t>(label_bytes);
      for (size_t i = 0; i < label_bytes; ++i) out[pos++] = static_cast<uint8_t>(name[start + i]);
    }
    start = dot + 1;
  }
  // out[pos] is already the terminating zero.
  return out;
}

}  // namespace curvecp
