#include "daemon/pump.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "daemon/uv_handle.h"

namespace curvecp {

namespace {

// One loop thread per process: a shared scratch buffer for reads from programs and
// for discarding, so no per-read allocation and no per-pump copy of it.
std::array<uint8_t, 65536>& scratch() {
  static std::array<uint8_t, 65536> buffer;
  return buffer;
}

}  // namespace

Result<std::unique_ptr<Pump>> Pump::create(EventLoop& loop, UniqueFd to_program, UniqueFd from_program,
                                           WakeHandler wake, ExitProbe exit_probe) {
  std::unique_ptr<Pump> pump(new Pump(loop, std::move(wake), std::move(exit_probe)));
  Pump* self = pump.get();
  pump->to_program_ = std::move(to_program);
  pump->from_program_ = std::move(from_program);
  // Watchers only record readiness and wake the owner; the I/O happens in transfer().
  if (pump->to_program_.valid()) {
    auto w = FdWatcher::create(loop, pump->to_program_.get(), [self](int, Timestamp now) {
      self->input_blocked_ = false;
      self->input_watcher_->set_events(0);
      if (self->wake_) self->wake_(now);
    });
    if (!w) return w.error();
    pump->input_watcher_ = std::move(w.value());
  }
  if (pump->from_program_.valid()) {
    auto w = FdWatcher::create(loop, pump->from_program_.get(), [self](int, Timestamp now) {
      self->output_ready_ = true;
      self->output_watcher_->set_events(0);
      if (self->wake_) self->wake_(now);
    });
    if (!w) return w.error();
    pump->output_watcher_ = std::move(w.value());
  }
  return pump;
}

Result<std::unique_ptr<Pump>> Pump::create_socket(EventLoop& loop, UniqueFd socket, WakeHandler wake,
                                                  ExitProbe exit_probe) {
  std::unique_ptr<Pump> pump(new Pump(loop, std::move(wake), std::move(exit_probe)));
  Pump* self = pump.get();
  pump->socket_mode_ = true;
  pump->socket_input_open_ = pump->socket_output_open_ = true;
  pump->to_program_ = std::move(socket);
  // One watcher for both directions: libuv cannot poll one descriptor twice.
  auto w = FdWatcher::create(loop, pump->to_program_.get(),
                             [self](int events, Timestamp now) { self->on_ready(events, now); });
  if (!w) return w.error();
  pump->input_watcher_ = std::move(w.value());
  return pump;
}

void Pump::on_ready(int events, Timestamp now) {
  if ((events & FdWatcher::kWritable) != 0) input_blocked_ = false;
  if ((events & FdWatcher::kReadable) != 0) output_ready_ = true;
  input_watcher_->set_events(0);  // transfer() selects again (update_watches)
  if (wake_) wake_(now);
}

Pump::~Pump() {
  if (exit_grace_ != nullptr) close_and_free(reinterpret_cast<uv_handle_t*>(exit_grace_));
}

void Pump::update_watches(const Stream& stream) {
  const bool want_read = output_open() && !output_ready_ && stream.send_space() > 0;
  const bool want_write = input_open() && input_blocked_;
  if (socket_mode_) {
    if (input_watcher_ && !input_watcher_->closed()) {
      input_watcher_->set_events((want_read ? FdWatcher::kReadable : 0) | (want_write ? FdWatcher::kWritable : 0));
    }
    return;
  }
  if (output_watcher_ && !output_watcher_->closed()) output_watcher_->set_events(want_read ? FdWatcher::kReadable : 0);
  if (input_watcher_ && !input_watcher_->closed()) input_watcher_->set_events(want_write ? FdWatcher::kWritable : 0);
}

bool Pump::transfer(Stream& stream, Timestamp now) {
  bool changed = false;
  if (exit_unapplied_) {
    exit_unapplied_ = false;
    changed |= apply_exit(stream);
  }
  if (eof_waiting_for_exit_ && exit_grace_over_) {
    eof_waiting_for_exit_ = false;
    end_output(stream, false);
    changed = true;
  }
  changed |= write_program(stream);
  if (output_ready_) changed |= read_program(stream, now);
  update_watches(stream);
  return changed;
}

void Pump::on_program_exit(const ExitStatus& status) {
  exit_ = status;
  exit_unapplied_ = true;
}

bool Pump::apply_exit(Stream& stream) {
  const ExitStatus status = *exit_;
  bool changed = false;
  if (eof_waiting_for_exit_) {
    eof_waiting_for_exit_ = false;
    if (exit_grace_ != nullptr) uv_timer_stop(exit_grace_);
    end_output(stream, !status.success());
    changed = true;
  }
  if (output_open() && !status.success()) {
    // Take what the program wrote before it failed, then end with FAIL (CURVECP.md 5.3).
    output_ready_ = true;
    changed |= read_program(stream, loop_.now());
    if (output_open()) {
      end_output(stream, true);
      changed = true;
    }
  }
  // Like the reference with Debian patch 0007 (CURVECP.md 6.9): once the program is gone,
  // its input pipe is closed and further data is discarded.
  if (input_open()) {
    close_input();
    discarding_ = true;
    changed = true;
  }
  return changed;
}

bool Pump::read_program(Stream& stream, Timestamp now) {
  bool changed = false;
  auto& buf = scratch();
  // A few pipe-fulls per call, so one busy program cannot starve the loop; the pipe
  // stays marked ready and the owner's next transfer() continues.
  for (int round = 0; round < 8 && output_open(); ++round) {
    const size_t space = stream.send_space();
    if (space == 0) return changed;  // resumes when acknowledgements free space
    const size_t want = std::min(space, buf.size());
    const ssize_t n = ::read(output_fd(), buf.data(), want);
    if (n > 0) {
      stream.write(Bytes(buf.data(), static_cast<size_t>(n)));  // all of it: n <= send_space()
      stats_.bytes_from_program += static_cast<uint64_t>(n);
      changed = true;
      if (static_cast<size_t>(n) < want) break;  // pipe drained
      continue;
    }
    // A socket whose program exited with input unread reports a reset: its EOF all the same.
    if (n == 0 || (socket_mode_ && errno == ECONNRESET)) {
      on_output_eof(stream, now);
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    end_output(stream, true);
    return true;
  }
  output_ready_ = false;  // drained (or 8 rounds: the watcher reports the rest)
  return changed;
}

void Pump::on_output_eof(Stream& stream, Timestamp) {
  // The pipe is done either way; stop watching it.
  close_output();
  output_ready_ = false;
  // If the EOF came from the program's exit, let a failure status show (CURVECP.md 5.3:
  // a failure is FAIL); a program that merely closed its output ends with SUCC.
  std::optional<ExitStatus> status = exit_;
  if (!status && exit_probe_) status = exit_probe_();
  if (status || !exit_probe_) {
    end_output(stream, status.has_value() && !status->success());
    return;
  }
  eof_waiting_for_exit_ = true;
  if (exit_grace_ == nullptr) {
    auto* handle = new uv_timer_t{};
    if (uv_timer_init(loop_.raw(), handle) != 0) {
      delete handle;  // never initialised
      eof_waiting_for_exit_ = false;
      end_output(stream, false);
      return;
    }
    handle->data = this;
    exit_grace_ = handle;
  }
  uv_timer_start(exit_grace_, &Pump::on_exit_grace, static_cast<uint64_t>(kExitGrace.ns / 1000000), 0);
}

void Pump::on_exit_grace(uv_timer_t* handle) {
  auto* self = static_cast<Pump*>(handle->data);
  if (self == nullptr) return;
  self->exit_grace_over_ = true;
  if (self->wake_) self->wake_(self->loop_.update_now());
}

void Pump::end_output(Stream& stream, bool failure) {
  close_output();
  if (!output_closed_) {
    output_closed_ = true;
    stream.close_write(failure);
  }
}

void Pump::hold_back(const uint8_t* data, size_t begin, size_t end, bool staged) {
  if (begin == end) {
    pending_begin_ = pending_end_ = 0;
    if (staged) pending_ = {};
  } else if (staged) {
    pending_begin_ = begin;
  } else {
    pending_.assign(data + begin, data + end);
    pending_begin_ = 0;
    pending_end_ = pending_.size();
  }
}

bool Pump::write_program(Stream& stream) {
  const uint64_t before = stats_.bytes_to_program + stats_.bytes_discarded;
  if (!input_open()) {
    if (discarding_) {
      auto& buf = scratch();
      while (size_t n = stream.read(MutableBytes(buf.data(), buf.size()))) stats_.bytes_discarded += n;
    }
    return stats_.bytes_to_program + stats_.bytes_discarded != before;
  }
  while (!input_blocked_) {
    // Bytes come from the stream through the shared scratch buffer; only what the pipe
    // does not take at once is kept in pending_ (allocated then, freed once written), so
    // an idle pump holds no buffer (docs/MEMORY.md).
    const bool staged = pending_begin_ != pending_end_;
    uint8_t* data = staged ? pending_.data() : scratch().data();
    size_t begin = staged ? pending_begin_ : 0;
    const size_t end = staged ? pending_end_ : stream.read(MutableBytes(data, kChunkBytes));
    if (end == 0) break;
    const ssize_t n = ::write(to_program_.get(), data + begin, end - begin);
    if (n > 0) {
      begin += static_cast<size_t>(n);
      stats_.bytes_to_program += static_cast<uint64_t>(n);
    }
    hold_back(data, begin, end, staged);
    if (n > 0 || (n < 0 && errno == EINTR)) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      input_blocked_ = true;
      break;
    }
    // EPIPE or another error: the program will not read any more. Keep draining the
    // stream so the peer is not stalled by a window that never opens.
    stats_.bytes_discarded += pending_end_ - pending_begin_;
    pending_begin_ = pending_end_ = 0;
    pending_ = {};
    close_input();
    discarding_ = true;
    write_program(stream);
    return true;
  }
  // Only a clean end of the peer's stream is passed on as end of input; after a FAIL the
  // owner stops the program first (see the header).
  if (pending_begin_ == pending_end_ && stream.read_finished() && !stream.read_failed()) {
    close_input();
    return true;
  }
  return stats_.bytes_to_program + stats_.bytes_discarded != before;
}

void Pump::close_input() {
  input_blocked_ = false;
  if (socket_mode_) {
    if (!socket_input_open_) return;
    socket_input_open_ = false;
    ::shutdown(to_program_.get(), SHUT_WR);  // the program reads end of input
    release_socket_if_done();
    return;
  }
  if (input_watcher_) input_watcher_->close();
  to_program_.reset();
}

void Pump::close_output() {
  if (socket_mode_) {
    if (!socket_output_open_) return;
    socket_output_open_ = false;
    // Output the program writes from now on is refused (EPIPE) rather than left to block.
    ::shutdown(to_program_.get(), SHUT_RD);
    release_socket_if_done();
    return;
  }
  if (output_watcher_) output_watcher_->close();
  from_program_.reset();
}

void Pump::release_socket_if_done() {
  if (socket_input_open_ || socket_output_open_) return;
  if (input_watcher_) input_watcher_->close();  // before the descriptor goes (fd_watcher.h)
  to_program_.reset();
}

}  // namespace curvecp
