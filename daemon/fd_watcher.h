// Readiness watcher for one descriptor we own (uv_poll_t): the building block of the UDP
// socket, the timer and the program pipes. libuv 1.44's uv_udp has no batched send, so the
// runtime drives its own non-blocking descriptors with recvmmsg/sendmmsg/read/write.
#pragma once

#include <functional>
#include <memory>

#include "core/result.h"
#include "core/time.h"
#include "daemon/event_loop.h"

namespace curvecp {

class FdWatcher {
 public:
  // Bit set passed to the handler and to set_events().
  static constexpr int kReadable = UV_READABLE;
  static constexpr int kWritable = UV_WRITABLE;
  // Passed to the handler only (never to set_events()): the poll reported an error
  // condition (POLLERR: e.g. a socket's pending error or error queue).
  static constexpr int kError = 1 << 8;

  // Called with the ready events and the callback's `now`. On a poll error (for example
  // the descriptor was closed under us, or a socket has a pending error) the handler sees
  // kReadable|kWritable|kError so that its next read or write reports the error; watching
  // has then stopped (events() == 0) until set_events() is called again.
  using Handler = std::function<void(int events, Timestamp now)>;

  // Watches `fd` (not owned: the caller keeps it open for the watcher's lifetime and
  // destroys the watcher before closing it). Starts with no events selected.
  static Result<std::unique_ptr<FdWatcher>> create(EventLoop& loop, int fd, Handler handler);
  // Stops watching; the handle is freed in its close callback. libuv unregisters the
  // descriptor when the handle is closed, so always destroy or close() the watcher
  // before closing the descriptor (a reused descriptor number would be unregistered).
  ~FdWatcher();
  FdWatcher(const FdWatcher&) = delete;
  FdWatcher& operator=(const FdWatcher&) = delete;

  // Stops watching for good and releases the handle now, so the caller may close the
  // descriptor (even from inside this watcher's own handler). Idempotent.
  void close();
  bool closed() const { return handle_ == nullptr; }

  // Selects the events to wait for (0 stops watching). Cheap when unchanged. No effect
  // after close().
  void set_events(int events);
  int events() const { return events_; }
  // Whether a started watcher keeps EventLoop::run() from returning (default true).
  void set_keeps_loop_alive(bool on);

 private:
  FdWatcher(EventLoop& loop, Handler handler) : loop_(loop), handler_(std::move(handler)) {}
  static void on_poll(uv_poll_t* handle, int status, int events);
  void fire(int status, int events);

  EventLoop& loop_;
  Handler handler_;
  uv_poll_t* handle_ = nullptr;
  int events_ = 0;
};

}  // namespace curvecp
