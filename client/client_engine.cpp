#include "client/client_engine.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <variant>

#include "daemon/refusal.h"

namespace curvecp {

Result<std::unique_ptr<ClientEngine>> ClientEngine::create(ClientEngineConfig config, Rng& rng, Timestamp now) {
  config.stream.role = StreamRole::client;
  // CURVECP.md 6.10: the first message must follow the Cookie at once, even if the
  // application has nothing to say yet (the server only hears of us through it, and the
  // cookie it echoes expires after 60-120 s, 3.3).
  config.stream.ping_at_start = true;
  auto stream = Stream::create(config.stream, rng, now);
  if (!stream) return stream.error();
  const ConnectionConfig connection_config = config.connection;
  std::unique_ptr<ClientEngine> engine(new ClientEngine(std::move(config), rng, now));
  if (engine->handshake_.server_key_invalid()) return make_error("server key is not a usable Curve25519 public key");
  engine->connection_ = std::make_unique<Connection>(std::move(*stream), connection_config, now);
  return engine;
}

ClientEngine::ClientEngine(ClientEngineConfig config, Rng& rng, Timestamp now)
    : handshake_timeout_(config.handshake_timeout),
      idle_timeout_(config.connection.idle_timeout),
      handshake_deadline_(now + config.handshake_timeout),
      handshake_(std::move(config.crypto), rng, now) {
  addresses_.push_back(config.server);
  addresses_.insert(addresses_.end(), config.more_servers.begin(), config.more_servers.end());
  unreachable_.assign(addresses_.size(), false);
}

size_t ClientEngine::next_hello_slot() const {
  const size_t n = addresses_.size();
  const size_t start = hellos_sent_ == 0 ? 0 : current_ + 1;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    if (!unreachable_[i]) return i;
  }
  return current_;  // all ruled out: the handshake has failed and sends nothing more
}

const Address& ClientEngine::next_destination() const {
  return got_cookie_ ? server() : addresses_[next_hello_slot()];
}

// "A" for one address, "A or B or C" for several (each one the Hellos went to).
static std::string describe(const std::vector<Address>& addresses) {
  std::string text;
  for (const Address& a : addresses) text += (text.empty() ? "" : " or ") + a.to_string();
  return text;
}

ClientEngine::Phase ClientEngine::phase() const {
  if (handshake_failure_ != EndReason::none) return Phase::failed;
  if (connection_->closed()) return end_is_failure(connection_->reason()) ? Phase::failed : Phase::done;
  if (connection_->failed()) return Phase::failed;
  return got_cookie_ ? Phase::connected : Phase::hello;
}

EndReason ClientEngine::reason() const {
  if (handshake_failure_ != EndReason::none) return handshake_failure_;
  return connection_->failed() || connection_->closed() ? connection_->reason() : EndReason::none;
}

std::string ClientEngine::failure() const {
  // Before the Cookie every address was tried; after it only the one that answered.
  const std::string to = got_cookie_ ? server().to_string() : describe(addresses_);
  const long timeout_s = static_cast<long>(handshake_timeout_.ns / 1000000000);
  switch (reason()) {
    case EndReason::refused:
      return unreachable_error_ == ECONNREFUSED
                 ? "connection refused: nothing is listening on " + to
                 : std::string("cannot reach ") + to + ": " + std::strerror(unreachable_error_);
    case EndReason::no_answer:
      if (drops_.get(DropReason::cookie_box) > 0) {
        return "the server at " + to + " answered, but its Cookie does not open with --server-key: wrong server key?";
      }
      return "no answer from " + to + " within " + std::to_string(timeout_s) +
             " s: the server is down or unreachable, or the address, --server-key or --ext is wrong";
    case EndReason::not_accepted:
      return "the server at " + to + " answered but did not accept the connection within " +
             std::to_string(timeout_s) + " s: check --name (and that the server lets this client in)";
    case EndReason::peer_failed:
      if (refused_by_server_) return "refused by the server: this client's key is not allowed";
      return "the server ended the connection with a failure";
    case EndReason::idle_timeout:
      return "connection timed out: no packet from the server for " +
             std::to_string(static_cast<long>(idle_timeout_.ns / 1000000000)) + " s";
    case EndReason::aborted:
      return "connection aborted";
    case EndReason::nonce_exhausted:
      return "nonce space exhausted";
    default:
      return "";
  }
}

void ClientEngine::fail_handshake(EndReason why) {
  if (finished()) return;
  handshake_failure_ = why;
}

void ClientEngine::handle_datagram(Timestamp now, const Address& from, Bytes datagram) {
  ++datagrams_received_;
  // A failing connection still listens: the acknowledgement of our FAIL may be on its way.
  if (handshake_failure_ != EndReason::none || connection_->closed()) return;
  // No roaming (CURVECP.md 2.9, 9 item 16): only the address the Hellos went to counts.
  if (from != server()) {
    drops_.add(DropReason::wrong_source);
    return;
  }
  if (!got_cookie_) {
    if (auto reason = handshake_.handle_cookie(datagram)) {
      drops_.add(*reason);
      return;
    }
    got_cookie_ = true;
    return;
  }
  // A done connection still answers: the server may resend its EOF if our
  // acknowledgement was lost, and needs it acknowledged again.
  auto opened = handshake_.open(datagram, message_buffer_);
  if (auto* reason = std::get_if<DropReason>(&opened)) {
    drops_.add(*reason);
    return;
  }
  const Bytes message(message_buffer_.data(), std::get<size_t>(opened));
  if (carries_refusal(message)) refused_by_server_ = true;  // serve --allow said no
  connection_->on_message(now, message);
}

void ClientEngine::handle_unreachable(Timestamp now, const Address& to, int error) {
  // Only during the handshake: later, a transient ICMP error on a datagram path is not
  // worth ending an authenticated connection for (its idle timeout decides).
  if (established() || finished()) return;
  if (got_cookie_) {
    if (to != server()) return;
    unreachable_error_ = error;
    fail_handshake(EndReason::refused);
    return;
  }
  for (size_t i = 0; i < addresses_.size(); ++i) {
    if (addresses_[i] != to || unreachable_[i]) continue;
    unreachable_[i] = true;
    unreachable_error_ = error;
    if (std::find(unreachable_.begin(), unreachable_.end(), false) == unreachable_.end()) {
      fail_handshake(EndReason::refused);
    } else if (i == current_ && hellos_sent_ > 0) {
      handshake_.hello_due(now);  // no Cookie will come from there: on to the next address
    }
    return;
  }
}

void ClientEngine::check_handshake(Timestamp now) {
  if (finished() || established()) return;
  if (now >= handshake_deadline_ ||
      (!got_cookie_ && handshake_.state() == ClientHandshake::State::timed_out)) {
    fail_handshake(got_cookie_ ? EndReason::not_accepted : EndReason::no_answer);
  }
}

size_t ClientEngine::poll_transmit(Timestamp now, MutableBytes out) {
  check_handshake(now);
  if (phase() == Phase::failed && !connection_->failed()) return 0;  // handshake failure
  if (!got_cookie_) {
    const size_t slot = next_hello_slot();
    const size_t n = handshake_.poll_hello(now, out);
    check_handshake(now);
    if (n == 0 || finished()) return 0;
    current_ = slot;
    ++hellos_sent_;
    ++datagrams_sent_;
    return n;
  }
  const size_t message_bytes = connection_->poll_message(now, message_buffer_, handshake_.max_message_bytes());
  if (message_bytes == 0) return 0;
  const size_t n = handshake_.seal(Bytes(message_buffer_.data(), message_bytes), out);
  if (n == 0) {
    // The Stream keeps to max_message_bytes, so this is the nonce space (CURVECP.md 2.2).
    connection_->abort(now, EndReason::nonce_exhausted);
    return 0;
  }
  ++datagrams_sent_;
  return n;
}

Timestamp ClientEngine::next_timeout() const {
  if (handshake_failure_ != EndReason::none || connection_->closed()) return Timestamp::never();
  Timestamp t = got_cookie_ ? connection_->next_timeout() : handshake_.next_timeout();
  if (!established()) t = earliest(t, handshake_deadline_);
  return t;
}

void ClientEngine::abort(Timestamp now) {
  if (!got_cookie_) {
    fail_handshake(EndReason::aborted);
    return;
  }
  connection_->abort(now, EndReason::aborted);
}

}  // namespace curvecp
