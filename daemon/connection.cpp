#include "daemon/connection.h"

#include <algorithm>
#include <array>

namespace curvecp {

namespace {

Timestamp later(Timestamp a, Timestamp b) { return a > b ? a : b; }

// A peer that sent FAIL is normally closing itself: wait only long enough for our
// acknowledgement and our own FAIL to get through once, not the full abort_timeout.
constexpr Duration kPeerFailedLinger = Duration::milliseconds(200);
// The longest linger after a clean end, however slow the path (Connection::linger).
constexpr Duration kMaxLinger = Duration::seconds(2);

}  // namespace

const char* end_reason_name(EndReason r) {
  switch (r) {
    case EndReason::none: return "open";
    case EndReason::finished: return "finished";
    case EndReason::close_timeout: return "close_timeout";
    case EndReason::program_failed: return "program_failed";
    case EndReason::peer_failed: return "peer_failed";
    case EndReason::idle_timeout: return "idle_timeout";
    case EndReason::aborted: return "aborted";
    case EndReason::nonce_exhausted: return "nonce_exhausted";
    case EndReason::refused: return "refused";
    case EndReason::no_answer: return "no_answer";
    case EndReason::not_accepted: return "not_accepted";
    case EndReason::evicted: return "evicted";
  }
  return "?";
}

bool end_is_failure(EndReason r) {
  return r != EndReason::none && r != EndReason::finished && r != EndReason::close_timeout;
}

Connection::Connection(std::unique_ptr<Stream> stream, const ConnectionConfig& config, Timestamp now)
    : stream_(std::move(stream)), config_(config), last_heard_(now), last_keepalive_at_(now) {}

Duration Connection::keepalive_interval() const {
  if (config_.keepalive == Duration::infinite()) return Duration::infinite();
  if (config_.idle_timeout == Duration::infinite()) return config_.keepalive;
  return std::min(config_.keepalive, Duration::nanoseconds(config_.idle_timeout.ns / 3));
}

bool Connection::awaiting_answer() const {
  // A live peer answers every data message (the reference acknowledges each one,
  // CURVECP.md 6.6) and every keepalive; silence then means a dead peer or path. An idle
  // stream with everything acknowledged waits for nothing.
  return stream_->stats().bytes_in_flight > 0 || stream_->keepalive_outstanding() ||
         (!stream_->write_finished() && stream_->next_timeout() != Timestamp::never());
}

Duration Connection::linger() const {
  // At least one and a half retransmission timeouts (ours; the peer's on the same path is
  // about the same), so that the peer's resend after a lost final acknowledgement finds
  // us still here (a client's 50 ms was shorter than a server's timeout on any path, and
  // the server then failed a finished download on its idle timeout); at most kMaxLinger.
  return std::max(config_.linger, std::min(stream_->retransmit_timeout() * 3 / 2, kMaxLinger));
}

bool Connection::close_timeout_applies() const {
  // A failed program's connection ends as a failure anyway. A clean one only once
  // everything it wrote has arrived: until then a silent peer may be a paused one, and
  // the idle timeout decides (a failure). While the daemon drains, the shorter wait
  // applies to both, so that a shutdown is not held up by dead peers for a minute.
  return program_failed_ || draining_ || stream_->write_finished();
}

void Connection::on_message(Timestamp now, Bytes message) {
  if (closed_) return;
  stream_->on_message(now, message);
  last_heard_ = now;
  note_peer_failure(now);
}

size_t Connection::poll_message(Timestamp now, MutableBytes out, size_t max_message_bytes) {
  on_timer(now);
  if (closed_) return 0;
  const size_t n = stream_->poll_transmit(now, out, max_message_bytes);
  if (n == 0 && !failed_ && awaiting_since_ == Timestamp::never() && awaiting_answer()) awaiting_since_ = now;
  return n;
}

void Connection::on_timer(Timestamp now) {
  if (closed_) return;
  note_peer_failure(now);
  if (failed_ || fail_acknowledged()) {
    // Nobody will read any more (the program is being stopped, or has failed and
    // exited): discard what arrives, so the receive window stays open and the peer's
    // end, after the data before it, can be acknowledged.
    std::array<uint8_t, 4096> scratch;
    while (stream_->read(MutableBytes(scratch.data(), scratch.size())) > 0) {
    }
  }
  if (failed_ && !stream_->write_finished()) {
    if (now >= abort_until_) close(reason_);  // the peer never acknowledged our FAIL
    return;
  }
  if (fail_acknowledged()) {
    // Our FAIL has arrived. A peer that takes it as an end of stream (the reference,
    // CURVECP.md 6.9) ends its own direction next and waits for that end to be
    // acknowledged: stay until it is (a forgotten connection would leave it resending
    // to nobody until its idle exit, 10 s), but no longer than a linger.
    if (linger_until_ == Timestamp::never()) linger_until_ = now + linger();
    if (peer_end_acknowledged() || now >= linger_until_) close(failed_ ? reason_ : EndReason::program_failed);
    return;
  }

  // Dead peer: silence while something of ours waits for its answer. The clock starts
  // when we begin waiting, so a long quiet spell with nothing outstanding does not count.
  if (awaiting_answer()) {
    if (awaiting_since_ == Timestamp::never()) awaiting_since_ = now;
  } else {
    awaiting_since_ = Timestamp::never();
  }
  if (awaiting_since_ != Timestamp::never() && config_.idle_timeout != Duration::infinite() &&
      now - later(last_heard_, awaiting_since_) >= config_.idle_timeout) {
    fail(now, EndReason::idle_timeout);
    close(EndReason::idle_timeout);  // nobody is listening for our FAIL
    return;
  }

  if (app_done_) {
    if (stream_->done()) {
      if (linger_until_ == Timestamp::never()) linger_until_ = now + linger();
      if (now >= linger_until_) {
        close(EndReason::finished);
        return;
      }
    } else if (close_timeout_applies() && now - later(last_heard_, app_done_at_) >= config_.close_timeout) {
      // Output still unacknowledged (a drain cut the wait short): the peer is silent while
      // we wait for its answer, a failure, never a clean end.
      close(program_failed_            ? EndReason::program_failed
            : stream_->write_finished() ? EndReason::close_timeout
                                        : EndReason::idle_timeout);
      return;
    }
  }

  // Keepalive: a quiet but open connection says something the peer must acknowledge,
  // well inside both ends' idle timeouts (their idle clocks only run while they wait).
  const Duration every = keepalive_interval();
  if (every != Duration::infinite() && !stream_->done() && stream_->stats().bytes_in_flight == 0 &&
      now - later(last_heard_, last_keepalive_at_) >= every) {
    stream_->send_keepalive(now);
    last_keepalive_at_ = now;
    ++keepalives_sent_;
  }
}

Timestamp Connection::next_timeout() const {
  if (closed_) return Timestamp::never();
  Timestamp t = stream_->next_timeout();
  if (failed_ && !stream_->write_finished()) return earliest(t, abort_until_);
  if (fail_acknowledged()) {
    // Close as soon as the peer's end is acknowledged (the acknowledgement has left by
    // then: it went out in the same poll), and set the linger at once.
    if (peer_end_acknowledged() || linger_until_ == Timestamp::never()) return Timestamp{};
    return earliest(t, linger_until_);
  }
  if (awaiting_since_ != Timestamp::never() && config_.idle_timeout != Duration::infinite()) {
    t = earliest(t, later(last_heard_, awaiting_since_) + config_.idle_timeout);
  }
  const Duration every = keepalive_interval();
  // Only when on_timer would send one: with bytes in flight no keepalive is due (the
  // stream's own retransmission timer runs), and a keepalive time in the past would make
  // the endpoint poll this connection every few microseconds until the acknowledgement
  // came (10 000 held connections releasing at once: the daemon spun on them for 100 s).
  if (every != Duration::infinite() && !stream_->done() && stream_->stats().bytes_in_flight == 0) {
    t = earliest(t, later(last_heard_, last_keepalive_at_) + every);
  }
  if (app_done_) {
    if (linger_until_ != Timestamp::never()) {
      t = earliest(t, linger_until_);
    } else if (close_timeout_applies()) {
      t = earliest(t, later(last_heard_, app_done_at_) + config_.close_timeout);
    }
  }
  return t;
}

bool Connection::fail_acknowledged() const {
  return stream_->write_finished() && (failed_ || (app_done_ && program_failed_));
}

bool Connection::peer_end_acknowledged() const {
  return stream_->read_finished() && !stream_->acknowledgement_owed();
}

void Connection::note_peer_failure(Timestamp now) {
  // The peer's FAIL in answer to ours, once ours is acknowledged, changes nothing: the
  // connection is ending for our reason.
  if (!failed_ && stream_->peer_failed() && !fail_acknowledged()) fail(now, EndReason::peer_failed);
}

void Connection::set_application_done(Timestamp now, bool program_failed) {
  if (app_done_) return;
  app_done_ = true;
  app_done_at_ = now;
  program_failed_ = program_failed;
}

void Connection::abort(Timestamp now, EndReason why) {
  if (closed_ || failed_) return;
  fail(now, why);
  if (why == EndReason::nonce_exhausted) close(why);  // nothing more can be sealed
}

Status Connection::set_priority(const Priority& p, Timestamp now) {
  if (failed_ || closed_) return make_error(std::string("the connection is ending (") + end_reason_name(reason_) + ")");
  return stream_->set_priority(p, now);
}

void Connection::fail(Timestamp now, EndReason why) {
  failed_ = true;
  reason_ = why;
  stream_->abort();
  Duration wait = config_.abort_timeout;
  if (why == EndReason::peer_failed) {
    wait = std::min(wait, kPeerFailedLinger + Duration::nanoseconds(2 * stream_->stats().srtt.ns));
  }
  abort_until_ = now + wait;
}

void Connection::close(EndReason why) {
  closed_ = true;
  reason_ = why;
}

}  // namespace curvecp
