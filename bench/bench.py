#!/usr/bin/env python3
"""sshfwd vs OpenSSH benchmark driver (started by bench/run, as root).

Topology (two network namespaces joined by a veth pair, addresses only inside
them):

    NS-cli 10.241.0.1  --veth--  10.241.0.2 NS-srv
    FTP clients, sshfwd, ssh     OpenSSH sshd on :22; on 127.0.0.1 only:
                                 proftpd :21 (defaults: for sshfwd and direct),
                                 proftpd :2100 (PassivePorts pinned, Masquerade
                                 127.0.0.1: for OpenSSH's workaround),
                                 source/sink :9000, echo :7007
                                 sftp subsystem: internal-sftp (the bridge
                                 and OpenSSH's sftp client)

Every process is started with `ip netns exec`, its PID is appended to
WORK/pids (bench/run's trap kills them even if this script dies), every wait
is a bounded poll of an observable condition.
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FTPC = os.path.join(HERE, "ftpc.py")
SRVPY = os.path.join(HERE, "srv.py")
FLOODPY = os.path.join(HERE, "flood.py")

CLI_IP, SRV_IP = "10.241.0.1", "10.241.0.2"
FTP_PORT, FTP_WA_PORT = 21, 2100  # proftpd: default config / workaround config
# The workaround's pinned passive ports and pinned client data port (ssh -R),
# below the ephemeral range (32768-60999): a pinned port inside it can be taken
# by some connection's ephemeral source port, and then bind() fails with
# EADDRINUSE (seen: every active-mode transfer of a run failed that way).
PASV_WA = list(range(30000, 30016))
ACTIVE_WA_PORT = 30999
SINK_PORT, ECHO_PORT = 9000, 7007
L_FTP_SSHFWD, L_FTP_SSH = 2121, 2122  # FTP control forwards in cli
L_PLAIN_SSHFWD, L_PLAIN_SSH = 9001, 9002
L_STARTUP = 7100
L_BRIDGE = 2123  # sshfwd --ftp-to-sftp in cli
BRIDGE_PASS = "bridge-secret"
# The flood group: both SSH servers in the server namespace, on loopback.
FLOOD_SSHFWD_SERVER_PORT, FLOOD_SSHD_PORT = 2222, 2200
FLOOD_CONNECTIONS = 1000
USER, PASS = "ftpuser", "secret"
GIB = 1 << 30
MIB = 1 << 20


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def median(v):
    return statistics.median(v) if v else None


# ---------------------------------------------------------------------------
# Namespaces and processes

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def in_ns(ns, fn):
    """Runs fn() on a thread that entered network namespace ns."""
    res = {}

    def body():
        fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                res["e"] = OSError(ctypes.get_errno(), f"setns {ns}")
                return
        finally:
            os.close(fd)
        try:
            res["v"] = fn()
        except BaseException as e:  # handed to the caller
            res["e"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(60)
    if t.is_alive():
        raise TimeoutError(f"in_ns({ns}) did not return")
    if "e" in res:
        raise res["e"]
    return res["v"]


def poll(desc, timeout, check, interval=0.02):
    """Calls check() until it returns a true value; raises after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = check()
            if v:
                return v
        except Exception as e:
            last = e
        if time.monotonic() > deadline:
            raise TimeoutError(f"{desc}: not ready after {timeout}s (last error: {last})")
        time.sleep(interval)


def sh(*argv, timeout=30):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r.stdout


class Bench:
    def __init__(self, args):
        self.a = args
        self.work = args.work
        self.cli = f"{args.ns}-cli"
        self.srv = f"{args.ns}-srv"
        self.procs = []
        self.home = os.path.join(self.work, "home")
        self.rows = []  # see add_row
        self.raw = []

    # -- process management ------------------------------------------------
    def spawn(self, ns, name, argv, env=None):
        logf = open(os.path.join(self.work, f"{name}.log"), "ab")
        p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                             env=env, start_new_session=True)
        logf.close()
        with open(os.path.join(self.work, "pids"), "a") as f:
            f.write(f"{p.pid}\n")
        p.bench_name = name
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p in self.procs:
            self.procs.remove(p)

    def log_tail(self, name, n=30):
        try:
            with open(os.path.join(self.work, f"{name}.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def teardown(self):
        for p in reversed(list(self.procs)):
            try:
                self.stop(p)
            except Exception as e:
                log("stop", p.pid, e)
        for ns in (self.cli, self.srv):
            if not os.path.exists(f"/run/netns/{ns}"):
                continue
            for _ in range(50):
                pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                time.sleep(0.02)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    # -- topology ------------------------------------------------------------
    def connect_ok(self, ns, host, port, expect=None):
        def f():
            with socket.create_connection((host, port), timeout=2) as s:
                if expect is None:
                    return True
                s.settimeout(5)
                return s.recv(64).startswith(expect)
        return in_ns(ns, f)

    def listening(self, ns, port):
        out = sh("ip", "netns", "exec", ns, "ss", "-ltnH", f"sport = :{port}")
        return bool(out.strip())

    def setup(self):
        log("topology", self.cli, self.srv)
        for ns in (self.cli, self.srv):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", "veth-srv", "netns", self.cli, "type", "veth", "peer", "name", "veth-cli", "netns", self.srv)
        sh("ip", "-n", self.cli, "addr", "add", f"{CLI_IP}/24", "dev", "veth-srv")
        sh("ip", "-n", self.cli, "link", "set", "veth-srv", "up")
        sh("ip", "-n", self.srv, "addr", "add", f"{SRV_IP}/24", "dev", "veth-cli")
        sh("ip", "-n", self.srv, "link", "set", "veth-cli", "up")

        # Files served by proftpd, in tmpfs (WORK is under /dev/shm).
        os.makedirs(self.home)
        for name, size in (("big.bin", self.a.size), ("mid.bin", 4 * MIB), ("small.bin", 4096),
                           ("bridge.bin", self.a.bridge_size), ("one.bin", MIB)):
            with open(os.path.join(self.home, name), "wb") as f:
                left = size
                while left > 0:
                    k = min(left, 16 * MIB)
                    f.write(os.urandom(k))
                    left -= k

        # sshd
        os.makedirs("/run/sshd", exist_ok=True)
        self.hostkey = os.path.join(self.work, "ssh_host_ed25519_key")
        self.key = os.path.join(self.work, "id_ed25519")
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.hostkey)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key)
        shutil.copy(self.key + ".pub", os.path.join(self.work, "authorized_keys"))
        conf = os.path.join(self.work, "sshd_config")
        with open(conf, "w") as f:
            f.write(f"Port 22\nListenAddress {SRV_IP}\nHostKey {self.hostkey}\nPidFile {self.work}/sshd.pid\n"
                    f"AuthorizedKeysFile {self.work}/authorized_keys\nStrictModes no\nUsePAM no\nPermitRootLogin yes\n"
                    "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                    "AllowTcpForwarding yes\nGatewayPorts no\nUseDNS no\nMaxStartups 100:30:200\n"
                    # The bridge's session mode opens one SFTP (session)
                    # channel per FTP session on one SSH connection:
                    # sshd's default of 10 would refuse the 11th.
                    f"MaxSessions {max(100, self.a.sessions + 20)}\n"
                    "Subsystem sftp internal-sftp\nLogLevel INFO\n")
        self.spawn(self.srv, "sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", conf])
        poll("sshd", 15, lambda: self.connect_ok(self.srv, SRV_IP, 22, b"SSH-"))

        # proftpd twice: defaults (sshfwd, direct) and the workaround's config.
        hashed = sh("openssl", "passwd", "-1", PASS).strip()
        for tag, port, extra in (
            ("proftpd", FTP_PORT, "PassivePorts 40000 49999\n"),
            ("proftpd-wa", FTP_WA_PORT, f"PassivePorts {PASV_WA[0]} {PASV_WA[-1]}\nMasqueradeAddress 127.0.0.1\n"),
        ):
            d = os.path.join(self.work, tag)
            os.makedirs(d)
            with open(os.path.join(d, "passwd"), "w") as f:
                f.write(f"{USER}:{hashed}:0:0::{self.home}:/bin/sh\n")
            os.chmod(os.path.join(d, "passwd"), 0o600)
            conf = os.path.join(d, "proftpd.conf")
            with open(conf, "w") as f:
                f.write(f"ServerType standalone\nServerName \"sshfwd-bench\"\nDefaultServer on\nPort {port}\n"
                        "DefaultAddress 127.0.0.1\nSocketBindTight on\nUseIPv6 off\nUser root\nGroup root\nRootLogin on\n"
                        f"AuthOrder mod_auth_file.c\nAuthUserFile {d}/passwd\nRequireValidShell off\n"
                        f"PidFile {d}/proftpd.pid\nScoreboardFile {d}/scoreboard\nDelayTable none\nWtmpLog off\n"
                        f"UseReverseDNS off\nSystemLog {d}/system.log\nTransferLog none\nAllowOverwrite on\n"
                        "UseSendfile off\nMaxInstances 1000\nTimeoutIdle 300\nTimeoutNoTransfer 300\n"
                        f"{extra}<IfModule mod_ident.c>\nIdentLookups off\n</IfModule>\n")
            self.spawn(self.srv, tag, ["/usr/sbin/proftpd", "-n", "-q", "-c", conf])
            poll(tag, 15, lambda port=port: self.connect_ok(self.srv, "127.0.0.1", port, b"220"))

        self.spawn(self.srv, "srvpy", ["python3", SRVPY, str(SINK_PORT), str(ECHO_PORT)])
        poll("source/sink", 15, lambda: self.connect_ok(self.srv, "127.0.0.1", ECHO_PORT))

        with open(os.path.join(self.work, "ssh_config"), "w") as f:
            f.write("# empty: neither ~/.ssh/config nor /etc/ssh/ssh_config\n")

    # -- SSH clients -----------------------------------------------------------
    def client_argv(self, impl, cipher, forwards):
        exe = self.a.sshfwd if impl == "sshfwd" else "/usr/bin/ssh"
        return [exe, "-N", "-F", os.path.join(self.work, "ssh_config"), "-i", self.key, "-p", "22",
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR", "-o", f"Ciphers={cipher}",
                *forwards, f"root@{SRV_IP}"]

    def env(self):
        e = dict(os.environ)
        e["HOME"] = self.work
        e.pop("SSH_AUTH_SOCK", None)
        return e

    def start_client(self, impl, cipher, what="all"):
        """Starts sshfwd or ssh with the forwards of `what` and waits until
        they all work."""
        if impl == "sshfwd":
            fw = ["-L", f"ftp/127.0.0.1:{L_FTP_SSHFWD}:127.0.0.1:{FTP_PORT}"]
            if what == "all":
                fw += ["-L", f"127.0.0.1:{L_PLAIN_SSHFWD}:127.0.0.1:{SINK_PORT}"]
            ftp_port = L_FTP_SSHFWD
        else:
            fw = ["-L", f"127.0.0.1:{L_FTP_SSH}:127.0.0.1:{FTP_WA_PORT}"]
            for p in PASV_WA:
                fw += ["-L", f"127.0.0.1:{p}:127.0.0.1:{p}"]
            if what == "all":
                fw += ["-R", f"127.0.0.1:{ACTIVE_WA_PORT}:127.0.0.1:{ACTIVE_WA_PORT}",
                       "-L", f"127.0.0.1:{L_PLAIN_SSH}:127.0.0.1:{SINK_PORT}"]
            ftp_port = L_FTP_SSH
        name = f"{impl}-{cipher.split('@')[0]}-{what}"
        argv = self.client_argv(impl, cipher, fw)
        if impl == "sshfwd":
            argv = self.heaptrack(name, argv)
        p = self.spawn(self.cli, name, argv, env=self.env())

        def ready():
            if p.poll() is not None:
                raise SystemExit(f"{name} exited {p.returncode}:\n{self.log_tail(name)}")
            if not self.connect_ok(self.cli, "127.0.0.1", ftp_port, b"220"):
                return False
            if impl == "ssh":
                if not all(self.listening(self.cli, q) for q in PASV_WA):
                    return False
                if what == "all" and not self.listening(self.srv, ACTIVE_WA_PORT):
                    return False
            if what == "all":
                return self.listening(self.cli, L_PLAIN_SSHFWD if impl == "sshfwd" else L_PLAIN_SSH)
            return True
        poll(name, 30, ready, interval=0.05)
        return p

    @staticmethod
    def heaptrack(name, argv):
        """With BENCH_HEAPTRACK=DIR: a heap profile of every sshfwd started
        (heaptrack's preload library; `env` so that `ip netns exec` does not
        take it)."""
        if not os.environ.get("BENCH_HEAPTRACK"):
            return argv
        raw = os.path.join(os.environ["BENCH_HEAPTRACK"], f"{name}-{time.time():.0f}.raw")
        return ["/usr/bin/env", "LD_PRELOAD=/usr/lib/heaptrack/libheaptrack_preload.so",
                f"DUMP_HEAPTRACK_OUTPUT={raw}"] + argv

    # -- measurements ------------------------------------------------------------
    @staticmethod
    def cpu_seconds(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def vm_hwm_mib(pid):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def run_client(self, ns, args, timeout, env=None):
        argv = ["ip", "netns", "exec", ns, "python3", FTPC] + [str(x) for x in args]
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                               env=env)
        except subprocess.TimeoutExpired:
            return {"error": f"client timed out after {timeout}s"}
        lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
        if r.returncode != 0 or not lines:
            return {"error": f"client failed ({r.returncode}): {(r.stderr or r.stdout).strip()[-400:]}"}
        return json.loads(lines[-1])

    def measure(self, proc, ns, args, timeout):
        """Runs one client; returns its JSON result plus the SSH client's CPU
        seconds spent meanwhile (None for direct)."""
        c0 = self.cpu_seconds(proc.pid) if proc else None
        res = self.run_client(ns, args, timeout)
        if proc is not None:
            res["cpu"] = self.cpu_seconds(proc.pid) - c0
            if proc.poll() is not None:
                res["error"] = (res.get("error") or "") + f" [{proc.bench_name} died: {self.log_tail(proc.bench_name, 5)}]"
        return res

    def add_row(self, group, name, unit, better, samples, cpu=None, note="", cpu_unit="s/GiB", detail=""):
        """samples: {impl: [value or None (failed)]}; cpu: {impl: [s/GiB]};
        detail: a remark listed under the table without a failure mark."""
        self.rows.append(dict(group=group, name=name, unit=unit, better=better, samples=samples,
                              cpu=cpu or {}, cpu_unit=cpu_unit, note=note, detail=detail))
        r = self.rows[-1]
        log(f"ROW {group} | {name}: " + ", ".join(f"{k}={fmt(median(ok(v)))}" for k, v in samples.items())
            + f" ratio={fmt(ratio(r))}")
        self.save_raw()

    def save_raw(self):
        with open(os.path.join(self.work, "rows.json"), "w") as f:
            json.dump(self.rows, f, indent=1)

    @staticmethod
    def order(run, impls):
        """Alternates which implementation goes first from run to run."""
        k = run % len(impls)
        return impls[k:] + impls[:k]

    # -- 1 and 2: bulk FTP and plain forwarding ----------------------------------------
    def bulk(self, cipher, procs):
        size = self.a.size
        gib = size / GIB
        short = cipher.split("@")[0]
        impls = ["sshfwd", "ssh", "direct"]
        for mode in ("pasv", "port"):
            for direction in ("get", "put"):
                samples = {i: [] for i in impls}
                cpu = {"sshfwd": [], "ssh": []}
                for run in range(self.a.runs):
                    for impl in self.order(run, impls):
                        if direction == "get":
                            name = "big.bin"
                        else:
                            name = f"up-{impl}.bin"
                        if impl == "sshfwd":
                            ns, host, port, dp = self.cli, "127.0.0.1", L_FTP_SSHFWD, 0
                        elif impl == "ssh":
                            ns, host, port, dp = self.cli, "127.0.0.1", L_FTP_SSH, ACTIVE_WA_PORT
                        else:
                            ns, host, port, dp = self.srv, "127.0.0.1", FTP_PORT, 0
                        res = self.measure(procs.get(impl), ns, ["bulk", host, port, mode, direction, name, size, dp],
                                           timeout=60 + size / (20 * MIB))
                        if direction == "put":
                            try:
                                os.unlink(os.path.join(self.home, name))
                            except FileNotFoundError:
                                pass
                        self.record(samples, cpu, impl, res, lambda r: r["bytes"] / MIB / r["seconds"], gib)
                label = {"get": "download", "put": "upload"}[direction]
                mname = {"pasv": "passive", "port": "active"}[mode]
                self.add_row(f"Bulk FTP ({short})", f"{size // MIB} MiB {label}, {mname}", "MiB/s", "higher",
                             samples, cpu)
        # plain forwarding
        for direction in ("get", "put"):
            samples = {"sshfwd": [], "ssh": []}
            cpu = {"sshfwd": [], "ssh": []}
            for run in range(self.a.runs):
                for impl in self.order(run, ["sshfwd", "ssh"]):
                    port = L_PLAIN_SSHFWD if impl == "sshfwd" else L_PLAIN_SSH
                    res = self.measure(procs[impl], self.cli, ["plain", "127.0.0.1", port, direction, size],
                                       timeout=60 + size / (20 * MIB))
                    self.record(samples, cpu, impl, res, lambda r: r["bytes"] / MIB / r["seconds"], gib)
            label = {"get": "download", "put": "upload"}[direction]
            self.add_row(f"Plain -L ({short})", f"{size // MIB} MiB {label}", "MiB/s", "higher", samples, cpu)

    def record(self, samples, cpu, impl, res, value, gib, cpu_value=None):
        self.raw.append(res)
        if res.get("error"):
            log("  FAIL", impl, res["error"])
            samples[impl].append(None)
            return
        samples[impl].append(value(res))
        if impl in cpu and res.get("cpu") is not None:
            if cpu_value:
                cpu[impl].append(cpu_value(res))
            elif gib:
                cpu[impl].append(res["cpu"] / gib)

    # -- 3: many small transfers ------------------------------------------------------
    def small(self, procs):
        n = self.a.small
        impls = ["sshfwd", "ssh", "direct"]
        for mode in ("pasv", "port"):
            samples = {i: [] for i in impls}
            cpu = {"sshfwd": [], "ssh": []}
            notes = []
            for run in range(self.a.runs):
                for impl in self.order(run, impls):
                    if impl == "sshfwd":
                        ns, port, dp = self.cli, L_FTP_SSHFWD, 0
                    elif impl == "ssh":
                        ns, port, dp = self.cli, L_FTP_SSH, ACTIVE_WA_PORT
                    else:
                        ns, port, dp = self.srv, FTP_PORT, 0
                    res = self.measure(procs.get(impl), ns, ["small", "127.0.0.1", port, mode, "small.bin", n, dp],
                                       timeout=60 + n * 0.2)
                    if res.get("error") and "done" in res:
                        res["error"] = f"{res['done']}/{n} transfers, then {res['error']}"
                    if res.get("error"):
                        notes.append(f"{impl}: {res['error'][:160]}")
                    self.record(samples, cpu, impl, res, lambda r: r["done"] / r["seconds"], None,
                                cpu_value=lambda r: r["cpu"] * 1000 / max(1, r["done"]))
            mname = {"pasv": "passive", "port": "active"}[mode]
            self.add_row("Small transfers", f"{n} x 4 KiB RETR, {mname}", "transfers/s", "higher", samples, cpu,
                         note="; ".join(notes), cpu_unit="ms/transfer")

    # -- 4: concurrency ----------------------------------------------------------------
    def concurrency(self, cipher):
        n, size = self.a.sessions, 4 * MIB
        impls = ["sshfwd", "ssh", "direct"]
        wall = {i: [] for i in impls}
        goodput = {i: [] for i in impls}
        fails = {i: [] for i in impls}
        rss = {"sshfwd": [], "ssh": []}
        cpu = {"sshfwd": [], "ssh": []}
        errors = {i: set() for i in impls}
        for run in range(self.a.runs):
            for impl in self.order(run, impls):
                proc = None
                if impl != "direct":
                    proc = self.start_client(impl, cipher, what="ftp")
                    ns, port = self.cli, (L_FTP_SSHFWD if impl == "sshfwd" else L_FTP_SSH)
                else:
                    ns, port = self.srv, FTP_PORT
                res = self.measure(proc, ns, ["conc", "127.0.0.1", port, n, "mid.bin", size], timeout=300)
                if proc is not None:
                    rss[impl].append(self.vm_hwm_mib(proc.pid))
                    self.stop(proc)
                self.raw.append(res)
                if "seconds" not in res:
                    log("  FAIL", impl, res.get("error"))
                    wall[impl].append(None)
                    goodput[impl].append(None)
                    fails[impl].append(n)
                    errors[impl].add(res.get("error", "")[:160])
                    continue
                wall[impl].append(res["seconds"])
                goodput[impl].append(res["bytes"] / MIB / res["seconds"])
                fails[impl].append(res["failures"])
                if res["failures"]:
                    errors[impl].add("; ".join(res["errors"])[:300])
                if impl in cpu and res["bytes"]:
                    cpu[impl].append(res["cpu"] / (res["bytes"] / GIB))
        parts = []
        for impl in impls:
            total = sum(x for x in fails[impl] if x)
            if total:
                parts.append(f"{impl}: {total} of {n * len(fails[impl])} sessions failed over "
                             f"{len(fails[impl])} run(s); errors seen: {' / '.join(sorted(errors[impl]))[:400]}")
        note = "; ".join(parts)
        self.add_row("Concurrency", f"{n} sessions x 4 MiB: wall time", "s", "lower", wall, cpu, note=note)
        self.add_row("Concurrency", f"{n} sessions x 4 MiB: goodput (bytes of completed sessions / wall)", "MiB/s",
                     "higher", goodput)
        self.add_row("Concurrency", f"{n} sessions x 4 MiB: failed sessions", "count", "lower", fails)
        self.add_row("Concurrency", f"{n} sessions x 4 MiB: peak RSS of client", "MiB", "lower", rss)

    # -- 5: start-up -------------------------------------------------------------------
    def startup(self, cipher):
        """Time from exec to the forward's listener accepting, and to the
        first byte echoed through it; with each client's default key
        exchange (what users get) and with the same one on both."""
        impls = ["sshfwd", "ssh"]
        runs = max(5, self.a.runs)
        for kex in (None, "curve25519-sha256"):
            first = {i: [] for i in impls}
            listen = {i: [] for i in impls}
            cpu = {i: [] for i in impls}
            for run in range(runs):
                for impl in self.order(run, impls):
                    fw = ["-L", f"127.0.0.1:{L_STARTUP}:127.0.0.1:{ECHO_PORT}"]
                    if kex:
                        fw += ["-o", f"KexAlgorithms={kex}"]
                    argv = self.client_argv(impl, cipher, fw)
                    res = self.run_client(self.cli, ["startup", L_STARTUP, 20, "--"] + argv, timeout=40)
                    self.raw.append(res)
                    if res.get("error") or res.get("seconds") is None:
                        log("  FAIL", impl, res.get("error"))
                        first[impl].append(None)
                        listen[impl].append(None)
                    else:
                        first[impl].append(res["seconds"] * 1000)
                        listen[impl].append(res["listening"] * 1000)
                        if res.get("cpu") is not None:
                            cpu[impl].append(res["cpu"] * 1000)
                    # The previous client must be gone before the port is reused.
                    poll("startup port free", 10, lambda: not self.listening(self.cli, L_STARTUP))
            what = f"KexAlgorithms={kex} on both" if kex else "default key exchange"
            self.add_row("Start-up", f"exec to first forwarded byte echoed ({what})", "ms", "lower", first, cpu,
                         cpu_unit="ms")
            self.add_row("Start-up", f"exec to listener accepting ({what})", "ms", "lower", listen)

    # -- 6: the FTP-to-SFTP bridge -------------------------------------------------------
    def start_bridge(self, cipher):
        """Starts `sshfwd --ftp-to-sftp` (session mode: FTP user = SSH user,
        password from a file) and waits until a login through it works."""
        pw = os.path.join(self.work, "bridge-password")
        with open(pw, "w") as f:
            f.write(BRIDGE_PASS + "\n")
        os.chmod(pw, 0o600)
        name = f"bridge-{cipher.split('@')[0]}-{time.monotonic_ns()}"
        argv = self.client_argv("sshfwd", cipher, ["--ftp-to-sftp", f"127.0.0.1:{L_BRIDGE}",
                                                   "-o", f"FtpToSftpPasswordFile={pw}"])
        argv = self.heaptrack(name, argv)
        p = self.spawn(self.cli, name, argv, env=self.env())

        def ready():
            if p.poll() is not None:
                raise SystemExit(f"{name} exited {p.returncode}:\n{self.log_tail(name)}")
            return self.connect_ok(self.cli, "127.0.0.1", L_BRIDGE, b"220")
        poll(name, 30, ready, interval=0.05)
        return p

    def sftp_argv(self, cipher):
        """OpenSSH's sftp with the same options as the SSH clients (its
        defaults: 64 requests of 32 KiB in flight)."""
        return ["/usr/bin/sftp", "-q", "-b", "-", "-F", os.path.join(self.work, "ssh_config"), "-i", self.key,
                "-P", "22", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", f"Ciphers={cipher}",
                f"root@{SRV_IP}"]

    def server_pids(self):
        return set(sh("ip", "netns", "pids", self.srv).split())

    def server_cpu(self):
        """CPU seconds of everything in the server namespace so far: live
        processes plus the children they reaped (sshd's per-connection
        processes, internal-sftp among them, and proftpd's per-session ones)."""
        total = 0.0
        for pid in self.server_pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += sum(int(x) for x in fields[11:15])
            except (OSError, ValueError, IndexError):
                pass
        return total / os.sysconf("SC_CLK_TCK")

    def measure_server(self, fn):
        """Runs fn() and adds the server namespace's CPU time it cost, once
        the per-connection processes it started have been reaped."""
        before = self.server_pids()
        c0 = self.server_cpu()
        res = fn()
        try:
            poll("server processes reaped", 10, lambda: self.server_pids() <= before, interval=0.05)
            res["server_cpu"] = self.server_cpu() - c0
        except TimeoutError:
            res["server_cpu"] = None
        return res

    def bridge(self, cipher):
        """Bridge vs OpenSSH's sftp get/put, and vs `-L ftp/` to proftpd, in
        one loop so that background load hits all three alike."""
        size = self.a.bridge_size
        gib = size / GIB
        short = cipher.split("@")[0]
        impls = ["sshfwd", "sftp", "ftp"]  # bridge, OpenSSH sftp, sshfwd -L ftp/
        procs = {"sshfwd": self.start_bridge(cipher), "ftp": self.start_client("sshfwd", cipher, what="ftp")}
        login = ["--login", f"root:{BRIDGE_PASS}"]
        src = os.path.join(self.home, "bridge.bin")
        try:
            for direction in ("get", "put"):
                samples = {i: [] for i in impls}
                cpu = {i: [] for i in impls}
                server = {i: [] for i in impls}
                split = {"sftp": [], "ssh": []}
                for run in range(self.a.runs):
                    for impl in self.order(run, impls):
                        up = os.path.join(self.home, f"up-{impl}.bin")
                        timeout = 60 + size / (20 * MIB)
                        if impl == "sshfwd":
                            target = src if direction == "get" else up
                            args = login + ["bulk", "127.0.0.1", L_BRIDGE, "pasv", direction, target, size]
                            res = self.measure_server(lambda: self.measure(procs[impl], self.cli, args, timeout))
                        elif impl == "ftp":
                            target = "bridge.bin" if direction == "get" else os.path.basename(up)
                            args = ["bulk", "127.0.0.1", L_FTP_SSHFWD, "pasv", direction, target, size]
                            res = self.measure_server(lambda: self.measure(procs[impl], self.cli, args, timeout))
                        else:
                            remote, local = (src, "/dev/null") if direction == "get" else (up, src)
                            args = ["sftp", direction, remote, local, size, "--"] + self.sftp_argv(cipher)
                            res = self.measure_server(lambda: self.run_client(self.cli, args, timeout, env=self.env()))
                        if direction == "put" and not res.get("error"):
                            try:
                                held = os.path.getsize(up)
                            except OSError:
                                held = None
                            if held != size:
                                res["error"] = f"server holds {held} bytes, sent {size}"
                        if direction == "put":
                            try:
                                os.unlink(up)
                            except FileNotFoundError:
                                pass
                        self.record(samples, cpu, impl, res, lambda r: r["bytes"] / MIB / r["seconds"], gib)
                        if not res.get("error") and res.get("server_cpu") is not None:
                            server[impl].append(res["server_cpu"] / gib)
                        if impl == "sftp" and not res.get("error"):
                            for k in split:
                                if res.get(f"{k}_cpu") is not None:
                                    split[k].append(res[f"{k}_cpu"] / gib)
                label = {"get": "download", "put": "upload"}[direction]
                ops = {"get": ("get", "RETR"), "put": ("put", "STOR")}[direction]
                m = lambda v: fmt(median(v))
                detail = (f"CPU s/GiB: bridge (sshfwd) {m(cpu['sshfwd'])}; OpenSSH sftp {m(split['sftp'])} + its "
                          f"ssh {m(split['ssh'])}; sshfwd -L ftp/ {m(cpu['ftp'])}. Server namespace (sshd with "
                          f"internal-sftp; proftpd for -L ftp/): bridge {m(server['sshfwd'])}, sftp "
                          f"{m(server['sftp'])}, -L ftp/ {m(server['ftp'])}")
                self.add_row(f"Bridge ({short})", f"{size // MIB} MiB {label} (FTP {ops[1]}): bridge vs OpenSSH "
                             f"sftp {ops[0]}", "MiB/s", "higher",
                             {"sshfwd": samples["sshfwd"], "ssh": samples["sftp"]},
                             {"sshfwd": cpu["sshfwd"], "ssh": cpu["sftp"]}, detail=detail)
                self.add_row(f"Bridge ({short})", f"{size // MIB} MiB {label} (FTP {ops[1]}): bridge vs sshfwd "
                             "-L ftp/ to proftpd", "MiB/s", "higher",
                             {"sshfwd": samples["sshfwd"], "ssh": samples["ftp"]},
                             {"sshfwd": cpu["sshfwd"], "ssh": cpu["ftp"]})
        finally:
            for p in procs.values():
                self.stop(p)

    def bridge_concurrency(self, cipher):
        """n bridged FTP sessions at once, each RETR of 1 MiB, against the
        same load through `-L ftp/` to proftpd: a fresh process for each run,
        so that its peak RSS is this load's."""
        n = self.a.sessions
        impls = ["sshfwd", "ftp"]
        wall = {i: [] for i in impls}
        fails = {i: [] for i in impls}
        rss = {i: [] for i in impls}
        cpu = {i: [] for i in impls}
        server = {i: [] for i in impls}
        errors = {i: set() for i in impls}
        for run in range(self.a.runs):
            for impl in self.order(run, impls):
                if impl == "sshfwd":
                    proc = self.start_bridge(cipher)
                    args = ["--login", f"root:{BRIDGE_PASS}", "conc", "127.0.0.1", L_BRIDGE, n,
                            os.path.join(self.home, "one.bin"), MIB]
                else:
                    proc = self.start_client("sshfwd", cipher, what="ftp")
                    args = ["conc", "127.0.0.1", L_FTP_SSHFWD, n, "one.bin", MIB]
                res = self.measure_server(lambda: self.measure(proc, self.cli, args, timeout=300))
                rss[impl].append(self.vm_hwm_mib(proc.pid))
                self.stop(proc)
                self.raw.append(res)
                if "seconds" not in res:
                    log("  FAIL", impl, res.get("error"))
                    wall[impl].append(None)
                    fails[impl].append(n)
                    errors[impl].add(res.get("error", "")[:160])
                    continue
                wall[impl].append(res["seconds"])
                fails[impl].append(res["failures"])
                if res["failures"]:
                    errors[impl].add("; ".join(res["errors"])[:300])
                if res["bytes"]:
                    cpu[impl].append(res["cpu"] / (res["bytes"] / GIB))
                    if res.get("server_cpu") is not None:
                        server[impl].append(res["server_cpu"] / (res["bytes"] / GIB))
        label = {"sshfwd": "bridge", "ftp": "-L ftp/"}
        note = "; ".join(f"{label[i]}: {sum(x for x in fails[i] if x)} of {n * len(fails[i])} sessions failed; "
                         f"errors seen: {' / '.join(sorted(errors[i]))[:400]}"
                         for i in impls if sum(x for x in fails[i] if x))
        name = f"{n} sessions x 1 MiB RETR: bridge vs sshfwd -L ftp/ to proftpd"
        two = lambda d: {"sshfwd": d["sshfwd"], "ssh": d["ftp"]}
        detail = (f"CPU s/GiB: sshfwd bridge {fmt(median(cpu['sshfwd']))}, sshfwd -L ftp/ {fmt(median(cpu['ftp']))}; "
                  f"server namespace (sshd, one internal-sftp process per bridged session; sshd and proftpd for "
                  f"-L ftp/): bridge {fmt(median(server['sshfwd']))}, -L ftp/ {fmt(median(server['ftp']))}")
        self.add_row("Bridge concurrency", f"{name}: wall time", "s", "lower", two(wall), two(cpu), note=note,
                     detail=detail)
        self.add_row("Bridge concurrency", f"{name}: failed sessions", "count", "lower", two(fails))
        self.add_row("Bridge concurrency", f"{name}: peak RSS of sshfwd", "MiB", "lower", two(rss))

    # -- the whole run -------------------------------------------------------------------
    # -- 7: a legitimate login under a pre-authentication flood ----------------------------
    def flood(self):
        """sshfwd-server against OpenSSH's sshd with its defaults (MaxStartups
        10:30:100, no per-source limit), each on 127.0.0.1 in the server
        namespace: 1,000 idle connections from 127.0.0.x (flood.py: every
        one the server closes is opened again), then a key login with
        OpenSSH's ssh from 127.0.0.1, timed from exec to "Authenticated to".
        Each run floods from its own source: sshfwd-server penalises the
        last one for minutes."""
        if not self.a.sshfwd_server:
            log("flood: no sshfwd-server binary (--sshfwd-server): skipped")
            return
        conf = os.path.join(self.work, "sshd_flood_config")
        with open(conf, "w") as f:
            # sshd's defaults for everything the flood meets: MaxStartups,
            # LoginGraceTime, no PerSourceMaxStartups (9.2 has none).
            f.write(f"Port {FLOOD_SSHD_PORT}\nListenAddress 127.0.0.1\nHostKey {self.hostkey}\n"
                    f"PidFile {self.work}/sshd-flood.pid\nAuthorizedKeysFile {self.work}/authorized_keys\n"
                    "StrictModes no\nUsePAM no\nPermitRootLogin yes\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nUseDNS no\nLogLevel INFO\n")
        servers = {
            "ssh": (FLOOD_SSHD_PORT, ["/usr/sbin/sshd", "-D", "-e", "-f", conf]),
            "sshfwd": (FLOOD_SSHFWD_SERVER_PORT,
                       [self.a.sshfwd_server, "-q", "--listen", f"127.0.0.1:{FLOOD_SSHFWD_SERVER_PORT}",
                        "--host-key", self.hostkey, "--authorized-keys", os.path.join(self.work, "authorized_keys")]),
        }
        samples = {i: [] for i in servers}
        why = {i: [] for i in servers}
        held = {i: [] for i in servers}
        for run in range(self.a.runs):
            source = f"127.0.0.{2 + run % 8}"
            for impl in self.order(run, list(servers)):
                port, argv = servers[impl]
                name = f"flood-server-{impl}-{run}"
                server = self.spawn(self.srv, name, argv)
                try:
                    poll(name, 15, lambda: self.connect_ok(self.srv, "127.0.0.1", port, b"SSH-"))
                    seconds, reason, status = self.login_under_flood(source, port)
                finally:
                    self.stop(server)
                samples[impl].append(seconds)
                if reason:
                    why[impl].append(reason)
                held[impl].append(status)
                log(f"  flood {impl} from {source}: login {fmt(seconds)} s {reason or ''}; flood {status}")
        names = {"ssh": "OpenSSH sshd (defaults)", "sshfwd": "sshfwd-server (defaults)"}
        notes = [f"{names[i]}: {'timed out' if w[0].startswith('no login') else 'refused'} in {len(w)} of "
                 f"{len(samples[i])} runs (ssh: {w[0]})" for i, w in why.items() if w]
        floods = "; ".join(f"{names[i]} had greeted {', '.join(str(h.get('greeted', '?')) for h in held[i])} of "
                           f"the flood's connections and closed {', '.join(str(h.get('reconnects', '?')) for h in held[i])}"
                           " (each reopened)" for i in servers)
        self.add_row("Flood", f"key login from 127.0.0.1 under {FLOOD_CONNECTIONS:,} idle pre-auth connections "
                     "from 127.0.0.x: time to authenticated", "s", "lower", samples,
                     note="; ".join(notes), detail=f"at the login ({self.a.runs} run(s)): {floods}")

    def login_under_flood(self, source, port):
        """Floods `port` from `source`, waits until the flood has its
        connections, times a key login, stops the flood. (seconds or None,
        why not, the flood's status at the login)."""
        flood = subprocess.Popen(["ip", "netns", "exec", self.srv, "python3", FLOODPY, source, "127.0.0.1", str(port),
                                  str(FLOOD_CONNECTIONS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        with open(os.path.join(self.work, "pids"), "a") as f:
            f.write(f"{flood.pid}\n")
        last = {}

        def follow():
            for line in flood.stdout:
                try:
                    last.update(json.loads(line))
                except ValueError:
                    pass
        threading.Thread(target=follow, daemon=True).start()
        try:
            # Every connection made once, and the server's answer seen on
            # them (banners read, refusals replaced).
            poll("flood connected", 30, lambda: last.get("open", 0) + last.get("reconnects", 0)
                 >= FLOOD_CONNECTIONS and flood.poll() is None, interval=0.1)
            time.sleep(1)
            status = dict(last)
            seconds, reason = self.timed_login(port)
            return seconds, reason, status
        finally:
            try:
                flood.stdin.close()
            except OSError:
                pass
            try:
                flood.wait(10)
            except subprocess.TimeoutExpired:
                flood.kill()
                flood.wait(5)

    def timed_login(self, port, timeout=20):
        """OpenSSH's ssh with the bench key to 127.0.0.1:port in the server
        namespace: seconds from exec to "Authenticated to", or None and the
        last thing ssh said."""
        argv = ["ip", "netns", "exec", self.srv, "/usr/bin/ssh", "-v", "-N", "-F", os.path.join(self.work, "ssh_config"),
                "-i", self.key, "-p", str(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", f"ConnectTimeout={timeout}", "root@127.0.0.1"]
        started = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, env=self.env(), start_new_session=True)
        found = {}
        lines = []

        def read():
            for line in p.stderr:
                lines.append(line.strip())
                if "Authenticated to" in line:
                    found["at"] = time.monotonic() - started
                    return
        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        if p.poll() is None:
            p.kill()
        p.wait(5)
        if "at" in found:
            return found["at"], None
        said = [l for l in lines if not l.startswith("debug")] or lines or ["nothing"]
        return None, said[-1] if p.returncode is not None and not t.is_alive() else f"no login within {timeout}s"

    def run(self):
        self.setup()
        only = set(self.a.only.split(",")) if self.a.only else {"bulk", "small", "conc", "startup", "bridge", "flood"}
        ciphers = self.a.ciphers.split(",")
        for ci, cipher in enumerate(ciphers):
            if not ({"bulk", "small"} & only) or (ci > 0 and "bulk" not in only):
                continue
            procs = {impl: self.start_client(impl, cipher) for impl in ("sshfwd", "ssh")}
            if "bulk" in only:
                self.bulk(cipher, procs)
            if ci == 0 and "small" in only:
                self.small(procs)
            for p in procs.values():
                self.stop(p)
        if "conc" in only:
            self.concurrency(ciphers[0])
        if "startup" in only:
            self.startup(ciphers[0])
        if "bridge" in only:
            for cipher in ciphers:
                self.bridge(cipher)
            self.bridge_concurrency(ciphers[0])
        if "flood" in only:
            self.flood()


# ---------------------------------------------------------------------------
# Report

def ok(v):
    return [x for x in v if x is not None]


def fmt(x):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def ratio(row):
    """> 1 means sshfwd is better: sshfwd/ssh for higher-is-better values,
    ssh/sshfwd for times, counts and memory."""
    a, b = median(ok(row["samples"].get("sshfwd", []))), median(ok(row["samples"].get("ssh", [])))
    if a is None or b is None:
        return None
    if row["unit"] == "count":
        return None
    if row["better"] == "higher":
        return a / b if b else None
    return b / a if a else None


def cell(v):
    good = ok(v)
    if not v:
        return "–"
    if good and all(isinstance(x, int) for x in good):
        return ", ".join(str(x) for x in v) + " (per run)" if len(set(v)) > 1 else str(v[0])
    m = fmt(median(good)) if good else "FAIL"
    if len(good) < len(v):
        m += f" ({len(v) - len(good)}/{len(v)} failed)"
    if len(good) > 1:
        m += f" <sub>{fmt(min(good))}–{fmt(max(good))}</sub>"
    return m


def cpu_cell(v, row):
    if v is None:
        return "–"
    unit = row.get("cpu_unit", "s/GiB")
    return fmt(v) + ("" if unit == "s/GiB" else f" {unit}")


def group_rank(g):
    for i, prefix in enumerate(("Bulk FTP (aes", "Bulk FTP (chacha", "Bulk", "Plain -L (aes", "Plain", "Small",
                                "Concurrency", "Start-up", "Bridge (aes", "Bridge (chacha", "Bridge", "Flood")):
        if g.startswith(prefix):
            return i
    return 99


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def cmd(*argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except Exception:
            return "?"
    return {
        "uname": " ".join(platform.uname()[i] for i in (0, 2, 4)),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "sshd": "OpenSSH " + cmd("dpkg-query", "-W", "-f=${Version}", "openssh-server"),
        "ssh": cmd("ssh", "-V"),
        "proftpd": cmd("/usr/sbin/proftpd", "-v"),
        "python": platform.python_version(),
        "load": "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg()),
    }


def report(rows, args, started, finished, m=None):
    m = m or machine()
    rows = sorted(rows, key=lambda r: group_rank(r["group"]))
    lines = []
    title = "# sshfwd vs OpenSSH: benchmark results" + (" (quick mode)" if args.quick else "")
    lines += [title, ""]
    lines += [f"Generated by `bench/run{' --quick' if args.quick else ''}` on {finished:%Y-%m-%d %H:%M} UTC "
              f"(run took {(finished - started).total_seconds() / 60:.1f} min).", ""]
    lines += [f"- Machine: `{m['uname']}`, {m['cpu']}, {m['cores']} cores (shared: other jobs were running, "
              "so compare only within this run)" + (f"; load average at the end (1/5/15 min): {m['load']}"
                                                     if m.get("load") else ""),
              f"- SSH server: {m['sshd']} (Debian package version); OpenSSH client: {m['ssh']}",
              f"- FTP server: {m['proftpd']}; clients: Python {m['python']} ftplib / sockets, 1 MiB blocks, "
              "data generated and discarded on the fly; server files in tmpfs",
              f"- sshfwd: commit {args.commit}",
              f"- Medians of {args.runs} run(s) per cell (start-up: {max(5, args.runs)}); small print: min–max. "
              f"Bulk size {args.size // MIB} MiB, {args.small} small RETRs, {args.sessions} concurrent sessions"
              + (f", bridge transfers {args.bridge_size // MIB} MiB." if getattr(args, "bridge_size", None) else "."),
              ""]
    lines += ["**Ratio: > 1 means sshfwd is better.** For throughput rows (MiB/s, transfers/s) it is "
              "sshfwd ÷ OpenSSH; for time and memory rows (s, ms, MiB) it is OpenSSH ÷ sshfwd. "
              "CPU columns: CPU time (user+system, from /proc/PID/stat) of the SSH client process: seconds "
              "per GiB moved, or as the cell says (ms per small transfer; ms from exec to the first echoed byte); "
              "and their ratio OpenSSH ÷ sshfwd (> 1: sshfwd uses less CPU).", ""]
    lines += ["OpenSSH column: what a user would do without sshfwd: `ssh -L` for the control port plus one "
              f"`ssh -L` per pinned passive port ({len(PASV_WA)} ports, proftpd `PassivePorts` "
              f"{PASV_WA[0]}–{PASV_WA[-1]}, `MasqueradeAddress 127.0.0.1`), and for active mode a pinned client "
              "data port with `ssh -R`. sshfwd column: `sshfwd -L ftp/…` (plain `-L` for the plain rows). "
              "Direct: the same FTP client inside the server namespace talking to proftpd without SSH.", ""]
    if any(r["group"].startswith("Bridge") for r in rows):
        lines += ["Bridge rows: the sshfwd column is the FTP-to-SFTP bridge (`sshfwd -N --ftp-to-sftp`, session "
                  "mode, sshd's internal-sftp), driven by the same ftplib client (passive); the OpenSSH column "
                  "holds the baseline the row names: OpenSSH's `sftp` get/put (batch from a pipe, timed from the "
                  "command to its completion, the download written to /dev/null, the upload read from tmpfs; "
                  "its CPU column is sftp plus its ssh), or `sshfwd -L ftp/` to proftpd on the SSH host (its CPU "
                  "column is that sshfwd's). Targets: ≥ 1.0 against sftp (aim 1.5), ≥ 0.8 against -L ftp/.", ""]
    lines += ["| Group | Row | unit | sshfwd | OpenSSH | direct (no SSH) | ratio (>1: sshfwd better) "
              "| client CPU sshfwd | client CPU ssh | CPU ratio |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s = r["samples"]
        cs, co = median(r["cpu"].get("sshfwd", [])), median(r["cpu"].get("ssh", []))
        cr = co / cs if cs and co else None
        rr = ratio(r)
        lines.append(f"| {r['group']} | {r['name']} | {r['unit']} | {cell(s.get('sshfwd', []))} | "
                     f"{cell(s.get('ssh', []))} | {cell(s.get('direct', []))} | "
                     f"{('**' + fmt(rr) + '**' + (' ⚠' if r.get('note') else '')) if rr is not None else '–'} | "
                     f"{cpu_cell(cs, r)} | {cpu_cell(co, r)} | {fmt(cr)} |")
    notes = [f"- {r['group']} / {r['name']}: {r['note']}" for r in rows if r.get("note")]
    if notes:
        lines += ["", "⚠ Failures and notes (a ratio next to failures compares unequal work):", ""] + notes
    details = [f"- {r['group']} / {r['name']}: {r['detail']}" for r in rows if r.get("detail")]
    if details:
        lines += ["", "Where the CPU goes (medians, seconds per GiB moved):", ""] + details
    lines += ["", "![ratios](" + os.path.basename(args.png) + ")", ""]
    with open(args.md, "w") as f:
        f.write("\n".join(lines))
    with open(args.json, "w") as f:
        json.dump({"machine": m, "started": started.isoformat(), "finished": finished.isoformat(),
                   "args": {k: v for k, v in vars(args).items() if k in ("quick", "runs", "size", "small", "sessions",
                                                                          "ciphers", "commit", "bridge_size")},
                   "rows": rows}, f, indent=1)
    chart(rows, args, m, finished)
    log("wrote", args.md, args.png, args.json)


def chart(rows, args, m, finished):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no chart")
        return
    items = [(f"{r['group']}: {r['name']}", ratio(r)) for r in rows if ratio(r) is not None]
    labels = [i[0] for i in items][::-1]
    vals = [i[1] for i in items][::-1]
    fig, ax = plt.subplots(figsize=(12, 0.36 * len(items) + 1.8))
    colors = ["#2a9d4a" if v >= 1 else "#d1495b" for v in vals]
    ax.barh(range(len(vals)), [v - 1 for v in vals], left=1, color=colors)
    ax.set_xscale("log")
    ax.set_yticks(range(len(vals)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.axvline(1.0, color="black", linewidth=1)
    for i, v in enumerate(vals):
        ax.text(v, i, f" {v:.2f} " if v >= 1 else f"{v:.2f} ", va="center", ha="left" if v >= 1 else "right",
                fontsize=7)
    lo, hi = min(vals + [1.0]), max(vals + [1.0])
    ax.set_xlim(lo / 1.6, hi * 1.6)
    ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if lo / 1.6 <= t <= hi * 1.6]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("ratio, log scale: > 1 (green) means sshfwd is better\n"
                  "(throughput: sshfwd/ssh; time and memory: ssh/sshfwd)", fontsize=9)
    ax.set_title(f"sshfwd vs OpenSSH, same run, {finished:%Y-%m-%d}, {m['cores']} cores, {m['cpu'][:48]}"
                 + (" (quick mode)" if args.quick else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work")
    ap.add_argument("--ns")
    ap.add_argument("--sshfwd")
    ap.add_argument("--replot", metavar="RESULTS_JSON", help="rewrite the .md and .png from a results .json")
    ap.add_argument("--commit", default="?")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--size-mib", type=int)
    ap.add_argument("--small", type=int)
    ap.add_argument("--sessions", type=int)
    ap.add_argument("--ciphers", default="aes128-gcm@openssh.com,chacha20-poly1305@openssh.com")
    ap.add_argument("--only", default="", help="comma list of bulk,small,conc,startup,bridge,flood")
    ap.add_argument("--sshfwd-server", help="sshfwd-server binary for the flood group")
    ap.add_argument("--bridge-size-mib", type=int)
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()
    a.runs = a.runs or (1 if a.quick else 3)
    a.size = (a.size_mib or (256 if a.quick else 1024)) * MIB
    a.bridge_size = (a.bridge_size_mib or (256 if a.quick else 512)) * MIB
    a.small = a.small or (500 if a.quick else 2000)
    a.sessions = a.sessions or 200
    base = "results-quick" if a.quick else "results"
    os.makedirs(a.out, exist_ok=True)
    a.md = os.path.join(a.out, base + ".md")
    a.png = os.path.join(a.out, base + ".png")
    a.json = os.path.join(a.out, base + ".json")

    if a.replot:
        with open(a.replot) as f:
            d = json.load(f)
        for k, v in d["args"].items():
            setattr(a, k, v)
        base = "results-quick" if a.quick else "results"
        a.md, a.png, a.json = (os.path.join(a.out, base + ext) for ext in (".md", ".png", ".json"))
        report(d["rows"], a, datetime.datetime.fromisoformat(d["started"]),
               datetime.datetime.fromisoformat(d["finished"]), d["machine"])
        return
    if not (a.work and a.ns and a.sshfwd):
        ap.error("--work, --ns and --sshfwd are required (use bench/run)")

    def on_signal(sig, frame):
        raise SystemExit(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    b = Bench(a)
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        b.run()
    finally:
        b.teardown()
        if b.rows:
            report(b.rows, a, started, datetime.datetime.now(datetime.timezone.utc))


if __name__ == "__main__":
    main()
