#!/usr/bin/env python3
"""The scale rows of issue 12 (started by `bench/run --only scale`, as root).

1. 10,000 concurrent FTP sessions through one `sshfwd -L ftp/`: each logs in,
   sends PASV, RETRieves 64 KiB (up to 500 sessions set up at once: more and
   the Python client itself, on 2 busy cores, makes the steps time out) and
   holds its control connection until every session has its 64 KiB; then all
   QUIT. Reported:
   failures, sshfwd's peak RSS, the time until all hold; beside it the same
   sessions straight to the server (no SSH) for the time ratio. OpenSSH's
   `ssh -L` has no row here: it cannot forward FTP's data connections.
2. 1,000 simultaneous connects through `sshfwd -L` and through `ssh -L` to an
   echo server with a large backlog: how many got their echo within 10 s.

Topology: NS-cli 10.243.0.1 --veth-- 10.243.0.2 NS-srv (OpenSSH sshd on :22;
on 127.0.0.1 only: the FTP server below on :21 and an echo server on :7007).
The FTP server and the clients are asyncio programs in this file (`ftpd`,
`clients`, `echod`, `connects` sub-commands), so that neither side is the
bottleneck: pyftpdlib's defaults (backlog 100, max_cons 512) are not.

Every process is started with `ip netns exec`, its PID appended to WORK/pids
(bench/run's trap kills them even if this script dies); every wait is a
bounded poll; every connection and read has a timeout.
"""
import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

# The bench's own helpers (bench/ is the script's directory, first on sys.path).
from bench import poll, sh

HERE = os.path.dirname(os.path.abspath(__file__))
CLI_IP, SRV_IP = "10.243.0.1", "10.243.0.2"
FTP_PORT, ECHO_PORT = 21, 7007
L_FTP, L_ECHO_SSHFWD, L_ECHO_SSH = 2121, 9101, 9102
USER, PASS = "ftpuser", "secret"
FILE_SIZE = 64 * 1024
# The descriptors every process here may open: the hard limit (20,000 on
# these machines, and root cannot raise it in this container). 10,000 held
# sessions take 10,000 in the client, in sshfwd and in sshd each, plus the
# data channels in flight.
NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
SETUP_CONCURRENCY = 500
# sshfwd starts with a low soft limit under that hard limit: it raises the
# soft one itself, as the issue asks.
SSHFWD_SOFT_NOFILE = 1024


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def raise_nofile(soft=NOFILE, hard=NOFILE):
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ---------------------------------------------------------------------------
# Servers and clients (sub-commands, run inside a namespace)

async def read_reply(reader, timeout):
    """One FTP reply (multi-line aware): (code, text)."""
    line = await asyncio.wait_for(reader.readline(), timeout)
    if not line:
        raise ConnectionError("control connection closed")
    text = line
    if line[3:4] == b"-":
        end = line[:3] + b" "
        for _ in range(100):
            line = await asyncio.wait_for(reader.readline(), timeout)
            text += line
            if not line or line.startswith(end):
                break
    return int(line[:3]), text.decode("latin-1")


def ftpd(port):
    """A minimal FTP server: USER/PASS/TYPE/PASV/RETR/QUIT, RETR sends
    FILE_SIZE bytes and, as proftpd does, answers 226 once the client has
    closed the data connection."""
    payload = os.urandom(FILE_SIZE)

    async def session(reader, writer):
        data_listener, data_conn = None, asyncio.get_running_loop().create_future()
        try:
            writer.write(b"220 scale ftpd\r\n")
            while True:
                line = await asyncio.wait_for(reader.readline(), 600)
                if not line:
                    return
                verb = line.split()[0].upper() if line.split() else b""
                if verb == b"USER":
                    writer.write(b"331 password\r\n")
                elif verb == b"PASS":
                    writer.write(b"230 logged in\r\n")
                elif verb == b"TYPE":
                    writer.write(b"200 type set\r\n")
                elif verb == b"PASV":
                    data_conn = asyncio.get_running_loop().create_future()

                    def accepted(r, w, fut=data_conn):
                        if not fut.done():
                            fut.set_result((r, w))
                        else:
                            w.close()
                    data_listener = await asyncio.start_server(accepted, "127.0.0.1", 0, backlog=1)
                    p = data_listener.sockets[0].getsockname()[1]
                    writer.write(f"227 Entering Passive Mode (127,0,0,1,{p >> 8},{p & 255}).\r\n".encode())
                elif verb == b"RETR":
                    r, w = await asyncio.wait_for(data_conn, 120)
                    data_listener.close()
                    writer.write(b"150 opening data connection\r\n")
                    w.write(payload)
                    await w.drain()
                    w.write_eof()
                    await asyncio.wait_for(r.read(), 600)  # the client's close
                    w.close()
                    writer.write(b"226 transfer complete\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"502 not here\r\n")
                await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        finally:
            if data_listener:
                data_listener.close()
            writer.close()

    async def main():
        server = await asyncio.start_server(session, "127.0.0.1", port, backlog=4096)
        print("READY", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def echod(port):
    async def session(reader, writer):
        try:
            while True:
                data = await asyncio.wait_for(reader.read(4096), 120)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(session, "127.0.0.1", port, backlog=4096)
        print("READY", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def clients(host, port, n, setup_concurrency, timeout):
    """n FTP sessions (at most setup_concurrency setting up at once), each
    holding after its 64 KiB until all have theirs. Prints one JSON line."""

    async def main():
        all_holding = asyncio.Event()
        holding = 0
        failures = {}
        gate = asyncio.Semaphore(setup_concurrency)
        started = time.monotonic()
        times = {}

        def fail(what):
            failures[what] = failures.get(what, 0) + 1

        async def one(i):
            nonlocal holding
            writer = data_w = None
            counted = False
            try:
                async with gate:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
                    code, text = await read_reply(reader, timeout)
                    if code != 220:
                        return fail(text.strip()[:80])
                    for cmd, want in ((f"USER {USER}", (331, 230)), (f"PASS {PASS}", (230,)), ("TYPE I", (200,))):
                        if cmd.startswith("PASS") and code == 230:
                            continue
                        writer.write(cmd.encode() + b"\r\n")
                        code, text = await read_reply(reader, timeout)
                        if code not in want:
                            return fail(text.strip()[:80])
                    writer.write(b"PASV\r\n")
                    code, text = await read_reply(reader, timeout)
                    if code != 227:
                        return fail(text.strip()[:80])
                    nums = text[text.index("(") + 1:text.index(")")].split(",")
                    data_host, data_port = ".".join(nums[:4]), int(nums[4]) * 256 + int(nums[5])
                    data_r, data_w = await asyncio.wait_for(asyncio.open_connection(data_host, data_port), timeout)
                    writer.write(b"RETR file\r\n")
                    code, text = await read_reply(reader, timeout)
                    if code not in (125, 150):
                        return fail(text.strip()[:80])
                    got = await asyncio.wait_for(data_r.readexactly(FILE_SIZE), timeout)
                    if len(got) != FILE_SIZE:
                        return fail("short data")
                    data_w.close()
                    code, text = await read_reply(reader, timeout)
                    if code != 226:
                        return fail(text.strip()[:80])
                holding += 1
                counted = True
                if holding == n:
                    times["all_holding"] = time.monotonic() - started
                    all_holding.set()
                # Hold until every session has its data (or the run gives up).
                await asyncio.wait_for(all_holding.wait(), timeout * 4)
                writer.write(b"QUIT\r\n")
                await read_reply(reader, timeout)
            except Exception as e:  # counted, never raised: one line of results
                fail(type(e).__name__ + (f": {e}"[:60] if str(e) else "") + ("" if counted else " (setting up)"))
            finally:
                for w in (data_w, writer):
                    if w is not None:
                        w.close()

        async def give_up_waiting():
            # Once every session has either failed or is holding, release the holders.
            while not all_holding.is_set():
                if holding + sum(failures.values()) >= n:
                    all_holding.set()
                    break
                await asyncio.sleep(0.05)

        watcher = asyncio.ensure_future(give_up_waiting())
        await asyncio.gather(*(one(i) for i in range(n)))
        watcher.cancel()
        total = time.monotonic() - started
        print(json.dumps({"n": n, "ok": n - sum(failures.values()), "failures": failures,
                          "all_holding_s": times.get("all_holding"), "total_s": total}), flush=True)

    raise_nofile()
    asyncio.run(main())


def connects(host, port, n, timeout):
    """n simultaneous connects, each sending a line and awaiting its echo."""

    async def main():
        ok, errors = 0, {}
        go = asyncio.Event()

        latencies = []

        async def one(i):
            nonlocal ok
            await go.wait()
            try:
                t0 = time.monotonic()
                r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
                # Over a second: a dropped SYN retransmitted (a full backlog).
                latencies.append(time.monotonic() - t0)
                msg = f"hello {i}\n".encode()
                w.write(msg)
                got = await asyncio.wait_for(r.readexactly(len(msg)), timeout)
                w.close()
                if got == msg:
                    ok += 1
                else:
                    errors["wrong echo"] = errors.get("wrong echo", 0) + 1
            except Exception as e:
                k = type(e).__name__
                errors[k] = errors.get(k, 0) + 1

        tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        go.set()
        await asyncio.gather(*tasks)
        latencies.sort()
        print(json.dumps({"n": n, "ok": ok, "errors": errors, "total_s": time.monotonic() - started,
                          "connect_max_s": latencies[-1] if latencies else None,
                          "connects_over_1s": sum(1 for t in latencies if t > 1.0)}), flush=True)

    raise_nofile()
    asyncio.run(main())


# ---------------------------------------------------------------------------
# The run

class Scale:
    def __init__(self, a):
        self.a = a
        self.work = a.work
        self.cli, self.srv = f"{a.ns}-cli", f"{a.ns}-srv"
        self.procs = []

    def spawn(self, ns, name, argv, soft_nofile=NOFILE, env=None):
        logf = open(os.path.join(self.work, f"scale-{name}.log"), "ab")

        def limits():
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft_nofile, NOFILE))
        p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                             preexec_fn=limits, start_new_session=True, env=env)
        logf.close()
        with open(os.path.join(self.work, "pids"), "a") as f:
            f.write(f"{p.pid}\n")
        p.bench_name = name
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)

    def run_in(self, ns, argv, timeout):
        r = subprocess.run(["ip", "netns", "exec", ns] + argv, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout, preexec_fn=lambda: raise_nofile())
        if r.returncode != 0:
            raise RuntimeError(f"{argv[:3]} failed ({r.returncode}): {r.stderr[-2000:]}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    def tail(self, name, n=20):
        try:
            with open(os.path.join(self.work, f"scale-{name}.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def can_connect(self, ns, port, expect=None):
        """Whether 127.0.0.1:port in ns accepts (and, with expect, greets
        with it)."""
        read = "s.settimeout(5); print(s.recv(8))" if expect else "print()"
        out = subprocess.run(["ip", "netns", "exec", ns, "python3", "-c",
                              "import socket,sys; s=socket.create_connection(('127.0.0.1', int(sys.argv[1])), 2); "
                              + read, str(port)],
                             capture_output=True, text=True, timeout=15)
        return out.returncode == 0 and (expect is None or expect in out.stdout)

    def setup(self):
        log("topology", self.cli, self.srv)
        for ns in (self.cli, self.srv):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            # 10,000 sessions take 20,000 ports on each side, listeners included.
            sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=10000 65000")
            sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.core.somaxconn=4096")
        sh("ip", "link", "add", "veth-srv", "netns", self.cli, "type", "veth", "peer", "name", "veth-cli", "netns",
           self.srv)
        sh("ip", "-n", self.cli, "addr", "add", f"{CLI_IP}/24", "dev", "veth-srv")
        sh("ip", "-n", self.cli, "link", "set", "veth-srv", "up")
        sh("ip", "-n", self.srv, "addr", "add", f"{SRV_IP}/24", "dev", "veth-cli")
        sh("ip", "-n", self.srv, "link", "set", "veth-cli", "up")

        os.makedirs("/run/sshd", exist_ok=True)
        self.hostkey = os.path.join(self.work, "scale_host_key")
        self.key = os.path.join(self.work, "scale_id")
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.hostkey)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key)
        shutil.copy(self.key + ".pub", os.path.join(self.work, "scale_authorized_keys"))
        conf = os.path.join(self.work, "scale_sshd_config")
        with open(conf, "w") as f:
            f.write(f"Port 22\nListenAddress {SRV_IP}\nHostKey {self.hostkey}\nPidFile {self.work}/scale-sshd.pid\n"
                    f"AuthorizedKeysFile {self.work}/scale_authorized_keys\nStrictModes no\nUsePAM no\n"
                    "PermitRootLogin yes\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nAllowTcpForwarding yes\nGatewayPorts no\nUseDNS no\n"
                    "MaxSessions 100\nMaxStartups 100:30:200\nLogLevel ERROR\n")
        self.spawn(self.srv, "sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", conf])
        poll("sshd", 15, lambda: self.can_connect_ip(self.srv, SRV_IP, 22))
        me = os.path.abspath(__file__)
        self.spawn(self.srv, "ftpd", ["python3", me, "ftpd", str(FTP_PORT)])
        poll("ftpd", 15, lambda: self.can_connect(self.srv, FTP_PORT, "220"))
        self.spawn(self.srv, "echod", ["python3", me, "echod", str(ECHO_PORT)])
        poll("echod", 15, lambda: self.tail("echod").startswith("READY"))
        with open(os.path.join(self.work, "scale_ssh_config"), "w") as f:
            f.write("# empty\n")

    def can_connect_ip(self, ns, ip, port):
        out = subprocess.run(["ip", "netns", "exec", ns, "python3", "-c",
                              "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 2)",
                              ip, str(port)], capture_output=True, timeout=15)
        return out.returncode == 0

    def client(self, impl, forwards, ready_port, expect=None):
        exe = self.a.sshfwd if impl == "sshfwd" else "/usr/bin/ssh"
        argv = [exe, "-N", "-F", os.path.join(self.work, "scale_ssh_config"), "-i", self.key, "-p", "22",
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "ExitOnForwardFailure=yes", "-o", f"LogLevel={os.environ.get('SCALE_LOGLEVEL', 'ERROR')}",
                *forwards, f"root@{SRV_IP}"]
        env = dict(os.environ, HOME=self.work)
        env.pop("SSH_AUTH_SOCK", None)
        soft = SSHFWD_SOFT_NOFILE if impl == "sshfwd" else NOFILE
        p = self.spawn(self.cli, f"{impl}-{ready_port}", argv, soft_nofile=soft, env=env)

        def ready():
            if p.poll() is not None:
                raise SystemExit(f"{impl} exited {p.returncode}:\n{self.tail(p.bench_name)}")
            return self.can_connect(self.cli, ready_port, expect)
        poll(impl, 30, ready)
        return p

    @staticmethod
    def status(pid, field):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return None

    @staticmethod
    def soft_nofile(pid):
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
        return None

    def ftp_sessions(self, n):
        me = os.path.abspath(__file__)
        limit = 120
        p = self.client("sshfwd", ["-L", f"ftp/127.0.0.1:{L_FTP}:127.0.0.1:{FTP_PORT}"], L_FTP, "220")
        # sshfwd's own: the process's pid is ip-netns-exec's, which execs it.
        nofile = self.soft_nofile(p.pid)
        log(f"sshfwd soft open-file limit {nofile} (started with {SSHFWD_SOFT_NOFILE})")
        log(f"{n} FTP sessions through sshfwd -L ftp/")
        via = self.run_in(self.cli, ["python3", me, "clients", "127.0.0.1", str(L_FTP), str(n), str(SETUP_CONCURRENCY),
                                        str(limit)],
                          timeout=900)
        rss = self.status(p.pid, "VmHWM") / 1024
        log("through sshfwd:", via, f"peak RSS {rss:.0f} MiB")
        self.stop(p)
        log(f"{n} FTP sessions straight to the server (in srv, no SSH)")
        direct = self.run_in(self.srv, ["python3", me, "clients", "127.0.0.1", str(FTP_PORT), str(n),
                                        str(SETUP_CONCURRENCY), str(limit)], timeout=900)
        log("direct:", direct)
        return {"sessions": n, "sshfwd": via, "direct": direct, "sshfwd_peak_rss_mib": rss,
                "sshfwd_soft_nofile": nofile}

    def burst(self, n):
        me = os.path.abspath(__file__)
        out = {}
        for impl, port in (("sshfwd", L_ECHO_SSHFWD), ("ssh", L_ECHO_SSH)):
            p = self.client(impl, ["-L", f"127.0.0.1:{port}:127.0.0.1:{ECHO_PORT}"], port)
            log(f"{n} simultaneous connects through {impl} -L")
            out[impl] = self.run_in(self.cli, ["python3", me, "connects", "127.0.0.1", str(port), str(n), "10"],
                                    timeout=300)
            log(impl, out[impl])
            self.stop(p)
        return out


def report(a, ftp, burst):
    lines = [f"## Scale (issue 12), commit {a.commit}, {time.strftime('%Y-%m-%d')}", "",
             "| Row | sshfwd | reference | ratio |", "|---|---|---|---|"]
    if ftp:
        s, d = ftp["sshfwd"], ftp["direct"]
        t_s, t_d = s.get("all_holding_s"), d.get("all_holding_s")
        ratio = f"{t_s / t_d:.2f}x the time" if t_s and t_d else "-"
        lines.append(f"| {ftp['sessions']:,} FTP sessions (login, PASV, RETR 64 KiB, hold) through one `-L ftp/` | "
                     f"{s['ok']:,} ok, {s['n'] - s['ok']:,} failed, all holding after "
                     f"{t_s if t_s is None else round(t_s, 1)} s, peak RSS {ftp['sshfwd_peak_rss_mib']:.0f} MiB | "
                     f"straight to the server: {d['ok']:,} ok in "
                     f"{t_d if t_d is None else round(t_d, 1)} s | {ratio} |")
    if burst:
        s, o = burst["sshfwd"], burst["ssh"]
        ratio = f"{s['total_s'] / o['total_s']:.2f}x the time" if o["total_s"] else "-"

        def cell(r):
            return (f"{r['ok']:,} ok in {r['total_s']:.2f} s, {r['connects_over_1s']:,} connects over 1 s "
                    f"(SYN retransmitted), slowest {r['connect_max_s'] or 0:.2f} s"
                    + (f", errors {r['errors']}" if r["errors"] else ""))
        lines.append(f"| {s['n']:,} simultaneous connects through `-L` (echo within 10 s) | {cell(s)} | "
                     f"`ssh -L` (listen backlog 128): {cell(o)} | {ratio} |")
    if ftp and ftp["sshfwd"]["failures"]:
        lines += ["", f"sshfwd failures: {ftp['sshfwd']['failures']}"]
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("ftpd", "echod", "clients", "connects"):
        cmd, args = sys.argv[1], sys.argv[2:]
        if cmd == "ftpd":
            raise_nofile()
            return ftpd(int(args[0]))
        if cmd == "echod":
            raise_nofile()
            return echod(int(args[0]))
        if cmd == "clients":
            return clients(args[0], int(args[1]), int(args[2]), int(args[3]), float(args[4]))
        return connects(args[0], int(args[1]), int(args[2]), float(args[3]))

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--ns", required=True)
    ap.add_argument("--sshfwd", required=True)
    ap.add_argument("--commit", default="?")
    ap.add_argument("--only", default="scale")
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--connects", type=int, default=1000)
    ap.add_argument("--out", default=HERE)
    a, _ = ap.parse_known_args()
    raise_nofile()
    s = Scale(a)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        s.setup()
        ftp = s.ftp_sessions(a.sessions)
        burst = s.burst(a.connects)
    finally:
        for p in reversed(s.procs):
            try:
                s.stop(p)
            except Exception as e:
                log("stop", p.pid, e)
        # The logs outlive WORK (bench/run deletes it), for a failed row.
        logs = os.path.join(a.out, "scale-logs")
        os.makedirs(logs, exist_ok=True)
        for name in os.listdir(a.work):
            if name.startswith("scale-") and name.endswith(".log"):
                shutil.copy(os.path.join(a.work, name), logs)
    text = report(a, ftp, burst)
    print(text)
    with open(os.path.join(a.out, "results-scale.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "results-scale.json"), "w") as f:
        json.dump({"commit": a.commit, "ftp": ftp, "connects": burst}, f, indent=1)


if __name__ == "__main__":
    main()
