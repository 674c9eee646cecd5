#!/usr/bin/env python3
"""A server-side program for tests/e2e/program_socket.sh (serve --program-socket): fds 0
and 1 are one Unix stream socket. It first closes fd 1 alone (which must not end its
output: fd 0 is the same socket and still open), then writes GREETING through fd 0 and
ends its output with shutdown(SHUT_WR), then reads its input to EOF into OUT.

usage: socket_program.py GREETING OUT
"""
import os
import socket
import sys
import time

greeting, out = sys.argv[1].encode() + b"\n", sys.argv[2]
os.close(1)
time.sleep(0.5)  # an EOF caused by closing fd 1 would reach the client meanwhile
s = socket.socket(fileno=0)
s.sendall(greeting)
s.shutdown(socket.SHUT_WR)
received = bytearray()
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    received += chunk
with open(out + ".tmp", "wb") as f:
    f.write(received)
os.rename(out + ".tmp", out)
