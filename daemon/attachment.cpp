#include "daemon/attachment.h"

#include <sys/socket.h>

#include <cerrno>

namespace curvecp {

Result<Attachment::ProgramEnds> Attachment::make_program_ends(const ProgramSpec& spec,
                                                              std::vector<FdMapping>& mappings) {
  ProgramEnds ends;
  if (spec.one_socket) {
    // Close-on-exec both, ours non-blocking; the program's is mapped onto both numbers.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return make_error(errno_text("socketpair", errno));
    ends.to_program.reset(sv[0]);
    ends.theirs.emplace_back(sv[1]);
    if (!set_nonblocking(sv[0], true)) return make_error(errno_text("socketpair", errno));
    mappings = {{spec.read_fd, sv[1]}, {spec.write_fd, sv[1]}};
    return ends;
  }
  // Our ends are non-blocking, the program's blocking (it is an ordinary program).
  auto input = make_pipe(/*nonblocking_read=*/false, /*nonblocking_write=*/true);
  if (!input) return input.error();
  auto output = make_pipe(/*nonblocking_read=*/true, /*nonblocking_write=*/false);
  if (!output) return output.error();
  mappings = {{spec.read_fd, input->read_end.get()}, {spec.write_fd, output->write_end.get()}};
  ends.to_program = std::move(input->write_end);
  ends.from_program = std::move(output->read_end);
  ends.theirs.push_back(std::move(input->read_end));
  ends.theirs.push_back(std::move(output->write_end));
  return ends;
}

Result<std::unique_ptr<Attachment>> Attachment::spawn(EventLoop& loop, const ProgramSpec& spec, WakeHandler wake) {
  SpawnOptions opts;
  auto ends = make_program_ends(spec, opts.fds);
  if (!ends) return ends.error();

  std::unique_ptr<Attachment> a(new Attachment(std::move(wake)));
  Attachment* self = a.get();
  opts.argv = spec.argv;
  opts.env = spec.clean_env ? clean_environment_with(spec.pass_env, spec.env_overrides)
                            : environment_with(spec.env_overrides);
  opts.close_other_fds = !spec.keep_fds;
  opts.asynchronous = spec.asynchronous;
  auto child = ChildProcess::spawn(loop, opts, [self](ExitStatus status, Timestamp now) {
    self->exit_ = status;
    if (self->pump_) self->pump_->on_program_exit(status);
    if (self->wake_) self->wake_(now);
  });
  if (!child) return child.error();
  a->child_ = std::move(child.value());
  // The program holds its ends now; ours must go, or its EOFs would never show.
  ends->theirs.clear();

  ChildProcess* process = a->child_.get();
  auto wake_owner = [self](Timestamp now) {
    if (self->wake_) self->wake_(now);
  };
  // Asked at the program's output EOF, which usually means it is exiting.
  auto probe = [process] {
    process->expect_exit();
    return process->peek_exit();
  };
  auto pump = spec.one_socket
                  ? Pump::create_socket(loop, std::move(ends->to_program), wake_owner, probe)
                  : Pump::create(loop, std::move(ends->to_program), std::move(ends->from_program), wake_owner, probe);
  if (!pump) return pump.error();  // ~Attachment stops the program
  a->pump_ = std::move(pump.value());
  return a;
}

Result<std::unique_ptr<Attachment>> Attachment::relay(EventLoop& loop, UniqueFd to_output, UniqueFd from_input,
                                                      std::function<bool()> input_failed, WakeHandler wake) {
  std::unique_ptr<Attachment> a(new Attachment(std::move(wake)));
  Attachment* self = a.get();
  a->input_failed_ = std::move(input_failed);
  // The relay's input EOF is final at once; the probe turns a read error into a failure.
  Pump::ExitProbe probe = [self]() -> std::optional<ExitStatus> {
    ExitStatus s;
    if (self->input_failed_ && self->input_failed_()) s.code = 1;
    return s;
  };
  auto pump = Pump::create(
      loop, std::move(to_output), std::move(from_input),
      [self](Timestamp now) {
        if (self->wake_) self->wake_(now);
      },
      std::move(probe));
  if (!pump) return pump.error();
  a->pump_ = std::move(pump.value());
  return a;
}

Result<std::unique_ptr<Attachment>> Attachment::forward_to(EventLoop& loop, const Address& target,
                                                           Duration connect_timeout, WakeHandler wake) {
  std::unique_ptr<Attachment> a(new Attachment(std::move(wake)));
  Attachment* self = a.get();
  auto bridge = TcpBridge::connect(loop, target, connect_timeout, [self](Timestamp now) {
    if (self->wake_) self->wake_(now);
  });
  if (!bridge) return bridge.error();
  a->tcp_ = std::move(*bridge);
  return a;
}

Result<std::unique_ptr<Attachment>> Attachment::forward_from(EventLoop& loop, UniqueFd socket, WakeHandler wake) {
  std::unique_ptr<Attachment> a(new Attachment(std::move(wake)));
  Attachment* self = a.get();
  auto bridge = TcpBridge::adopt(loop, std::move(socket), [self](Timestamp now) {
    if (self->wake_) self->wake_(now);
  });
  if (!bridge) return bridge.error();
  a->tcp_ = std::move(*bridge);
  return a;
}

Attachment::~Attachment() {
  // A clean end signals nothing; anything else (a program still running, pipes still
  // open) is stopped like a failure.
  if (!done()) stop(kProgramStopGrace);
}

bool Attachment::transfer(Connection& connection, Timestamp now) {
  if (tcp_) return transfer_tcp(connection, now);
  if (stopped_ || !pump_ || connection.failed() || connection.closed()) return false;
  bool changed = pump_->transfer(connection.stream(), now);
  if (done() && !connection.application_done()) {
    connection.set_application_done(now, failed());
    changed = true;
  }
  return changed;
}

bool Attachment::transfer_tcp(Connection& connection, Timestamp now) {
  if (stopped_ || connection.failed() || connection.closed()) return false;
  bool changed = tcp_->transfer(connection.stream(), now);
  if (tcp_->failed()) {
    // A reset or failed connect on the TCP side is a failure on the CurveCP side, never
    // a clean end: the peer hears FAIL and resets its own TCP connection.
    connection.abort(now, EndReason::program_failed);
    return true;
  }
  if (tcp_->finished() && !connection.application_done()) {
    connection.set_application_done(now, false);
    changed = true;
  }
  return changed;
}

bool Attachment::done() const {
  if (stopped_) return true;
  if (tcp_) return tcp_->finished();
  if (child_ && !exit_) return false;
  return pump_ && pump_->finished();
}

bool Attachment::failed() const {
  if (tcp_) return tcp_->failed();
  if (exit_) return !exit_->success();
  return !child_ && input_failed_ && input_failed_();
}

void Attachment::stop(Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  // Signal first, close after: the program's group must not read our closing as EOF.
  // The group may outlive its leader (e.g. a pipeline under sh -c).
  if (child_) child_->terminate(grace);
  pump_.reset();
  if (tcp_) tcp_->reset();  // RST: the TCP peer must not take a failure for an end
}

}  // namespace curvecp
