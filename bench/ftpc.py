#!/usr/bin/env python3
"""Benchmark clients for bench/run. Each subcommand runs inside a network
namespace (started with `ip netns exec`), does one measurement and prints one
JSON line on stdout. Data is generated or discarded on the fly (1 MiB blocks),
so the client's disk is never in the way.

  bulk   HOST PORT MODE DIR NAME SIZE [DATAPORT]  one 1 MiB-block RETR/STOR
  small  HOST PORT MODE NAME COUNT [DATAPORT]     COUNT RETRs in one session
  conc   HOST PORT SESSIONS NAME SIZE             SESSIONS sessions at once
  plain  HOST PORT DIR SIZE                       source/sink through a plain forward
  startup PORT TIMEOUT -- CMD...                  CMD start -> first echoed byte
  sftp   DIR REMOTE LOCAL SIZE -- CMD...          one get/put by OpenSSH's sftp

MODE is pasv or port; DIR is get or put; DATAPORT pins the client's data
port in active mode (OpenSSH workaround with ssh -R); 0 lets the kernel pick.
`--login USER:PASS` before the subcommand replaces the FTP login (the
bridge's session mode logs in as the SSH user with the bridge's password).
"""
import ftplib
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time

BLOCK = 1 << 20
USER, PASS = "ftpuser", "secret"
TIMEOUT = 60.0


class F(ftplib.FTP):
    # Use the address in the 227 reply (as lftp does): that is what the
    # forwarders rewrite or what the workaround's MasqueradeAddress sets.
    trust_server_pasv_ipv4_address = True
    data_port = 0

    def makeport(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.sock.getsockname()[0], self.data_port))
        sock.listen(1)
        host, port = sock.getsockname()[:2]
        self.sendport(host, port)
        sock.settimeout(self.timeout)
        return sock


def session(host, port, mode, data_port=0, timeout=TIMEOUT):
    f = F(timeout=timeout)
    f.data_port = data_port
    f.connect(host, port)
    f.login(USER, PASS)
    f.voidcmd("TYPE I")
    f.set_pasv(mode == "pasv")
    return f


def retr(f, name, buf):
    mv = memoryview(buf)
    n = 0
    conn = f.transfercmd("RETR " + name)
    with conn:
        while True:
            k = conn.recv_into(mv)
            if not k:
                break
            n += k
    f.voidresp()
    return n


def stor(f, name, size, block):
    conn = f.transfercmd("STOR " + name)
    left = size
    with conn:
        while left > 0:
            k = min(left, len(block))
            conn.sendall(block if k == len(block) else block[:k])
            left -= k
    f.voidresp()
    return size


def out(**kw):
    print(json.dumps(kw), flush=True)


def cmd_bulk(a):
    host, port, mode, direction, name, size = a[0], int(a[1]), a[2], a[3], a[4], int(a[5])
    data_port = int(a[6]) if len(a) > 6 else 0
    f = session(host, port, mode, data_port)
    if direction == "get":
        buf = bytearray(BLOCK)
        t0 = time.perf_counter()
        n = retr(f, name, buf)
        dt = time.perf_counter() - t0
        if n != size:
            raise SystemExit(f"short download: {n} of {size} bytes")
    else:
        block = os.urandom(BLOCK)
        t0 = time.perf_counter()
        n = stor(f, name, size, block)
        dt = time.perf_counter() - t0
        got = f.size(name)
        if got != size:
            raise SystemExit(f"server holds {got} bytes, sent {size}")
    f.quit()
    out(bytes=n, seconds=dt)


def cmd_small(a):
    host, port, mode, name, count = a[0], int(a[1]), a[2], a[3], int(a[4])
    data_port = int(a[5]) if len(a) > 5 else 0
    f = session(host, port, mode, data_port)
    buf = bytearray(BLOCK)
    done, total, err = 0, 0, None
    t0 = time.perf_counter()
    try:
        for _ in range(count):
            total += retr(f, name, buf)
            done += 1
    except Exception as e:  # reported, not hidden: the row shows the failure
        err = f"{type(e).__name__}: {e}"
    dt = time.perf_counter() - t0
    try:
        f.quit()
    except Exception:
        pass
    out(done=done, count=count, bytes=total, seconds=dt, error=err)


def cmd_conc(a):
    host, port, sessions, name, size = a[0], int(a[1]), int(a[2]), a[3], int(a[4])
    go = threading.Event()
    errors = []
    got = [0] * sessions
    lock = threading.Lock()

    def one(i):
        go.wait(30)
        try:
            f = session(host, port, "pasv", timeout=120)
            n = retr(f, name, bytearray(BLOCK))
            f.quit()
            if n != size:
                raise RuntimeError(f"short: {n}")
            got[i] = n
        except Exception as e:
            with lock:
                errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(sessions)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    go.set()
    deadline = t0 + 240
    for t in threads:
        t.join(max(0.0, deadline - time.perf_counter()))
    dt = time.perf_counter() - t0
    hung = sum(1 for t in threads if t.is_alive())
    out(seconds=dt, bytes=sum(got), failures=len(errors) + hung, hung=hung, errors=sorted(set(errors))[:5])


def cmd_plain(a):
    host, port, direction, size = a[0], int(a[1]), a[2], int(a[3])
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.perf_counter()
    if direction == "get":
        s.sendall(f"GET {size}\n".encode())
        buf = bytearray(BLOCK)
        mv = memoryview(buf)
        n = 0
        while True:
            k = s.recv_into(mv)
            if not k:
                break
            n += k
        if n != size:
            raise SystemExit(f"short download: {n} of {size}")
    else:
        s.sendall(f"PUT {size}\n".encode())
        block = os.urandom(BLOCK)
        left = size
        while left > 0:
            k = min(left, BLOCK)
            s.sendall(block if k == BLOCK else block[:k])
            left -= k
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while len(reply) < 64:
            k = s.recv(64)
            if not k:
                break
            reply += k
        if reply.strip() != f"OK {size}".encode():
            raise SystemExit(f"sink answered {reply!r}")
        n = size
    dt = time.perf_counter() - t0
    s.close()
    out(bytes=n, seconds=dt)


def proc_cpu(pid):
    """CPU seconds used so far by process pid, summed over its live threads
    (/proc/PID/task/*/schedstat: nanoseconds, finer than the 10 ms ticks of
    /proc/PID/stat)."""
    try:
        total = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, IndexError, ValueError):
        return None


def cmd_startup(a):
    port, timeout = int(a[0]), float(a[1])
    argv = a[a.index("--") + 1:]
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed, listening, err, attempts, cpu = None, None, None, 0, None
    try:
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            attempts += 1
            if p.poll() is not None:
                err = f"exited with {p.returncode}: {p.stderr.read().decode(errors='replace')[-500:]}"
                break
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    if listening is None:
                        listening = time.perf_counter() - t0
                    s.settimeout(5)
                    s.sendall(b"x")
                    if s.recv(1) == b"x":
                        elapsed = time.perf_counter() - t0
                        cpu = proc_cpu(p.pid)
                        break
            except OSError:
                pass
            time.sleep(0.002)  # poll interval between bounded attempts
        else:
            err = f"no echo within {timeout}s"
    finally:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    out(seconds=elapsed, listening=listening, cpu=cpu, attempts=attempts, error=err)


def process_tree_cpu(pid):
    """CPU seconds of pid and its direct children (sftp and its ssh)."""
    pids = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                pids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return {str(p): proc_cpu(p) for p in pids}


def cmd_sftp(a):
    """Times one get or put by OpenSSH's sftp, from the command to its
    completion, without the SSH connection set-up: sftp reads its batch from
    a pipe, a `pwd` before marks the connection ready and a `pwd` after marks
    the transfer done (sftp runs batch commands one after the other)."""
    direction, remote, local, size = a[0], a[1], a[2], int(a[3])
    argv = a[a.index("--") + 1:]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         bufsize=1)
    lines = queue.Queue()
    err = []

    def pump_out():
        for line in p.stdout:
            lines.put(line)
        lines.put(None)

    def pump_err():
        err.append(p.stderr.read())
    for fn in (pump_out, pump_err):
        threading.Thread(target=fn, daemon=True).start()

    def wait_pwd(timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise SystemExit(f"sftp: no reply within {timeout}s")
            if line is None:
                p.wait(5)
                raise SystemExit(f"sftp exited {p.returncode}: {''.join(err)[-400:]}")
            if line.startswith("Remote working directory"):
                return

    try:
        p.stdin.write("pwd\n")
        wait_pwd(30)
        cmd = f"get {remote} {local}" if direction == "get" else f"put {local} {remote}"
        c0 = process_tree_cpu(p.pid)
        t0 = time.perf_counter()
        p.stdin.write(cmd + "\npwd\n")
        wait_pwd(60 + size / (10 * BLOCK))
        dt = time.perf_counter() - t0
        c1 = process_tree_cpu(p.pid)
        p.stdin.write("quit\n")
        p.stdin.close()
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    cpu = {pid: c1[pid] - c0.get(pid, 0.0) for pid in c1 if c1[pid] is not None}
    sftp_cpu = cpu.pop(str(p.pid), None)
    out(bytes=size, seconds=dt, cpu=sum(cpu.values()) + (sftp_cpu or 0.0), sftp_cpu=sftp_cpu,
        ssh_cpu=sum(cpu.values()) if cpu else None)


def main():
    cmds = {"bulk": cmd_bulk, "small": cmd_small, "conc": cmd_conc, "plain": cmd_plain, "startup": cmd_startup,
            "sftp": cmd_sftp}
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "--login":
        global USER, PASS
        USER, PASS = args[1].split(":", 1)
        args = args[2:]
    if not args or args[0] not in cmds:
        raise SystemExit(__doc__)
    cmds[args[0]](args[1:])


if __name__ == "__main__":
    main()
