#include "client/client_engine.h"

#include <variant>

namespace curvecp {

Result<std::unique_ptr<ClientEngine>> ClientEngine::create(ClientEngineConfig config, Rng& rng, Timestamp now) {
  config.stream.role = StreamRole::client;
  // CURVECP.md 6.10: the first message must follow the Cookie at once, even if the
  // application has nothing to say yet (the server only hears of us through it, and the
  // cookie it echoes expires after 60-120 s, 3.3).
  config.stream.ping_at_start = true;
  const StreamConfig stream_config = config.stream;
  std::unique_ptr<ClientEngine> engine(new ClientEngine(std::move(config), rng, now));
  if (engine->handshake_.server_key_invalid()) return make_error("server key is not a usable Curve25519 public key");
  auto stream = Stream::create(stream_config, rng, now);
  if (!stream) return stream.error();
  engine->stream_ = std::move(*stream);
  return engine;
}

ClientEngine::ClientEngine(ClientEngineConfig config, Rng& rng, Timestamp now)
    : server_(config.server),
      idle_timeout_(config.idle_timeout),
      handshake_(std::move(config.crypto), rng, now),
      last_heard_(now) {}

void ClientEngine::fail(std::string why) {
  if (finished()) return;
  phase_ = Phase::failed;
  failure_ = std::move(why);
}

void ClientEngine::handle_datagram(Timestamp now, const Address& from, Bytes datagram) {
  ++datagrams_received_;
  // A done connection still answers: the server may resend its EOF if our
  // acknowledgement was lost, and needs it acknowledged again.
  if (phase_ == Phase::failed) return;
  // No roaming (CURVECP.md 2.9, 9 item 16): only the address the Hellos went to counts.
  if (from != server_) {
    drops_.add(DropReason::wrong_source);
    return;
  }
  if (phase_ == Phase::hello) {
    if (auto reason = handshake_.handle_cookie(datagram)) {
      drops_.add(*reason);
      return;
    }
    handshake_got_cookie_ = true;
    phase_ = Phase::connected;
    last_heard_ = now;
    return;
  }
  auto opened = handshake_.open(datagram, message_buffer_);
  if (auto* reason = std::get_if<DropReason>(&opened)) {
    drops_.add(*reason);
    return;
  }
  last_heard_ = now;
  stream_->on_message(now, Bytes(message_buffer_.data(), std::get<size_t>(opened)));
  if (stream_->done()) phase_ = Phase::done;
}

size_t ClientEngine::poll_transmit(Timestamp now, MutableBytes out) {
  on_timer(now);
  // Done still transmits: the acknowledgement of the server's EOF may be due.
  if (phase_ == Phase::failed) return 0;
  if (phase_ == Phase::hello) {
    const size_t n = handshake_.poll_hello(now, out);
    if (handshake_.state() == ClientHandshake::State::timed_out) {
      fail("no response from server: timed out");
      return 0;
    }
    if (n) ++datagrams_sent_;
    return n;
  }
  const size_t message_bytes = stream_->poll_transmit(now, message_buffer_, handshake_.max_message_bytes());
  if (message_bytes == 0) {
    update_awaiting(now);
    return 0;
  }
  const size_t n = handshake_.seal(Bytes(message_buffer_.data(), message_bytes), out);
  if (n == 0) {
    // The Stream keeps to max_message_bytes, so this is the nonce space (spec 2.2).
    fail("nonce space expired");
    return 0;
  }
  ++datagrams_sent_;
  return n;
}

bool ClientEngine::awaiting_acknowledgement() const {
  // Something of ours is unacknowledged: data in flight, or the stream has a
  // retransmission or EOF still to get through. A live server answers every message
  // (the reference acknowledges each one, CURVECP.md 6.6), so silence then means a dead
  // peer or path; an idle but open stream with everything acknowledged never times out.
  return stream_->stats().bytes_in_flight > 0 ||
         (!stream_->write_finished() && stream_->next_timeout() != Timestamp::never());
}

void ClientEngine::update_awaiting(Timestamp now) {
  const bool awaiting = awaiting_acknowledgement();
  // The idle clock starts when we begin waiting, not at the last packet: after a long
  // quiet spell with everything acknowledged, new data gets a full idle_timeout.
  if (awaiting && !awaiting_) awaiting_since_ = now;
  awaiting_ = awaiting;
}

void ClientEngine::on_timer(Timestamp now) {
  if (finished()) return;
  if (phase_ == Phase::hello) {
    // poll_hello moves the handshake to timed_out once the eighth wait is over.
    if (handshake_.state() == ClientHandshake::State::timed_out) fail("no response from server: timed out");
    return;
  }
  if (stream_->done()) {
    phase_ = Phase::done;
    return;
  }
  update_awaiting(now);
  if (awaiting_ && now >= idle_deadline()) {
    fail("connection timed out: no packet from the server for " +
         std::to_string(idle_timeout_.ns / 1000000000) + " s");
  }
}

Timestamp ClientEngine::next_timeout() const {
  if (phase_ == Phase::failed) return Timestamp::never();
  if (phase_ == Phase::hello) return handshake_.next_timeout();
  Timestamp t = stream_->next_timeout();
  if (phase_ == Phase::connected && awaiting_) t = earliest(t, idle_deadline());
  return t;
}

Timestamp ClientEngine::idle_deadline() const {
  if (idle_timeout_ == Duration::infinite()) return Timestamp::never();
  const Timestamp since = last_heard_ > awaiting_since_ ? last_heard_ : awaiting_since_;
  return since + idle_timeout_;
}

}  // namespace curvecp
