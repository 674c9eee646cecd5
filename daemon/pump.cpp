#include "daemon/pump.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace curvecp {

namespace {

// One loop thread per process: a shared scratch buffer for reads from programs and
// for discarding, so no per-read allocation and no per-pump copy of it.
std::array<uint8_t, 65536>& scratch() {
  static std::array<uint8_t, 65536> buffer;
  return buffer;
}

}  // namespace

Result<std::unique_ptr<Pump>> Pump::create(EventLoop& loop, Stream& stream, UniqueFd to_program,
                                           UniqueFd from_program, ActivityHandler on_activity, ExitProbe exit_probe) {
  std::unique_ptr<Pump> pump(new Pump(loop, stream, std::move(on_activity), std::move(exit_probe)));
  Pump* self = pump.get();
  pump->to_program_ = std::move(to_program);
  pump->from_program_ = std::move(from_program);
  if (pump->to_program_.valid()) {
    auto w = FdWatcher::create(loop, pump->to_program_.get(), [self](int, Timestamp now) { self->on_input_ready(now); });
    if (!w) return w.error();
    pump->input_watcher_ = std::move(w.value());
  }
  if (pump->from_program_.valid()) {
    auto w =
        FdWatcher::create(loop, pump->from_program_.get(), [self](int, Timestamp now) { self->on_output_ready(now); });
    if (!w) return w.error();
    pump->output_watcher_ = std::move(w.value());
  }
  pump->pending_.resize(kChunkBytes);
  pump->update_watches();
  return pump;
}

void Pump::update_watches() {
  if (output_watcher_) {
    bool want = from_program_.valid() && stream_.send_space() > 0;
    output_watcher_->set_events(want ? FdWatcher::kReadable : 0);
  }
  if (input_watcher_) {
    bool want = to_program_.valid() && input_blocked_;
    input_watcher_->set_events(want ? FdWatcher::kWritable : 0);
  }
}

void Pump::on_stream_progress(Timestamp) {
  write_program();
  update_watches();
}

void Pump::on_program_exit(const ExitStatus& status, Timestamp now) {
  exit_ = status;
  bool changed = false;
  if (eof_waiting_for_exit_) {
    eof_waiting_for_exit_ = false;
    if (exit_grace_) exit_grace_->disarm();
    end_output(!status.success());
    changed = true;
  }
  if (from_program_.valid() && !status.success()) {
    // Take what the program wrote before it failed, then end with FAIL (spec 5.3).
    changed = read_program();
    if (from_program_.valid()) {
      end_output(true);
      changed = true;
    }
  }
  // Like the reference with Debian patch 0007 (spec 6.9): once the program is gone, its
  // input pipe is closed and further data is discarded.
  if (to_program_.valid()) {
    close_input();
    discarding_ = true;
    write_program();
    changed = true;
  }
  update_watches();
  if (changed && on_activity_) on_activity_(now);
}

void Pump::on_output_ready(Timestamp now) {
  bool changed = read_program();
  update_watches();
  if (changed && on_activity_) on_activity_(now);
}

void Pump::on_input_ready(Timestamp now) {
  input_blocked_ = false;
  uint64_t before = stats_.bytes_to_program + stats_.bytes_discarded;
  write_program();
  update_watches();
  // Reading from the stream opened receive window: the owner may owe the peer an update.
  bool consumed = stats_.bytes_to_program + stats_.bytes_discarded != before;
  if ((consumed || input_finished()) && on_activity_) on_activity_(now);
}

bool Pump::read_program() {
  bool changed = false;
  auto& buf = scratch();
  // A few pipe-fulls per readiness event, so one busy program cannot starve the loop.
  for (int round = 0; round < 8 && from_program_.valid(); ++round) {
    size_t space = stream_.send_space();
    if (space == 0) break;
    size_t want = std::min(space, buf.size());
    ssize_t n = ::read(from_program_.get(), buf.data(), want);
    if (n > 0) {
      size_t accepted = stream_.write(Bytes(buf.data(), static_cast<size_t>(n)));
      (void)accepted;  // == n: never more than send_space() was read
      stats_.bytes_from_program += static_cast<uint64_t>(n);
      changed = true;
      if (static_cast<size_t>(n) < want) break;  // pipe drained
      continue;
    }
    if (n == 0) {
      on_output_eof(loop_.now());
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    end_output(true);
    return true;
  }
  return changed;
}

void Pump::on_output_eof(Timestamp now) {
  // The pipe is done either way; stop watching it.
  if (output_watcher_) output_watcher_->close();
  from_program_.reset();
  // If the EOF came from the program's exit, let a failure status show (spec 5.3: a
  // failure is FAIL); a program that merely closed its output ends with SUCC.
  std::optional<ExitStatus> status = exit_;
  if (!status && exit_probe_) status = exit_probe_();
  if (status || !exit_probe_) {
    end_output(status.has_value() && !status->success());
    return;
  }
  eof_waiting_for_exit_ = true;
  if (!exit_grace_) {
    auto timer = Timer::create(loop_, [this](Timestamp t) { on_exit_grace(t); });
    if (!timer) {
      end_output(false);
      return;
    }
    exit_grace_ = std::move(timer.value());
  }
  exit_grace_->arm(now + kExitGrace);
}

void Pump::on_exit_grace(Timestamp now) {
  if (!eof_waiting_for_exit_) return;
  eof_waiting_for_exit_ = false;
  end_output(false);
  if (on_activity_) on_activity_(now);
}

void Pump::end_output(bool failure) {
  if (output_watcher_) output_watcher_->close();
  from_program_.reset();
  if (!output_closed_) {
    output_closed_ = true;
    stream_.close_write(failure);
  }
}

void Pump::write_program() {
  if (!to_program_.valid()) {
    if (discarding_) {
      auto& buf = scratch();
      while (size_t n = stream_.read(MutableBytes(buf.data(), buf.size()))) stats_.bytes_discarded += n;
    }
    return;
  }
  while (!input_blocked_) {
    if (pending_begin_ == pending_end_) {
      pending_begin_ = 0;
      pending_end_ = stream_.read(MutableBytes(pending_.data(), pending_.size()));
      if (pending_end_ == 0) break;
    }
    ssize_t n = ::write(to_program_.get(), pending_.data() + pending_begin_, pending_end_ - pending_begin_);
    if (n > 0) {
      pending_begin_ += static_cast<size_t>(n);
      stats_.bytes_to_program += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      input_blocked_ = true;
      break;
    }
    // EPIPE or another error: the program will not read any more. Keep draining the
    // stream so the peer is not stalled by a window that never opens.
    stats_.bytes_discarded += pending_end_ - pending_begin_;
    pending_begin_ = pending_end_ = 0;
    close_input();
    discarding_ = true;
    write_program();
    return;
  }
  if (pending_begin_ == pending_end_ && stream_.read_finished()) close_input();
}

void Pump::close_input() {
  if (input_watcher_) input_watcher_->close();
  to_program_.reset();
  input_blocked_ = false;
}

}  // namespace curvecp
