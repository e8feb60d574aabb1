#!/usr/bin/env python3
"""Servers for bench/run, started inside the server namespace.

  srv.py SOURCE_SINK_PORT ECHO_PORT

On 127.0.0.1:SOURCE_SINK_PORT a line `GET n` is answered with n bytes (then
close); `PUT n` reads n bytes, discards them and answers `OK n`. On
127.0.0.1:ECHO_PORT every byte is echoed. Prints READY once both listen.
"""
import os
import socket
import socketserver
import sys
import threading

BLOCK = 1 << 20
DATA = os.urandom(BLOCK)


def read_line(s, limit=64):
    line = b""
    while not line.endswith(b"\n") and len(line) < limit:
        k = s.recv(1)
        if not k:
            return None
        line += k
    return line.decode(errors="replace").strip()


class SourceSink(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.settimeout(120)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            line = read_line(s)
            if not line:
                return
            verb, n = line.split()
            n = int(n)
            if verb == "GET":
                left = n
                while left > 0:
                    k = min(left, BLOCK)
                    s.sendall(DATA if k == BLOCK else DATA[:k])
                    left -= k
                s.shutdown(socket.SHUT_WR)
                s.recv(1)  # wait for the client's close (bounded by the timeout)
            elif verb == "PUT":
                buf = bytearray(BLOCK)
                mv = memoryview(buf)
                got = 0
                while got < n:
                    k = s.recv_into(mv)
                    if not k:
                        break
                    got += k
                s.sendall(f"OK {got}\n".encode())
                s.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            pass


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.settimeout(60)
        try:
            while True:
                k = s.recv(65536)
                if not k:
                    return
                s.sendall(k)
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256


def main():
    ss = Server(("127.0.0.1", int(sys.argv[1])), SourceSink)
    echo = Server(("127.0.0.1", int(sys.argv[2])), Echo)
    for srv in (ss, echo):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("READY", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
