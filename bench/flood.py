#!/usr/bin/env python3
"""A pre-authentication flood for bench/bench.py's "flood" group (issue 13).

    flood.py SOURCE HOST PORT COUNT

Keeps COUNT TCP connections from SOURCE (a loopback address such as
127.0.0.2) open to HOST:PORT and idle: it reads and discards whatever the
server sends (its SSH banner), never sends a byte, and opens a new
connection for every one the server closes, as an attacker holding places
would. Twice a second it prints a JSON line:

    {"open": N, "greeted": G, "reconnects": R, "refused": F}

open: connections established now; greeted: those of them the server sent
its SSH banner on (not, say, sshd's "Exceeded MaxStartups") and has not
closed; reconnects: connections the server closed
so far (each replaced); refused: connects that failed. Runs until killed
(SIGTERM) or its stdin closes.
"""
import errno
import json
import os
import resource
import selectors
import socket
import sys
import time

# Replacements at most this often: a server that drops every connection at
# once must not turn the flood into a busy loop that starves the machine.
MAX_RECONNECTS_PER_SECOND = 2000


def main():
    source, host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    state = {}  # socket -> "connecting" | "open" | "greeted"
    stats = {"reconnects": 0, "refused": 0}
    budget, budget_at = MAX_RECONNECTS_PER_SECOND, time.monotonic()

    def open_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((source, 0))
        e = s.connect_ex((host, port))
        if e not in (0, errno.EINPROGRESS):
            s.close()
            stats["refused"] += 1
            return
        state[s] = "connecting"
        sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ, "peer")

    def drop(s, reconnect):
        sel.unregister(s)
        state.pop(s, None)
        s.close()
        if reconnect:
            stats["reconnects"] += 1

    for _ in range(count):
        open_one()
    next_report = 0.0
    while True:
        now = time.monotonic()
        if now >= next_report:
            states = list(state.values())
            print(json.dumps({"open": sum(1 for v in states if v != "connecting"),
                              "greeted": states.count("greeted"), **stats}), flush=True)
            next_report = now + 0.5
        if now - budget_at >= 1.0:
            budget, budget_at = MAX_RECONNECTS_PER_SECOND, now
        missing = count - len(state)
        for _ in range(min(missing, budget)):
            open_one()
            budget -= 1
        for key, events in sel.select(timeout=0.1):
            if key.data == "stdin":
                if not os.read(sys.stdin.fileno(), 4096):
                    return
                continue
            s = key.fileobj
            if state.get(s) == "connecting":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    stats["refused"] += 1
                    drop(s, False)
                    continue
                state[s] = "open"
                sel.modify(s, selectors.EVENT_READ, "peer")
            if events & selectors.EVENT_READ:
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data.startswith(b"SSH-"):
                    state[s] = "greeted"
                elif not data:
                    drop(s, True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
