#include "daemon/refusal.h"

#include "scheduler/message.h"
#include "scheduler/window_extension.h"

namespace curvecp {

namespace {
// The marker's flags byte, inside the padding that follows the 48-byte header.
constexpr size_t kFlagsOffset = kMessageHeaderBytes + 5;
}  // namespace

void mark_refusal(MutableBytes message) {
  if (message.size() < kMessageHeaderBytes + kWindowExtensionBytes) return;
  if (!parse_window_extension(Bytes(message.data() + kMessageHeaderBytes, kWindowExtensionBytes))) return;
  message[kFlagsOffset] |= kRefusedFlag;
}

bool carries_refusal(Bytes message) {
  Message parsed;
  if (parse_message(message, parsed) != ParseResult::ok || parsed.end != StreamEnd::fail) return false;
  if (parsed.padding.size() < kWindowExtensionBytes || !parse_window_extension(parsed.padding)) return false;
  return (parsed.padding[5] & kRefusedFlag) != 0;
}

}  // namespace curvecp
