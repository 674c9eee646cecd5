// Server-name encoding (CURVECP.md 3.12): DNS wire format padded with zeros to 256 bytes.
#pragma once

#include <string_view>

#include "core/result.h"
#include "crypto/keys.h"

namespace curvecp {

// Empty labels are skipped; a label over 63 bytes or an encoding (with its terminating
// zero) over 256 bytes is an error with a one-line message.
Result<ServerName> encode_server_name(std::string_view name);

}  // namespace curvecp
