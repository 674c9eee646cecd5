// What `curvecp push` tells the user while it sends: a progress bar (bytes, rate, ETA)
// redrawn at most ten times a second when stderr is a terminal, a status line on demand
// (SIGUSR1), and the one-line summary at the end. Formatting only; the caller says when.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace curvecp::push {

class Progress {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Progress(bool bar) : bar_(bar), started_(Clock::now()) {}

  // The amount of file data this run will send (after the receiver said what it has).
  void set_total(uint64_t files, uint64_t bytes) { total_files_ = files; total_bytes_ = bytes; }
  void add_bytes(uint64_t n) { sent_bytes_ += n; }
  void file_done() { ++sent_files_; }
  // Redraws the bar if it is on and 100 ms have passed.
  void tick();
  // Clears the bar (before other lines are printed, and at the end).
  void clear();
  // "sent 12.0 MB of 100.0 MB (12%), 3 of 10 files, 45.1 MB/s, 2 s left"
  std::string status_line() const;
  double elapsed_s() const;
  uint64_t sent_bytes() const { return sent_bytes_; }
  uint64_t sent_files() const { return sent_files_; }

  static std::string human_bytes(double bytes);

 private:
  bool bar_;
  Clock::time_point started_;
  Clock::time_point drawn_{};
  bool shown_ = false;
  uint64_t total_files_ = 0;
  uint64_t total_bytes_ = 0;
  uint64_t sent_files_ = 0;
  uint64_t sent_bytes_ = 0;
};

}  // namespace curvecp::push
