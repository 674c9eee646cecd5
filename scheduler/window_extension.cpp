#include "scheduler/window_extension.h"

#include <cstring>

namespace curvecp {

namespace {
constexpr uint8_t kMagic[4] = {'C', 'C', 'P', 'X'};
}

std::optional<WindowAnnouncement> parse_window_extension(Bytes padding) {
  if (padding.size() < kWindowExtensionBytes) return std::nullopt;
  if (std::memcmp(padding.data(), kMagic, sizeof kMagic) != 0) return std::nullopt;
  if (padding[4] != kWindowExtensionVersion) return std::nullopt;
  return WindowAnnouncement{load_le64(padding.data() + 8)};
}

bool write_window_extension(const WindowAnnouncement& announcement, MutableBytes padding) {
  if (padding.size() < kWindowExtensionBytes) return false;
  uint8_t* p = padding.data();
  std::memcpy(p, kMagic, sizeof kMagic);
  p[4] = kWindowExtensionVersion;
  p[5] = 0;
  p[6] = 0;
  p[7] = 0;
  store_le64(p + 8, announcement.max_offset);
  return true;
}

}  // namespace curvecp
