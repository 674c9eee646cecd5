// The refusal signal (docs/EXTENSIONS.md section 5): how a server that refuses a client's
// key (serve --allow) tells the client so, in a way the reference sees as an ordinary
// failure.
//
// A refused connection's stream ends at once with FAIL (CURVECP.md 6.1), which the
// reference client reports as any failed stream. Every message of that connection also
// sets bit 0 (kRefusedFlag) of the flags byte of our window-extension marker (message
// byte 53, scheduler/window_extension.h); a message that carries both the FAIL flag and
// this bit tells our client it was refused, as opposed to a program that failed.
// Older curvecp peers ignore the flags byte; the reference ignores the whole padding.
#pragma once

#include <cstdint>

#include "core/bytes.h"

namespace curvecp {

inline constexpr uint8_t kRefusedFlag = 0x01;

// Sets the refusal bit in `message` (a whole message-layer message) if it carries our
// marker; leaves it unchanged otherwise.
void mark_refusal(MutableBytes message);

// True if `message` ends the stream with FAIL and its marker carries the refusal bit.
bool carries_refusal(Bytes message);

}  // namespace curvecp
