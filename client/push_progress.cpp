// Progress bar, status line and rate formatting for `curvecp push` (push_progress.h).
#include "client/push_progress.h"

#include <cstdio>

namespace curvecp::push {

std::string Progress::human_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(Clock::now() - started_).count();
}

std::string Progress::status_line() const {
  const double t = elapsed_s();
  const double rate = t > 0 ? static_cast<double>(sent_bytes_) / t : 0;
  const int pct = total_bytes_ ? static_cast<int>(100.0 * static_cast<double>(sent_bytes_) / static_cast<double>(total_bytes_)) : 100;
  std::string line = "sent " + human_bytes(static_cast<double>(sent_bytes_)) + " of " +
                     human_bytes(static_cast<double>(total_bytes_)) + " (" + std::to_string(pct) + "%), " +
                     std::to_string(sent_files_) + " of " + std::to_string(total_files_) + " files, " +
                     human_bytes(rate) + "/s";
  if (rate > 0 && total_bytes_ > sent_bytes_) {
    const double left = static_cast<double>(total_bytes_ - sent_bytes_) / rate;
    char buf[32];
    std::snprintf(buf, sizeof buf, ", ETA %d:%02d", static_cast<int>(left) / 60, static_cast<int>(left) % 60);
    line += buf;
  }
  return line;
}

void Progress::tick() {
  if (!bar_) return;
  const auto now = Clock::now();
  if (shown_ && now - drawn_ < std::chrono::milliseconds(100)) return;
  drawn_ = now;
  shown_ = true;
  const int width = 20;
  const int filled = total_bytes_ ? static_cast<int>(width * static_cast<double>(sent_bytes_) / static_cast<double>(total_bytes_)) : width;
  std::string bar(static_cast<size_t>(filled > width ? width : filled), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r[%s] %s\033[K", bar.c_str(), status_line().c_str());
  std::fflush(stderr);
}

void Progress::clear() {
  if (!shown_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  shown_ = false;
}

}  // namespace curvecp::push
