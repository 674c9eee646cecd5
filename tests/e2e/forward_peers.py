#!/usr/bin/env python3
# TCP peers for tests/e2e/forward.sh: a service behind `serve --forward` and clients in
# front of `connect --listen`. Loopback only. Each prints one line saying what it saw.
#
#   service DIR          listens on 127.0.0.1:0, writes the port to DIR/port, and per
#                        connection reads to EOF, then sends everything back and closes
#                        (first byte 'H': holds instead, and records in DIR/outcome.N
#                        whether the connection ended by "eof" or "reset")
#   echo PORT SIZE SEED  sends SIZE pseudo-random bytes, shuts its write side down
#                        (half-close), reads to EOF: exit 0 when the reply is byte-exact
#   expect-reset PORT    sends a line, reads: exit 0 when the connection is reset, 1 on a
#                        clean EOF (a failure must never look like an end)
#   hold PORT FILE       sends 'H...', writes FILE, then waits for the end: prints
#                        "eof" or "reset" (exit 0 either way)
import os
import random
import socket
import sys
import threading


def serve(directory):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    tmp = os.path.join(directory, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.rename(tmp, os.path.join(directory, "port"))
    count = 0
    while True:
        conn, _ = listener.accept()
        count += 1
        threading.Thread(target=handle, args=(conn, directory, count), daemon=True).start()


def handle(conn, directory, n):
    data = bytearray()
    outcome = "eof"
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        outcome = "reset"
    if data[:1] == b"H":
        with open(os.path.join(directory, "outcome.%d" % n), "w") as f:
            f.write(outcome)
        conn.close()
        return
    try:
        conn.sendall(data)
    finally:
        conn.close()


def echo(port, size, seed):
    payload = random.Random(seed).randbytes(size)
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    reply = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
    s.close()
    if reply != payload:
        print("echo: sent %d bytes, got back %d that differ" % (size, len(reply)))
        return 1
    print("echo: %d bytes back byte-exact after a half-close" % size)
    return 0


def expect_reset(port):
    try:
        # The reset may come before connect() has returned (a loaded host).
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(b"hello\n")
        while True:
            chunk = s.recv(65536)
            if not chunk:
                print("expect-reset: clean EOF, not a reset")
                return 1
    except (ConnectionResetError, BrokenPipeError):
        print("expect-reset: connection reset")
        return 0


def hold(port, ready_file):
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    s.sendall(b"H" * 1000)
    with open(ready_file, "w") as f:
        f.write("sent")
    try:
        while s.recv(65536):
            pass
        print("eof")
    except ConnectionResetError:
        print("reset")
    return 0


def main():
    mode = sys.argv[1]
    if mode == "service":
        serve(sys.argv[2])
        return 0
    if mode == "echo":
        return echo(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    if mode == "expect-reset":
        return expect_reset(int(sys.argv[2]))
    if mode == "hold":
        return hold(int(sys.argv[2]), sys.argv[3])
    print("unknown mode " + mode)
    return 100


if __name__ == "__main__":
    sys.exit(main())
