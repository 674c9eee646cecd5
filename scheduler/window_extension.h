// The curvecp window extension (docs/EXTENSIONS.md): a 16-byte marker that our peers put
// into the zero padding right after the 48-byte message header. The reference ignores
// padding (CURVECP.md 6.1) and always sends zeros there, so the marker is invisible to it
// and a reference peer can never announce. Every message size the reference scheme
// produces (64 + D rounded up to 192/320/576/1088) leaves at least 16 bytes of padding.
//
// Layout (offsets inside the padding, integers little-endian):
//   0..4   magic "CCPX"
//   4      version, 1
//   5      flags, reserved (0 when sent, ignored when received)
//   6..8   reserved, 0
//   8..16  max_offset (uint64): the sender of this message accepts stream bytes of the
//          opposite direction up to (not including) this absolute stream offset.
#pragma once

#include <cstdint>
#include <optional>

#include "core/bytes.h"

namespace curvecp {

inline constexpr size_t kWindowExtensionBytes = 16;
inline constexpr uint8_t kWindowExtensionVersion = 1;

struct WindowAnnouncement {
  uint64_t max_offset = 0;
};

// Reads a marker from the start of `padding`; nullopt if there is none (too short, wrong
// magic or unknown version).
std::optional<WindowAnnouncement> parse_window_extension(Bytes padding);

// Writes the marker into padding[0..16). Returns false (writing nothing) if the padding
// is shorter than 16 bytes.
bool write_window_extension(const WindowAnnouncement& announcement, MutableBytes padding);

}  // namespace curvecp
