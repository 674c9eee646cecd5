// The stream <-> program pump with real Streams connected back to back in memory and
// real programs on real pipes: back-pressure both ways and EOF mapping.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/rng.h"
#include "daemon/child_process.h"
#include "daemon/event_loop.h"
#include "daemon/pump.h"
#include "daemon/signal_watcher.h"
#include "daemon/timer.h"
#include "daemon/unique_fd.h"
#include "scheduler/stream.h"

using namespace curvecp;

namespace {

struct PumpRig {
  SeededRng rng{7};
  std::unique_ptr<EventLoop> loop = std::move(EventLoop::create().value());
  std::unique_ptr<Stream> near;  // the pump's stream
  std::unique_ptr<Stream> far;   // the peer, driven by the test
  std::unique_ptr<ChildProcess> child;
  std::unique_ptr<Pump> pump;
  std::optional<ExitStatus> exit;
  bool link_up = true;  // shuttle messages between the streams
  std::string far_received;
  std::vector<uint8_t> buf = std::vector<uint8_t>(1088);
  std::vector<uint8_t> chunk = std::vector<uint8_t>(65536);

  explicit PumpRig(size_t buffer_bytes = 256 * 1024) {
    ignore_sigpipe();
    StreamConfig a;
    a.role = StreamRole::server;
    a.send_buffer_bytes = buffer_bytes;
    a.receive_buffer_bytes = buffer_bytes;
    StreamConfig b = a;
    b.role = StreamRole::client;
    near = std::move(Stream::create(a, rng, loop->update_now()).value());
    far = std::move(Stream::create(b, rng, loop->now()).value());
  }

  void spawn(std::vector<std::string> argv) {
    auto in = make_pipe(false, true);
    auto out = make_pipe(true, false);
    REQUIRE(in);
    REQUIRE(out);
    SpawnOptions o;
    o.argv = std::move(argv);
    o.env = environment_with({});
    o.fds = {{0, in->read_end.get()}, {1, out->write_end.get()}};
    auto c = ChildProcess::spawn(*loop, o, [this](ExitStatus s, Timestamp now) {
      exit = s;
      pump->on_program_exit(s);
      shuttle(now);
    });
    REQUIRE(c);
    child = std::move(c.value());
    in->read_end.reset();
    out->write_end.reset();
    ChildProcess* p = child.get();
    auto pp = Pump::create(
        *loop, std::move(in->write_end), std::move(out->read_end), [this](Timestamp now) { shuttle(now); },
        [p] { return p->peek_exit(); });
    REQUIRE(pp);
    pump = std::move(pp.value());
  }

  // The same with one socket on fds 0 and 1 (Pump::create_socket, serve --program-socket).
  void spawn_socket(std::vector<std::string> argv) {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    UniqueFd ours(sv[0]);
    UniqueFd theirs(sv[1]);
    REQUIRE(set_nonblocking(ours.get(), true));
    SpawnOptions o;
    o.argv = std::move(argv);
    o.env = environment_with({});
    o.fds = {{0, theirs.get()}, {1, theirs.get()}};
    auto c = ChildProcess::spawn(*loop, o, [this](ExitStatus s, Timestamp now) {
      exit = s;
      pump->on_program_exit(s);
      shuttle(now);
    });
    REQUIRE(c);
    child = std::move(c.value());
    theirs.reset();
    ChildProcess* p = child.get();
    auto pp = Pump::create_socket(
        *loop, std::move(ours), [this](Timestamp now) { shuttle(now); }, [p] { return p->peek_exit(); });
    REQUIRE(pp);
    pump = std::move(pp.value());
  }

  // Writes what fits of `payload` from the far side, and its EOF once all of it is in.
  void feed(const std::string& payload, size_t& written) {
    while (written < payload.size() && far->send_space() > 0) {
      written += far->write(Bytes(reinterpret_cast<const uint8_t*>(payload.data()) + written, payload.size() - written));
    }
    if (written == payload.size() && !far->write_finished()) far->close_write();
  }

  // Lets the pump move program bytes, then moves messages both ways until quiet.
  void shuttle(Timestamp now) {
    for (int round = 0; round < 1000; ++round) {
      bool moved = pump && pump->transfer(*near, now);
      if (!link_up) return;
      while (size_t n = near->poll_transmit(now, buf, 1088)) {
        far->on_message(now, Bytes(buf.data(), n));
        moved = true;
      }
      while (size_t n = far->poll_transmit(now, buf, 1088)) {
        near->on_message(now, Bytes(buf.data(), n));
        moved = true;
      }
      while (size_t n = far->read(chunk)) far_received.append(reinterpret_cast<char*>(chunk.data()), n);
      if (!moved) break;
    }
  }

  // Runs the loop (shuttling every millisecond) until done() or 20 s.
  bool run_until(const std::function<bool()>& done) {
    Timestamp give_up = loop->update_now() + Duration::seconds(20);
    std::unique_ptr<Timer> tick;
    tick = std::move(Timer::create(*loop, [&](Timestamp now) {
                       shuttle(now);
                       if (done() || now > give_up) {
                         loop->stop();
                       } else {
                         tick->arm(now + Duration::milliseconds(1));
                       }
                     }).value());
    tick->arm(loop->now());
    REQUIRE(loop->run());
    return done();
  }
};

}  // namespace

TEST_CASE("pump: program output is read only while the stream has send space") {
  PumpRig rig(256 * 1024);
  rig.link_up = false;  // nothing leaves: the send buffer fills up
  rig.spawn({"sh", "-c", "head -c 4000000 /dev/zero"});
  // Give the program plenty of time to push; the pump must stop at the buffer size.
  Timestamp until = rig.loop->update_now() + Duration::milliseconds(300);
  rig.run_until([&] { return rig.loop->now() > until; });
  CHECK(rig.near->send_space() == 0);
  CHECK(rig.pump->stats().bytes_from_program <= 256 * 1024);
  CHECK(rig.pump->stats().bytes_from_program > 0);
  CHECK_FALSE(rig.exit.has_value());  // blocked writing into the full pipe
  CHECK_FALSE(rig.pump->output_finished());

  // Open the link: everything flows, the program's EOF becomes a SUCC EOF.
  rig.link_up = true;
  CHECK(rig.run_until([&] { return rig.far->read_finished() && rig.exit.has_value(); }));
  CHECK(rig.far_received.size() == 4000000);
  CHECK(rig.far_received == std::string(4000000, '\0'));
  CHECK_FALSE(rig.far->read_failed());
  CHECK(rig.exit->success());
  CHECK(rig.pump->output_finished());
}

TEST_CASE("pump: a program that does not read holds the data back; EOF closes its input") {
  PumpRig rig(1 << 20);
  // Reads nothing until the flag file appears, then counts its input.
  std::string flag = "/tmp/curvecp-pump-test-" + std::to_string(getpid());
  ::unlink(flag.c_str());
  rig.spawn({"sh", "-c", "while [ ! -e " + flag + " ]; do sleep 0.01; done; wc -c"});
  std::string payload(600000, 'x');
  size_t written = 0;
  auto feed = [&] {
    while (written < payload.size() && rig.far->send_space() > 0) {
      written += rig.far->write(Bytes(reinterpret_cast<const uint8_t*>(payload.data()) + written, payload.size() - written));
    }
    if (written == payload.size()) rig.far->close_write();
  };
  feed();
  Timestamp until = rig.loop->update_now() + Duration::milliseconds(300);
  rig.run_until([&] {
    feed();
    return rig.loop->now() > until;
  });
  // The pipe holds at most its capacity (64 KiB by default) plus what the pump has in
  // hand: the rest stays in the stream.
  CHECK(rig.pump->stats().bytes_to_program <= 1024 * 1024);
  CHECK(rig.pump->stats().bytes_to_program < payload.size());
  CHECK_FALSE(rig.pump->input_finished());

  // Let the program read: everything arrives, and the peer's EOF closes its input, so
  // wc finishes and reports the exact count.
  FILE* f = fopen(flag.c_str(), "w");
  REQUIRE(f);
  fclose(f);
  CHECK(rig.run_until([&] {
    feed();
    return rig.exit.has_value() && rig.far->read_finished();
  }));
  ::unlink(flag.c_str());
  CHECK(rig.pump->stats().bytes_to_program == payload.size());
  CHECK(rig.far_received == "600000\n");
  CHECK(rig.pump->finished());
}

TEST_CASE("pump: a program failing ends our direction with FAIL (pipes, and one socket)") {
  for (const bool one_socket : {false, true}) {
    CAPTURE(one_socket);
    PumpRig rig;
    const std::vector<std::string> argv{"sh", "-c", "echo partial; exit 7"};
    if (one_socket) {
      rig.spawn_socket(argv);
    } else {
      rig.spawn(argv);
    }
    CHECK(rig.run_until([&] { return rig.far->read_finished() && rig.exit.has_value(); }));
    CHECK(rig.far_received == "partial\n");
    CHECK(rig.exit->code == 7);
    CHECK(rig.far->read_failed());
  }
}

TEST_CASE("pump: a program that stops reading does not stall the peer") {
  PumpRig rig(256 * 1024);
  // Closes its stdin at once but keeps running for a while.
  rig.spawn({"sh", "-c", "exec 0<&-; sleep 5"});
  std::string payload(2000000, 'y');
  size_t written = 0;
  CHECK(rig.run_until([&] {
    while (written < payload.size() && rig.far->send_space() > 0) {
      written += rig.far->write(Bytes(reinterpret_cast<const uint8_t*>(payload.data()) + written, payload.size() - written));
    }
    if (written == payload.size()) rig.far->close_write();
    return rig.far->write_finished();
  }));
  CHECK(rig.pump->stats().bytes_discarded > 0);
  CHECK(rig.pump->input_finished());
  rig.child->kill(SIGKILL);
  CHECK(rig.run_until([&] { return rig.exit.has_value(); }));
}

TEST_CASE("pump: the peer's FAIL is never passed on as end of input") {
  PumpRig rig;
  // cat copies its input to a file and only then creates the marker: a clean EOF would
  // make the marker appear.
  std::string dir = "/tmp/curvecp-pump-fail-" + std::to_string(getpid());
  std::string marker = dir + "/done";
  REQUIRE(std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()) == 0);
  rig.spawn({"sh", "-c", "cat > " + dir + "/f; touch " + marker});
  std::string payload(10000, 'z');
  rig.far->write(Bytes(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
  rig.far->close_write(/*failure=*/true);
  CHECK(rig.run_until([&] { return rig.near->read_finished(); }));
  CHECK(rig.near->read_failed());
  // The input stays open: the owner stops the program before closing it.
  CHECK_FALSE(rig.pump->input_finished());
  Timestamp until = rig.loop->update_now() + Duration::milliseconds(200);
  rig.run_until([&] { return rig.loop->now() > until; });
  CHECK_FALSE(rig.exit.has_value());
  CHECK(::access(marker.c_str(), F_OK) != 0);
  rig.child->kill(SIGKILL);
  CHECK(rig.run_until([&] { return rig.exit.has_value(); }));
  CHECK(::access(marker.c_str(), F_OK) != 0);
  REQUIRE(std::system(("rm -rf " + dir).c_str()) == 0);
}

TEST_CASE("pump, one socket: bytes both ways with back-pressure; the peer's EOF ends the input") {
  PumpRig rig(256 * 1024);
  rig.spawn_socket({"cat"});
  std::string payload(3000000, 'q');
  for (size_t i = 0; i < payload.size(); i += 4093) payload[i] = static_cast<char>('a' + i % 26);
  size_t written = 0;
  CHECK(rig.run_until([&] {
    rig.feed(payload, written);
    return rig.far->read_finished() && rig.exit.has_value();
  }));
  CHECK(rig.far_received == payload);  // cat saw end of input only after all of it
  CHECK_FALSE(rig.far->read_failed());
  CHECK(rig.exit->success());
  CHECK(rig.pump->finished());
}

TEST_CASE("pump, one socket: the program's shutdown(SHUT_WR) ends its output while it still reads") {
  PumpRig rig;
  // Closing fd 1 alone ends nothing (fd 0 is the same socket); the shutdown does. Then the
  // program waits for its input's end and exits.
  rig.spawn_socket({"python3", "-c",
                    "import os, socket, time\n"
                    "os.close(1); time.sleep(0.2)\n"
                    "s = socket.socket(fileno=0); s.sendall(b'out'); s.shutdown(socket.SHUT_WR)\n"
                    "n = 0\n"
                    "while True:\n"
                    "    b = s.recv(65536)\n"
                    "    if not b: break\n"
                    "    n += len(b)\n"
                    "os._exit(0 if n == 5 else 9)\n"});
  CHECK(rig.run_until([&] { return rig.far->read_finished(); }));
  CHECK(rig.far_received == "out");
  CHECK_FALSE(rig.far->read_failed());
  CHECK_FALSE(rig.exit.has_value());  // still reading
  std::string input = "12345";
  size_t written = 0;
  CHECK(rig.run_until([&] {
    rig.feed(input, written);
    return rig.exit.has_value();
  }));
  CHECK(rig.exit->success());  // it read exactly the 5 bytes, then end of input
}

TEST_CASE("pump, one socket: a program that exits with input unread ends cleanly, as with pipes") {
  PumpRig rig(256 * 1024);
  rig.spawn_socket({"head", "-c", "10"});
  std::string payload(1000000, 'h');
  size_t written = 0;
  CHECK(rig.run_until([&] {
    rig.feed(payload, written);
    return rig.far->read_finished() && rig.exit.has_value() && rig.far->write_finished();
  }));
  CHECK(rig.far_received == std::string(10, 'h'));
  CHECK_FALSE(rig.far->read_failed());  // the socket's reset is the program's EOF
  CHECK(rig.exit->success());
}
