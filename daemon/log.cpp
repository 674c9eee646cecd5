#include "daemon/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace curvecp {

namespace {

struct LogState {
  std::string prefix = "curvecp";
  LogLevel level = LogLevel::normal;
  bool timestamps = false;
};

LogState& state() {
  static LogState s;
  return s;
}

void write_all(const std::string& line) {
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to report a broken stderr
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void emit(std::string_view what) {
  const LogState& s = state();
  std::string line;
  line.reserve(what.size() + s.prefix.size() + 32);
  if (s.timestamps) line.append(utc_timestamp_now()).append(" ");
  line.append(s.prefix).append(": ").append(what).append("\n");
  write_all(line);
}

}  // namespace

void log_configure(std::string prefix, LogLevel level, bool timestamps) {
  LogState& s = state();
  s.prefix = std::move(prefix);
  s.level = level;
  s.timestamps = timestamps && !stderr_is_journal();
}

LogLevel log_level() { return state().level; }
bool log_timestamps() { return state().timestamps; }

bool log_enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(state().level); }

void log_error(std::string_view what) { emit(what); }

void log_info(std::string_view what) {
  if (log_enabled(LogLevel::normal)) emit(what);
}

void log_verbose(std::string_view what) {
  if (log_enabled(LogLevel::verbose)) emit(what);
}

bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

std::string utc_timestamp_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000);
  return buf;
}

}  // namespace curvecp
