#!/usr/bin/env python3
"""cairn against NSD and Knot: same data, same load, one run.

Each server in turn is started on 127.0.0.1 (a free port of its own), pinned
to core 0 with one worker; dnsperf runs pinned to core 1. For each server:

1. UDP closed loop (``-c 8 -q 100``): queries/s and average latency;
2. CPU time per query at a fixed offered load (``-Q 100000``): utime+stime
   of the server's whole process tree from /proc, before and after, divided
   by the queries dnsperf saw answered;
3. TCP closed loop (``-m tcp``): queries/s and average latency;
4. peak RSS: VmHWM summed over the process tree, after the runs.

Before measuring, a handful of sample queries check that the server answers
what the others answer (rcode, AA, answer count); a mismatch is printed as a
warning and listed in the results. Every server started here is stopped by
its PID, also on errors and Ctrl-C. Exit status 1 when a server fails to
start, to answer, or to be measured.

Standard library only. Normally run through ``bench/run``, which installs
dnsperf/NSD/Knot and builds cairn first; see bench/README.md.
"""

import argparse
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import gen

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
SERVER_CPU, LOADGEN_CPU = "0", "1"
FIXED_LOAD_QPS = 100_000
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A server or the load generator did not do what the benchmark needs."""


# --------------------------------------------------------------------------
# A minimal DNS client: enough to poll readiness and compare answers.

QTYPES = {"A": 1, "NS": 2, "SOA": 6, "TXT": 16, "AAAA": 28, "SRV": 33, "OPT": 41}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


@dataclass(frozen=True)
class Reply:
    """A reply, reduced to what can be compared between servers: the rcode,
    the AA and TC flags, and each section's records as sorted text (owner
    lowercased, TTL, type, data). The OPT record is left out of additional."""

    rcode: str
    aa: bool
    tc: bool
    answer: tuple
    authority: tuple
    additional: tuple

    def key(self):
        """What must match between servers: rcode, AA, the answer records,
        the additional records and the SOA in authority. (NSD also puts the
        zone's NS in authority on positive answers; Knot does not, and
        neither is wrong, so NS in authority is not compared.)"""
        soa = tuple(rr for rr in self.authority if " SOA " in rr)
        return (self.rcode, self.aa, self.answer, self.additional, soa)

    def __str__(self):
        flags = "aa" if self.aa else "--"
        if self.tc:
            flags += ",tc"
        return (f"{self.rcode} {flags} an={len(self.answer)} ns={len(self.authority)} "
                f"ar={len(self.additional)}")


TYPE_NAMES = {v: k for k, v in QTYPES.items()}


def encode_query(qid, name, qtype):
    wire = b"".join(bytes([len(label)]) + label.encode("ascii")
                    for label in name.rstrip(".").split(".") if label) + b"\0"
    # RD=0, one question, an EDNS0 OPT record (1232-byte buffer) in additional.
    header = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 1)
    opt = b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    return header + wire + struct.pack(">HH", QTYPES[qtype], 1) + opt


def _read_name(packet, pos):
    """A possibly compressed name at ``pos``: (text, position after it)."""
    labels, end, hops = [], None, 0
    while True:
        length = packet[pos]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | packet[pos + 1]
            hops += 1
            if hops > 64:
                raise ValueError("compression loop")
            continue
        pos += 1
        if length == 0:
            return ".".join(labels).lower() + ".", end if end is not None else pos
        labels.append(packet[pos:pos + length].decode("ascii", "replace"))
        pos += length


def _rdata(packet, rtype, start, length):
    data = packet[start:start + length]
    if rtype == 1 and length == 4:
        return socket.inet_ntop(socket.AF_INET, data)
    if rtype == 28 and length == 16:
        return socket.inet_ntop(socket.AF_INET6, data)
    if rtype == 2:
        return _read_name(packet, start)[0]
    if rtype == 33:
        prio, weight, port = struct.unpack(">HHH", data[:6])
        return f"{prio} {weight} {port} {_read_name(packet, start + 6)[0]}"
    if rtype == 6:
        mname, pos = _read_name(packet, start)
        rname, pos = _read_name(packet, pos)
        # The serial is each server's own business (cairn's is a revision).
        _serial, *timers = struct.unpack(">IIIII", packet[pos:pos + 20])
        return f"{mname} {rname} {' '.join(map(str, timers))}"
    return data.hex()


def decode_reply(qid, packet):
    try:
        rid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", packet[:12])
        if rid != qid or not flags & 0x8000:
            return None
        pos = 12
        for _ in range(qd):
            pos = _read_name(packet, pos)[1] + 4
        sections = []
        for count in (an, ns, ar):
            records = []
            for _ in range(count):
                owner, pos = _read_name(packet, pos)
                rtype, _rclass, ttl, length = struct.unpack(">HHIH", packet[pos:pos + 10])
                pos += 10
                if rtype != 41:
                    records.append(f"{owner} {ttl} {TYPE_NAMES.get(rtype, rtype)} "
                                   f"{_rdata(packet, rtype, pos, length)}")
                pos += length
            sections.append(tuple(sorted(records)))
    except (struct.error, IndexError, ValueError):
        return None
    return Reply(rcode=RCODES.get(flags & 0xF, str(flags & 0xF)), aa=bool(flags & 0x0400),
                 tc=bool(flags & 0x0200), answer=sections[0], authority=sections[1],
                 additional=sections[2])


def query(port, name, qtype, tcp=False, timeout=1.0):
    """One query to 127.0.0.1:port; the reply's header, or None on timeout
    or a connection error."""
    qid = int.from_bytes(os.urandom(2), "big")
    msg = encode_query(qid, name, qtype)
    try:
        if tcp:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                s.sendall(struct.pack(">H", len(msg)) + msg)
                data = b""
                while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
                    chunk = s.recv(65535)
                    if not chunk:
                        return None
                    data += chunk
                return decode_reply(qid, data[2:])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(msg, ("127.0.0.1", port))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                reply = decode_reply(qid, s.recv(65535))
                if reply:
                    return reply
    except OSError:
        return None
    return None


def sample_queries(data):
    """(label, name, type, tcp) for the cross-server answer check."""
    z = gen.ZONE
    first, last = gen.service_label(1), gen.service_label(data.services)
    return [
        ("service A", f"{first}.{z}", "A", False),
        ("service AAAA", f"{first}.{z}", "AAAA", False),
        ("service SRV", f"{first}.{z}", "SRV", False),
        ("service SRV over TCP", f"{first}.{z}", "SRV", True),
        ("last service A", f"{last}.{z}", "A", False),
        ("mixed-case name A", f"{first.upper()}.{z.upper()}", "A", False),
        ("SRV target A", f"i0.{first}.{z}", "A", False),
        ("SRV target AAAA", f"i0.{first}.{z}", "AAAA", False),
        ("SRV target SRV (NODATA)", f"i0.{first}.{z}", "SRV", False),
        ("service TXT (NODATA)", f"{first}.{z}", "TXT", False),
        ("apex SOA", z, "SOA", False),
        ("apex NS", z, "NS", False),
        ("apex A (NODATA)", z, "A", False),
        ("missing name (NXDOMAIN)", f"nx00000000.{z}", "A", False),
        ("below a target (NXDOMAIN)", f"x.i0.{first}.{z}", "A", False),
        ("outside the zone", "example.org", "A", False),
    ]


# --------------------------------------------------------------------------
# Process-tree accounting from /proc.

def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name may contain spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2:].split()


def process_tree(root):
    """The PID ``root`` and all its descendants that are alive now."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(_stat_fields(entry)[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def cpu_seconds(root):
    """utime+stime of every thread of every process in the tree (the
    per-process /proc/PID/stat already sums its threads)."""
    total = 0
    for pid in process_tree(root):
        try:
            f = _stat_fields(pid)
            total += int(f[11]) + int(f[12])
        except (OSError, ValueError, IndexError):
            pass
    return total / CLK_TCK


def peak_rss_kib(root):
    """VmHWM summed over the process tree, in KiB."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


# --------------------------------------------------------------------------
# The servers: each writes its own config under its work directory and is
# run in the foreground, never touching /etc or the distro's services.

@dataclass
class Server:
    name: str
    title: str
    binary: str
    workdir: str = ""
    port: int = 0
    proc: subprocess.Popen = None
    # pid -> start time of every process seen in the server's tree, so that a
    # PID reused after the server is gone is never signalled.
    pids_seen: dict = field(default_factory=dict)
    # The core the server is pinned to (taskset); None runs it unpinned.
    cpu: str = SERVER_CPU

    def prepare(self, workdir, data, port):
        """Writes the config and returns the command line (without taskset)."""
        raise NotImplementedError

    def version(self):
        raise NotImplementedError

    def start(self, workdir, data, port):
        self.workdir, self.port = workdir, port
        os.makedirs(workdir, exist_ok=True)
        argv, env = self.prepare(workdir, data, port)
        log = open(os.path.join(workdir, "server.log"), "wb")
        pin = ["taskset", "-c", self.cpu] if self.cpu is not None else []
        self.proc = subprocess.Popen(pin + argv, cwd=workdir,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=env, start_new_session=True)
        log.close()

    def log_tail(self, lines=15):
        try:
            with open(os.path.join(self.workdir, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:]).rstrip() or "(empty log)"
        except OSError:
            return "(no log)"

    def wait_ready(self, data, timeout):
        """Polls the last service's A record until the server answers it
        authoritatively, the process exits, or ``timeout`` seconds pass."""
        name = data.service(data.services)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.title} exited before answering ({_exit_status(self.proc)}); "
                                 f"its log:\n{self.log_tail()}")
            last = query(self.port, name, "A", timeout=0.2)
            if last and last.rcode == "NOERROR" and last.aa and last.answer:
                self.pids_seen.update(_with_start_times(process_tree(self.proc.pid)))
                return
            time.sleep(0.02)
        raise BenchError(f"{self.title} did not answer {name} A within {timeout:.0f} s "
                         f"(last reply: {last or 'none'}); its log:\n{self.log_tail()}")

    def check_alive(self, data, after):
        """Raises when the server has exited or no longer answers, over UDP
        and over TCP, a query it answered before ``after``."""
        if self.proc.poll() is not None:
            raise BenchError(f"{self.title} exited during {after} ({_exit_status(self.proc)}); "
                             f"its log:\n{self.log_tail()}")
        name = data.service(1)
        udp = any(query(self.port, name, "A", timeout=0.5) for _ in range(3))
        tcp = query(self.port, name, "A", tcp=True, timeout=1.0)
        if not (udp and tcp):
            raise BenchError(f"{self.title} stopped answering {name} A over "
                             f"{'UDP and TCP' if not (udp or tcp) else 'UDP' if not udp else 'TCP'} "
                             f"after {after} (the process is still running); its log:\n{self.log_tail()}")

    def stop(self):
        """SIGTERM to the server, SIGKILL after 5 s; then any process of its
        tree still alive (NSD's children), each by its PID."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.pids_seen.update(_with_start_times(process_tree(self.proc.pid)))
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        for pid, started in sorted(self.pids_seen.items()):
            while _still_running(pid, started) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _still_running(pid, started):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.proc = None


def _exit_status(proc):
    code = proc.returncode
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    if code == 0:
        return "status 0: a clean exit, which is what a server does on SIGTERM/SIGINT"
    return f"status {code}"


def _with_start_times(pids):
    seen = {}
    for pid in pids:
        try:
            seen[pid] = _stat_fields(pid)[19]
        except (OSError, IndexError):
            pass
    return seen


def _still_running(pid, started):
    """True while ``pid`` is the same process we saw (same start time) and
    not a zombie."""
    try:
        f = _stat_fields(pid)
    except (OSError, IndexError):
        return False
    return f[19] == started and f[0] != "Z"


class Cairn(Server):
    def prepare(self, workdir, data, port):
        cfg = os.path.join(workdir, "cairn.toml")
        with open(cfg, "w") as f:
            f.write(f'zones_dir = "{data.zones_dir}"\n'
                    f'data_dir = "{os.path.join(workdir, "data")}"\n'
                    f'[dns]\nlisten = ["127.0.0.1:{port}"]\n'
                    f'[admin]\nsocket = "{os.path.join(workdir, "admin.sock")}"\n'
                    f'[log]\nlevel = "warn"\n')
        # One worker: tokio's runtime builder honours TOKIO_WORKER_THREADS.
        env = dict(os.environ, TOKIO_WORKER_THREADS="1")
        return [self.binary, "serve", "--config", cfg], env

    def version(self):
        out = (_output([self.binary, "--version"]) or "cairn").splitlines()[0]
        rev = _output(["git", "-C", REPO_DIR, "rev-parse", "--short", "HEAD"])
        dirty = _output(["git", "-C", REPO_DIR, "status", "--porcelain", "--untracked-files=no"])
        built = time.strftime("%Y-%m-%d %H:%M", time.gmtime(os.path.getmtime(self.binary)))
        if not os.path.realpath(self.binary).startswith(os.path.realpath(REPO_DIR) + os.sep) \
                and not os.environ.get("CARGO_TARGET_DIR"):
            # Built elsewhere: this work tree's revision says nothing about it.
            return f"{out} ({self.binary}, built {built} UTC)"
        return (f"{out} (binary built {built} UTC; work tree at git {rev or '?'}"
                f"{'+dirty' if dirty else ''})")


class Nsd(Server):
    def prepare(self, workdir, data, port):
        shutil.copy(data.zone_file, os.path.join(workdir, f"{gen.ZONE}.zone"))
        cfg = os.path.join(workdir, "nsd.conf")
        with open(cfg, "w") as f:
            f.write(f"""server:
    server-count: 1
    ip-address: 127.0.0.1@{port}
    username: ""
    chroot: ""
    zonesdir: "{workdir}"
    database: ""
    zonelistfile: "{workdir}/zone.list"
    xfrdfile: "{workdir}/xfrd.state"
    xfrdir: "{workdir}"
    pidfile: "{workdir}/nsd.pid"
    logfile: "{workdir}/nsd.log"
    verbosity: 0
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: {gen.ZONE}
    zonefile: {gen.ZONE}.zone
""")
        return [self.binary, "-d", "-c", cfg], None

    def log_tail(self, lines=15):
        own = super().log_tail(lines)
        try:
            with open(os.path.join(self.workdir, "nsd.log"), errors="replace") as f:
                return own + "\n" + "".join(f.readlines()[-lines:]).rstrip()
        except OSError:
            return own

    def version(self):
        out = _output([self.binary, "-v"], stderr=True)
        return out.splitlines()[0] if out else "NSD"


class Knot(Server):
    def prepare(self, workdir, data, port):
        shutil.copy(data.zone_file, os.path.join(workdir, f"{gen.ZONE}.zone"))
        cfg = os.path.join(workdir, "knot.conf")
        with open(cfg, "w") as f:
            f.write(f"""server:
    rundir: "{workdir}"
    pidfile: "{workdir}/knot.pid"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{workdir}"
control:
    listen: "{workdir}/knot.sock"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{workdir}"
    file: "%s.zone"
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: {gen.ZONE}
""")
        return [self.binary, "-c", cfg], None

    def version(self):
        return _output([self.binary, "-V"]) or "Knot DNS"


def _output(argv, stderr=False):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return ((r.stdout or "") + (r.stderr if stderr else "")).strip()


def find_binary(name, *candidates):
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if not found:
        raise BenchError(f"{name} not found; run bench/run, which installs it")
    return found


def make_server(name, cairn_bin):
    if name == "cairn":
        if not os.access(cairn_bin, os.X_OK):
            raise BenchError(f"{cairn_bin} not found; build it with `cargo build --release`")
        return Cairn("cairn", "cairn", cairn_bin)
    if name == "nsd":
        return Nsd("nsd", "NSD", find_binary("nsd"))
    if name == "knot":
        return Knot("knot", "Knot", find_binary("knotd"))
    raise BenchError(f"unknown server {name!r}: --servers takes cairn, nsd, knot")


# --------------------------------------------------------------------------
# dnsperf.

@dataclass
class Run:
    completed: int
    lost: int
    qps: float
    latency_s: float
    rcodes: dict = field(default_factory=dict)  # rcode name -> share of answers, in %
    response_bytes: int = 0
    cpu_s: float = 0.0      # the server's CPU time during the run
    foreign_s: float = 0.0  # busy time of the server's core not charged to the server


DNSPERF_VERSION = ["?"]


def dnsperf(port, data, duration, extra, raw_path):
    argv = ["taskset", "-c", LOADGEN_CPU, "dnsperf", "-s", "127.0.0.1", "-p", str(port),
            "-d", data.query_file, "-l", str(duration), "-c", "8", "-q", "100", "-T", "1"] + extra
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    except subprocess.TimeoutExpired:
        raise BenchError(f"dnsperf did not finish: {shlex.join(argv)}")
    with open(raw_path, "w") as f:
        f.write(f"$ {shlex.join(argv)}\n{r.stdout}{r.stderr}")
    out = r.stdout + r.stderr
    version = re.search(r"^Version\s+(\S+)", out, re.M)
    if version:
        DNSPERF_VERSION[0] = version.group(1)
    completed = re.search(r"Queries completed:\s+(\d+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    qps = re.search(r"Queries per second:\s+([\d.]+)", out)
    lat = re.search(r"Average Latency \(s\):\s+([\d.]+)", out)
    if r.returncode != 0 or not (completed and qps and lat):
        raise BenchError(f"dnsperf failed (status {r.returncode}): {shlex.join(argv)}\n"
                         f"{out.strip()[-1500:]}")
    codes = re.search(r"Response codes:\s+(.*)", out)
    size = re.search(r"Average packet size:.*response\s+(\d+)", out)
    return Run(int(completed.group(1)), int(lost.group(1)) if lost else 0,
               float(qps.group(1)), float(lat.group(1)),
               rcodes={m.group(1): float(m.group(2)) for m in
                       re.finditer(r"([A-Z]+) \d+ \(([\d.]+)%\)", codes.group(1) if codes else "")},
               response_bytes=int(size.group(1)) if size else 0)


@dataclass
class Result:
    server: Server
    version: str
    udp: Run = None
    fixed: Run = None
    tcp: Run = None
    rss_kib: int = 0
    answers: dict = field(default_factory=dict)
    failed: bool = False

    @property
    def us_per_query(self):
        return self.fixed.cpu_s * 1e6 / self.fixed.completed if self.fixed and self.fixed.completed else None


def measure(server, data, args, raw_dir, results):
    """Starts one server, checks it, runs the loads, records RSS, stops it.
    The result is appended to ``results`` first, so a run that fails half-way
    still shows what was measured."""
    result = Result(server, server.version())
    results.append(result)
    port = free_port()
    print(f"== {server.title}: {result.version}; 127.0.0.1:{port}", flush=True)
    server.start(os.path.join(args.workdir, server.name), data, port)
    try:
        server.wait_ready(data, timeout=30 + data.services * data.instances / 5000)
        for label, name, qtype, tcp in sample_queries(data):
            result.answers[label] = query(port, name, qtype, tcp=tcp)
        pid = server.proc.pid

        def run(kind, extra):
            done = accounted(pid, lambda: dnsperf(port, data, args.duration, extra,
                                                  f"{raw_dir}/{server.name}.{kind}.txt"))
            server.check_alive(data, f"the {kind} run")
            if done.completed == 0:
                raise BenchError(f"{server.title} answered none of dnsperf's queries in the "
                                 f"{kind} run (see bench/results/raw/{server.name}.{kind}.txt)")
            return done

        result.udp = run("udp", [])
        print(f"   UDP closed loop: {result.udp.qps:,.0f} q/s, "
              f"{result.udp.latency_s * 1e6:,.0f} µs avg", flush=True)

        result.fixed = run("udp-fixed", ["-Q", str(FIXED_LOAD_QPS)])
        print(f"   UDP @{FIXED_LOAD_QPS // 1000}k offered: {result.fixed.qps:,.0f} q/s answered, "
              f"{result.us_per_query:.2f} µs CPU/query", flush=True)

        if not args.skip_tcp:
            result.tcp = run("tcp", ["-m", "tcp"])
            print(f"   TCP closed loop: {result.tcp.qps:,.0f} q/s, "
                  f"{result.tcp.latency_s * 1e6:,.0f} µs avg", flush=True)

        result.rss_kib = peak_rss_kib(pid)
    finally:
        server.stop()
    return result


def accounted(pid, load):
    """Runs ``load`` (a dnsperf run) and charges it the CPU time the server's
    process tree used meanwhile, and the busy time of the server's core that
    was not the server's (other load on the machine: noise)."""
    cpu0, server0 = core_busy_seconds(SERVER_CPU), cpu_seconds(pid)
    result = load()
    result.cpu_s = cpu_seconds(pid) - server0
    result.foreign_s = max(core_busy_seconds(SERVER_CPU) - cpu0 - result.cpu_s, 0.0)
    return result


def core_busy_seconds(cpu):
    """Busy time of one CPU since boot (user, nice, system, irq, softirq)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                return (v[0] + v[1] + v[2] + v[5] + v[6]) / CLK_TCK
    return 0.0


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port


# --------------------------------------------------------------------------
# Report.

def fmt_qps(run):
    return f"{run.qps:,.0f}" if run else "—"


def fmt_lat(run):
    return f"{run.latency_s * 1e6:,.0f} µs" if run else "—"


def ratio(a, b):
    return f"{a / b:.2f}×" if a is not None and b else "—"


def machine_line():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"machine: {os.cpu_count()} CPUs (nproc {_output(['nproc']) or '?'}), {model}, kernel {platform.release()}"


def answer_mismatches(results, data):
    """Sample queries answered differently (see :meth:`Reply.key`); one line
    per query naming what differs and each server's version of it."""
    results = [r for r in results if r.answers]
    parts = ("rcode", "AA flag", "answer", "additional", "SOA in authority")
    lines = []
    for label, name, qtype, tcp in sample_queries(data):
        replies = {r.server.title: r.answers.get(label) for r in results}
        if len({rep.key() if rep else None for rep in replies.values()}) == 1:
            continue
        if any(rep is None for rep in replies.values()):
            what = "; ".join(f"{t}: {rep or 'no reply'}" for t, rep in replies.items())
        else:
            what = "; ".join(
                f"{part} differs ("
                + ", ".join(f"{t}: {_show(rep.key()[i])}" for t, rep in replies.items()) + ")"
                for i, part in enumerate(parts)
                if len({rep.key()[i] for rep in replies.values()}) > 1)
        lines.append(f"`{name} {qtype}`{' over TCP' if tcp else ''} [{label}]: {what}")
    return lines


def _show(value):
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]" if value else "[]"
    return str(value)


def rcode_mix_problems(results):
    """The query mix is 90% existing names, 10% missing ones: any other rcode,
    or a different split, means the server is not answering the data set."""
    problems = []
    for r in results:
        for name, run in (("UDP", r.udp), ("@100k", r.fixed), ("TCP", r.tcp)):
            if not run or not run.rcodes:
                continue
            other = {k: v for k, v in run.rcodes.items() if k not in ("NOERROR", "NXDOMAIN")}
            if other or abs(run.rcodes.get("NXDOMAIN", 0.0) - 10.0) > 1.0:
                problems.append(f"{r.server.title} {name} run answered "
                                + ", ".join(f"{k} {v:.2f}%" for k, v in run.rcodes.items())
                                + " (expected NOERROR 90%, NXDOMAIN 10%)")
    return problems


def answers_table(results, data):
    """Every sample query and each server's reply header, for the record."""
    results = [r for r in results if r.answers]
    out = ["| query | " + " | ".join(r.server.title for r in results) + " |",
           "|---|" + "---|" * len(results)]
    for label, name, qtype, tcp in sample_queries(data):
        cells = " | ".join(str(r.answers.get(label) or "no reply") for r in results)
        out.append(f"| `{name} {qtype}`{' TCP' if tcp else ''} | {cells} |")
    return "\n".join(out) + "\n"


def report(results, data, args, command):
    by = {r.server.name: r for r in results}
    out = [f"## cairn vs NSD vs Knot — {data.services} services × {data.instances} instances, "
           f"{args.duration} s per run", ""]
    out.append("| server | UDP q/s | UDP avg latency | µs CPU/query @100k | TCP q/s | "
               "TCP avg latency | peak RSS |")
    out.append("|---|---|---|---|---|---|---|")
    for r in results:
        cpu = f"{r.us_per_query:.2f}" if r.us_per_query is not None else "—"
        if r.fixed and r.fixed.qps < 0.95 * FIXED_LOAD_QPS:
            cpu += f" (saturated: {r.fixed.qps / 1000:,.1f}k q/s answered)"
        title = r.server.title + (" (failed)" if r.failed else "")
        out.append(f"| {title} | {fmt_qps(r.udp)} | {fmt_lat(r.udp)} | {cpu} | "
                   f"{fmt_qps(r.tcp)} | {fmt_lat(r.tcp)} | "
                   + (f"{r.rss_kib / 1024:,.1f} MiB |" if r.rss_kib else "— |"))
    out.append("")
    c = by.get("cairn")
    for other in ("nsd", "knot"):
        o = by.get(other)
        if c and o and c.udp and o.udp:
            out.append(f"- cairn/{o.server.title}: UDP q/s {ratio(c.udp and c.udp.qps, o.udp and o.udp.qps)}, "
                       f"CPU/query {ratio(c.us_per_query, o.us_per_query)} (lower is better), "
                       f"TCP q/s {ratio(c.tcp and c.tcp.qps, o.tcp and o.tcp.qps)}")
    losses = [f"{r.server.title} {run_name} {run.lost:,}"
              for r in results for run_name, run in (("UDP", r.udp), ("@100k", r.fixed), ("TCP", r.tcp))
              if run and run.lost]
    noisy = [r.server.title for r in results for run in (r.udp, r.fixed, r.tcp)
             if run and run.foreign_s > 0.1 * args.duration]
    if noisy:
        out.append(f"- **noisy**: other processes used more than 10% of core 0 during runs of "
                   f"{', '.join(sorted(set(noisy)))}; rerun on a quiet machine before comparing")
    if losses:
        out.append(f"- queries lost (dnsperf): {', '.join(losses)}")
    mixes = [f"{r.server.title} " + ", ".join(f"{k} {v:.1f}%" for k, v in r.udp.rcodes.items())
             + f", {r.udp.response_bytes} B" for r in results if r.udp]
    if mixes:
        out.append(f"- UDP run, response codes and average response size: {'; '.join(mixes)}")
    noise = [f"{r.server.title} " + "/".join(f"{run.foreign_s:.1f}" if run else "—"
                                             for run in (r.udp, r.fixed, r.tcp))
             for r in results if r.udp]
    out.append(f"- other load on the server's core, s per {args.duration}-s run (UDP/@100k/TCP): "
               + "; ".join(noise))
    mismatches = answer_mismatches(results, data) if len(results) > 1 else []
    mismatches += rcode_mix_problems(results)
    for m in mismatches:
        out.append(f"- **answer mismatch**: {m}")
    out.append(f"- {machine_line()}")
    out.append("- versions: " + "; ".join(f"{r.server.title}: {r.version}" for r in results)
               + f"; dnsperf {DNSPERF_VERSION[0]}")
    out.append(f"- command: `{command}`")
    out.append(f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    return "\n".join(out) + "\n", mismatches


# --------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0],
                                epilog="bench/run also takes --no-build: measure "
                                       "target/release/cairn without running cargo first.")
    p.add_argument("--services", type=int, default=None, help="services in the data set (default 1000)")
    p.add_argument("--instances", type=int, default=None, help="instances per service (default 4)")
    p.add_argument("--duration", type=int, default=None, help="seconds per dnsperf run (default 10)")
    p.add_argument("--tiny", action="store_true",
                   help="10 services × 2 instances, 1-second runs: the CI smoke mode")
    p.add_argument("--servers", default="cairn,nsd,knot",
                   help="comma-separated, in run order (default cairn,nsd,knot)")
    p.add_argument("--skip-tcp", action="store_true", help="skip the TCP run")
    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO_DIR, "target")
    p.add_argument("--cairn", default=os.path.join(target_dir, "release", "cairn"),
                   help="the cairn binary (default target/release/cairn; bench/run then skips the build)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    a = p.parse_args(argv)
    tiny = (10, 2, 1) if a.tiny else (1000, 4, 10)
    a.services = a.services if a.services is not None else tiny[0]
    a.instances = a.instances if a.instances is not None else tiny[1]
    a.duration = a.duration if a.duration is not None else tiny[2]
    a.servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    if a.duration < 1:
        p.error("--duration must be at least 1")
    return a


def main(argv):
    args = parse_args(argv)
    command = os.environ.get("BENCH_COMMAND") or shlex.join(["bench/bench.py"] + argv)
    if (os.cpu_count() or 1) < 2:
        print("warning: fewer than 2 CPUs: server and dnsperf will share core 0", file=sys.stderr)
    for tool in ("taskset", "dnsperf"):
        if not shutil.which(tool):
            raise BenchError(f"{tool} not found; run bench/run, which installs it")
    servers = [make_server(name, args.cairn) for name in args.servers]

    args.workdir = tempfile.mkdtemp(prefix="cairn-bench-")
    raw_dir = os.path.join(RESULTS_DIR, "raw")
    os.makedirs(raw_dir, exist_ok=True)
    failed = []
    results = []
    try:
        t0 = time.monotonic()
        data = gen.generate(os.path.join(args.workdir, "data"), args.services, args.instances,
                            queries=20_000 if args.tiny else 200_000)
        print(f"data set: {args.services} services × {args.instances} instances "
              f"({time.monotonic() - t0:.1f} s to generate) in {args.workdir}", flush=True)
        for server in servers:
            try:
                measure(server, data, args, raw_dir, results)
            except BenchError as e:
                print(f"error: {e}", file=sys.stderr, flush=True)
                failed.append(server.title)
                if results and results[-1].server is server:
                    results[-1].failed = True
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)

    if results:
        text, mismatches = report(results, data, args, command)
        if failed:
            text += f"- failed: {', '.join(failed)} (see the error above)\n"
        print()
        print(text, end="")
        for m in mismatches:
            print(f"warning: answer mismatch: {m}", file=sys.stderr)
        with open(os.path.join(RESULTS_DIR, "latest.md"), "w") as f:
            f.write(text + "\n### Sample answers (rcode, flags, section counts without OPT)\n\n"
                    + answers_table(results, data))
        print(f"\n(written to bench/results/latest.md; dnsperf outputs in bench/results/raw/)")
    return 1 if failed else 0


class Interrupted(Exception):
    """A signal asked the benchmark to stop."""


def _on_signal(signum, _frame):
    raise Interrupted(signum)


def run_main(main):
    """Runs a benchmark's ``main(argv)`` as a command: servers are stopped on
    SIGINT/SIGTERM/SIGHUP, errors are one line, and the exit status says
    which happened."""
    # Also when started in the background, where SIGINT arrives ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except Interrupted as e:
        signum = e.args[0]
        print(f"stopped by {signal.Signals(signum).name}; every server started was stopped",
              file=sys.stderr)
        sys.exit(128 + signum)


if __name__ == "__main__":
    run_main(main)
