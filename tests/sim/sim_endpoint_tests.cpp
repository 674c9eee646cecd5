// Whole endpoints in the simulator (tests/sim/sim_endpoint_flow.h): the client endpoint
// against the server endpoint with real crypto through simulated links with loss,
// reordering, duplication, rate and delay, on a virtual clock. Failing seeds are printed;
// SIM_SEED=N replays one.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/sim/sim_endpoint_flow.h"
#include "tests/sim/sim_network.h"

using namespace curvecp;
using namespace curvecp::sim;

namespace {

std::vector<uint64_t> seeds(size_t n) {
  if (const char* s = std::getenv("SIM_SEED")) return {std::strtoull(s, nullptr, 10)};
  std::vector<uint64_t> out;
  for (uint64_t i = 1; i <= n; ++i) out.push_back(i);
  return out;
}

PathConfig lossy_path() {
  PathConfig p;
  p.rate_bits_per_s = 100e6;
  p.rtt = Duration::milliseconds(20);
  p.buffer = Duration::milliseconds(50);
  p.loss = 0.01;
  p.reorder = 0.01;
  p.reorder_delay = Duration::milliseconds(5);
  p.duplicate = 0.01;
  p.reverse_loss = 0.01;
  p.reverse_reorder = 0.01;
  p.reverse_duplicate = 0.01;
  return p;
}

PathConfig quiet_path() {
  PathConfig p;
  p.rate_bits_per_s = 20e6;
  p.rtt = Duration::milliseconds(40);
  return p;
}

struct Run {
  std::unique_ptr<SeededRng> rng;
  std::unique_ptr<Network> net;
  EndpointFlow* flow = nullptr;
};

Run start(uint64_t seed, const PathConfig& path, EndpointFlowConfig&& config) {
  Run r;
  r.rng = std::make_unique<SeededRng>(seed * 7 + 11);
  r.net = std::make_unique<Network>(seed, path);
  auto f = add_endpoint_flow(*r.net, *r.rng, std::move(config), Timestamp{0});
  REQUIRE(f);
  r.flow = *f;
  return r;
}

bool both_closed(EndpointFlow& f) { return f.server_closed() && f.client().finished(); }

}  // namespace

TEST_CASE("endpoints: 100 MB upload over a lossy path arrives byte-exact, deterministic by seed") {
  const uint64_t seed = seeds(1).front();
  INFO("seed " << seed << " (replay with SIM_SEED=" << seed << ")");
  const uint64_t upload_bytes = 100'000'000;
  uint64_t datagrams[2] = {0, 0};
  Timestamp finished[2];
  for (int round = 0; round < 2; ++round) {
    EndpointFlowConfig config;
    config.upload_bytes = upload_bytes;
    Run r = start(seed, lossy_path(), std::move(config));
    CHECK(r.net->events().run_until(Timestamp{0} + Duration::seconds(400), [&] { return both_closed(*r.flow); }));
    const FlowMetrics& m = r.flow->metrics();
    CHECK(m.finished);
    CHECK(m.delivered_bytes == upload_bytes);
    CHECK(m.corrupt_bytes == 0);
    CHECK_FALSE(m.end_was_failure);
    CHECK(r.flow->client().phase() == ClientEngine::Phase::done);
    CHECK(r.flow->server_end() == EndReason::finished);
    CHECK(r.flow->server_log() == "opened closed:finished ");
    // Goodput floor: 100 Mbit/s with 1% loss each way; CurveCP framing is ~90% of the IP
    // rate, and chicago keeps well above half of the link here (about 9 s measured).
    CHECK(m.finish_time.ns < Duration::seconds(20).ns);
    MESSAGE("100 MB over 100 Mbit/s, 20 ms, 1% loss/reorder/duplication each way: finished at ",
            m.finish_time.ns / 1000000, " ms virtual, ", r.flow->datagrams(), " datagrams");
    datagrams[round] = r.flow->datagrams();
    finished[round] = m.finish_time;
  }
  // The same seed gives the same run, packet for packet.
  CHECK(datagrams[0] == datagrams[1]);
  CHECK(finished[0] == finished[1]);
}

TEST_CASE("endpoints: upload and download through loss, five seeds") {
  for (uint64_t seed : seeds(5)) {
    INFO("seed " << seed << " (replay with SIM_SEED=" << seed << ")");
    EndpointFlowConfig config;
    config.upload_bytes = 3'000'000;
    config.download_bytes = 2'000'000;
    Run r = start(seed, lossy_path(), std::move(config));
    CHECK(r.net->events().run_until(Timestamp{0} + Duration::seconds(60), [&] { return both_closed(*r.flow); }));
    CHECK(r.flow->metrics().delivered_bytes == 3'000'000);
    CHECK(r.flow->metrics().corrupt_bytes == 0);
    CHECK(r.flow->download_received() == 2'000'000);
    CHECK(r.flow->download_corrupt() == 0);
    CHECK(r.flow->client().phase() == ClientEngine::Phase::done);
    CHECK(r.flow->server_log() == "opened closed:finished ");
  }
}

TEST_CASE("endpoints: a quiet connection outlives several idle timeouts through keepalives") {
  for (uint64_t seed : seeds(3)) {
    INFO("seed " << seed);
    EndpointFlowConfig config;
    config.hold_open = true;
    config.server.connection.idle_timeout = Duration::seconds(3);
    config.client.connection.idle_timeout = Duration::seconds(3);
    Run r = start(seed, lossy_path(), std::move(config));
    // Ten idle timeouts of silence from both applications.
    r.net->run_until(Timestamp{0} + Duration::seconds(30));
    CHECK(r.flow->server_log() == "opened ");
    CHECK(r.flow->client().phase() == ClientEngine::Phase::connected);
    REQUIRE(r.flow->server_connection() != nullptr);
    CHECK(r.flow->server_connection()->keepalives_sent() + r.flow->client().connection().keepalives_sent() >= 10);
    // And the session still works.
    r.flow->client_write("still there?\n");
    CHECK(r.net->events().run_until(Timestamp{0} + Duration::seconds(35),
                                    [&] { return r.flow->client_echo() == "still there?\n"; }));
  }
}

TEST_CASE("endpoints: with keepalives off, a quiet connection sends nothing and stays up") {
  EndpointFlowConfig config;
  config.hold_open = true;
  config.server.connection.keepalive = Duration::infinite();
  config.client.connection.keepalive = Duration::infinite();
  config.server.connection.idle_timeout = Duration::seconds(3);
  Run r = start(5, quiet_path(), std::move(config));
  r.net->run_until(Timestamp{0} + Duration::seconds(2));
  const uint64_t datagrams = r.flow->datagrams();
  r.net->run_until(Timestamp{0} + Duration::seconds(30));
  // Nothing outstanding, nothing awaited: no idle failure, and the line stays silent.
  CHECK(r.flow->datagrams() == datagrams);
  CHECK(r.flow->server_log() == "opened ");
  CHECK(r.flow->client().phase() == ClientEngine::Phase::connected);
  r.flow->client_write("hi\n");
  CHECK(r.net->events().run_until(Timestamp{0} + Duration::seconds(31), [&] { return r.flow->client_echo() == "hi\n"; }));
}

TEST_CASE("endpoints: the client's abort reaches the server within about a round trip") {
  EndpointFlowConfig config;
  config.hold_open = true;
  Run r = start(1, quiet_path(), std::move(config));
  r.net->run_until(Timestamp{0} + Duration::seconds(2));
  REQUIRE(r.flow->server_log() == "opened ");
  const Timestamp aborted_at = r.net->now();
  r.flow->client().abort(aborted_at);
  r.flow->poke();
  CHECK(r.net->events().run_until(aborted_at + Duration::seconds(5), [&] { return r.flow->client().finished() && r.flow->client().connection().closed(); }));
  // The client's FAIL was acknowledged: it did not have to wait out its abort timeout.
  CHECK(r.net->now() - aborted_at < Duration::milliseconds(200));
  CHECK(r.net->events().run_until(aborted_at + Duration::seconds(5), [&] { return both_closed(*r.flow); }));
  CHECK(r.flow->server_log() == "opened failed:peer_failed closed:peer_failed ");
  // One-way delay is 20 ms: the server knows in well under a round trip and a half.
  CHECK(r.flow->server_failed_at() - aborted_at <= Duration::milliseconds(60));
  CHECK(r.flow->client().reason() == EndReason::aborted);
}

TEST_CASE("endpoints: a vanished client fails on the server within keepalive + idle timeout") {
  EndpointFlowConfig config;
  config.hold_open = true;
  config.server.connection.idle_timeout = Duration::seconds(6);
  config.server.connection.keepalive = Duration::seconds(2);
  Run r = start(2, quiet_path(), std::move(config));
  r.net->run_until(Timestamp{0} + Duration::seconds(1));
  REQUIRE(r.flow->server_log() == "opened ");
  const Timestamp gone = r.net->now();
  r.flow->freeze_client();
  CHECK(r.net->events().run_until(gone + Duration::seconds(30), [&] { return r.flow->server_closed(); }));
  CHECK(r.flow->server_end() == EndReason::idle_timeout);
  CHECK(r.flow->server_failed_at() - gone <= Duration::seconds(2 + 6 + 1));
}

namespace {

// A download of kMidDownloadBytes whose server program has written everything (it fits
// the stream's buffers) and is done, with a quarter to most of it still on its way when
// the client is frozen (a host that stopped). Returns the time it froze.
constexpr uint64_t kMidDownloadBytes = 400'000;

Timestamp freeze_client_mid_download(Run& r) {
  REQUIRE(r.net->events().run_until(Timestamp{0} + Duration::seconds(10),
                                    [&] { return r.flow->download_received() >= kMidDownloadBytes / 4; }));
  REQUIRE(r.flow->download_received() < kMidDownloadBytes);
  const Timestamp stopped = r.net->now();
  r.flow->freeze_client();
  return stopped;
}

EndpointFlowConfig mid_download_config() {
  EndpointFlowConfig config;
  config.download_bytes = kMidDownloadBytes;
  return config;
}

}  // namespace

// The server's program has written everything and exited while most of its output is
// still on its way: a client that goes silent then must not make the server end the
// connection as if it had finished (close_timeout is for a peer that does not finish its
// own direction once ours has arrived). It waits, probing, and the download completes when
// the client resumes; a client that never resumes is a failure (idle timeout).
TEST_CASE("endpoints: a client silent for longer than the close timeout mid-download still gets everything") {
  Run r = start(5, quiet_path(), mid_download_config());
  const Timestamp stopped = freeze_client_mid_download(r);
  r.net->run_until(stopped + Duration::seconds(15));  // past the 10 s close timeout
  CHECK_FALSE(r.flow->server_closed());
  r.flow->thaw_client();
  CHECK(r.net->events().run_until(stopped + Duration::seconds(60), [&] { return both_closed(*r.flow); }));
  CHECK(r.flow->download_received() == kMidDownloadBytes);
  CHECK(r.flow->download_corrupt() == 0);
  CHECK(r.flow->server_end() == EndReason::finished);
  CHECK(r.flow->server_log() == "opened closed:finished ");
}

TEST_CASE("endpoints: a client that vanishes mid-download is a failure on the server, never a clean end") {
  EndpointFlowConfig config = mid_download_config();
  config.server.connection.idle_timeout = Duration::seconds(20);
  Run r = start(6, quiet_path(), std::move(config));
  const Timestamp gone = freeze_client_mid_download(r);
  CHECK(r.net->events().run_until(gone + Duration::seconds(60), [&] { return r.flow->server_closed(); }));
  CHECK(r.flow->server_end() == EndReason::idle_timeout);
  CHECK(end_is_failure(r.flow->server_end()));
}

TEST_CASE("endpoints: while draining, a vanished client's unfinished download ends after the close timeout, as a failure") {
  Run r = start(7, quiet_path(), mid_download_config());
  const Timestamp gone = freeze_client_mid_download(r);
  REQUIRE(r.flow->server_connection() != nullptr);
  r.flow->server_connection()->set_draining();  // what serve does on SIGTERM
  r.flow->poke();
  CHECK(r.net->events().run_until(gone + Duration::seconds(30), [&] { return r.flow->server_closed(); }));
  CHECK(r.net->now() - gone <= Duration::seconds(11));  // close timeout 10 s, not idle 60 s
  CHECK(r.flow->server_end() == EndReason::idle_timeout);
  CHECK(end_is_failure(r.flow->server_end()));
}

// The client's stream is done once the server's last block and EOF have arrived; its
// acknowledgement of them is its last word. If that is lost, the server resends after its
// retransmission timeout, and only a client still there answers: the client lingers for
// one and a half of its own timeout (the same path), not a fixed 50 ms that is shorter
// than the server's timeout on any real path. Otherwise the server waits for the idle
// timeout and logs a failure for a download that arrived whole.
TEST_CASE("endpoints: a lost final acknowledgement is answered again, and the download ends cleanly on both sides") {
  Run r = start(8, quiet_path(), mid_download_config());
  Timestamp complete = Timestamp::never();
  int dropped = 0;
  r.flow->drop_to_server = [&] {
    if (r.flow->download_received() < kMidDownloadBytes) return false;
    if (complete == Timestamp::never()) complete = r.net->now();
    // Everything the client sent up to its last acknowledgement arrives within the
    // one-way delay (20 ms) of the download completing.
    const bool drop = r.net->now() - complete <= Duration::milliseconds(25);
    if (drop) ++dropped;
    return drop;
  };
  CHECK(r.net->events().run_until(Timestamp{0} + Duration::seconds(400), [&] { return both_closed(*r.flow); }));
  CHECK(dropped >= 1);
  CHECK(r.flow->download_received() == kMidDownloadBytes);
  CHECK(r.flow->client().phase() == ClientEngine::Phase::done);
  CHECK(r.flow->server_end() == EndReason::finished);
  CHECK(r.flow->server_log() == "opened closed:finished ");
  CHECK(r.net->now() - complete < Duration::seconds(5));
}

TEST_CASE("endpoints: a vanished server fails on the client within keepalive + idle timeout") {
  EndpointFlowConfig config;
  config.hold_open = true;
  config.client.connection.idle_timeout = Duration::seconds(6);
  config.client.connection.keepalive = Duration::seconds(2);
  Run r = start(3, quiet_path(), std::move(config));
  r.net->run_until(Timestamp{0} + Duration::seconds(1));
  const Timestamp gone = r.net->now();
  r.flow->freeze_server();
  CHECK(r.net->events().run_until(gone + Duration::seconds(30), [&] { return r.flow->client().finished(); }));
  CHECK(r.flow->client().reason() == EndReason::idle_timeout);
  CHECK(r.net->now() - gone <= Duration::seconds(2 + 6 + 1));
  CHECK(r.flow->client().failure().find("no packet from the server") != std::string::npos);
}

TEST_CASE("endpoints: handshake failures are quick and say what is likely wrong") {
  struct Case {
    const char* what;
    bool name, key, ext;
    EndReason reason;
    const char* hint;
  };
  for (const Case& c : {Case{"wrong name", true, false, false, EndReason::not_accepted, "--name"},
                        Case{"wrong key", false, true, false, EndReason::no_answer, "--server-key"},
                        Case{"wrong extension", false, false, true, EndReason::no_answer, "--ext"}}) {
    INFO(c.what);
    EndpointFlowConfig config;
    config.upload_bytes = 1000;
    config.wrong_server_name = c.name;
    config.wrong_server_key = c.key;
    config.wrong_extension = c.ext;
    config.client.handshake_timeout = Duration::seconds(10);
    Run r = start(4, quiet_path(), std::move(config));
    CHECK(r.net->events().run_until(Timestamp{0} + Duration::seconds(60), [&] { return r.flow->client().finished(); }));
    CHECK(r.flow->client().reason() == c.reason);
    CHECK(r.net->now() <= Timestamp{0} + Duration::seconds(10) + Duration::milliseconds(100));
    CHECK(r.flow->client().failure().find(c.hint) != std::string::npos);
    CHECK(r.flow->server_log().empty());  // no program was ever started
  }
}
