#!/usr/bin/env python3
"""Scale: start-up time and memory with 100k and 1M instances (issue 4).

For each size (``--sizes``, default 25,000 services × 4 instances and
250,000 × 4), bench/gen.py writes the benchmark's zones file (namespace
``bench.example``, every service MULTIVALUE with A + AAAA + SRV) and a
dnsperf query file. cairn (release build, unpinned, default workers) is then
started twice on one data directory:

1. **first start**: an empty data directory; cairn applies zones/ and writes
   every namespace, service and instance to its store;
2. **restart**: the same data directory; cairn loads its store, then applies
   zones/ again, which finds everything already there (the durable path).

Each start is timed from exec until the last service's A record answers
over UDP (polled every ~20 ms, no sleeping beyond that), with the phases
cairn logs (store loaded, zones applied, ready) on the same clock. RSS
(VmRSS, VmHWM) is read right after that and again after a dnsperf burst
(``--burst`` seconds). While cairn starts, its RSS is sampled too, so if it
dies or is stopped for passing ``--rss-limit-gib`` the report says how far
it got and how much memory it held.

Normally run through ``bench/run --scale``; see bench/README.md. Standard
library only.
"""

import argparse
import calendar
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import gen
from cairnbench import live
from cairnbench.command import BenchError, Interrupted, run_main
from cairnbench.dnsclient import query
from cairnbench.dnsperf import dnsperf
from cairnbench.paths import REPO_DIR, RESULTS_DIR
from cairnbench.procfs import cpu_seconds
from cairnbench.report import machine_line
from cairnbench.dnsclient import free_port
from cairnbench.servers import Cairn, Knot, find_binary

TARGET_RSS_KIB = 1 << 20  # issue 4: <= 1 GiB with 1M instances


@dataclass
class Start:
    """One start of cairn on a data directory, as far as it got."""

    label: str
    ready_s: float = None           # exec -> last service answers
    phases: dict = field(default_factory=dict)  # log message -> seconds after exec
    cpu_s: float = None             # cairn's CPU time at ready
    rss_kib: int = None             # VmRSS right after ready
    hwm_kib: int = None             # VmHWM right after ready
    burst_qps: float = None
    burst_rcodes: dict = field(default_factory=dict)
    burst_rss_kib: int = None
    burst_hwm_kib: int = None
    stop_s: float = None            # SIGTERM -> exit
    failure: str = None             # what went wrong, with time and RSS
    last_rss_kib: int = 0           # the last RSS sampled while starting


@dataclass
class SizeResult:
    services: int
    instances: int
    generate_s: float = 0.0
    zones_bytes: int = 0
    store_bytes: int = 0
    starts: list = field(default_factory=list)
    knot: Start = None              # Knot loading the same records

    @property
    def total(self):
        return self.services * self.instances


# cairn's text log: "2026-11-25T10:37:01.123456Z  INFO cairn::serve: store loaded ..."
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z\s+\w+\s+\S+\s+(.*)$")
PHASES = ("store loaded", "zones applied", "cairn ready")


def log_phases(server, exec_wall):
    """Seconds after exec at which cairn logged each of PHASES (wall clock)."""
    found = {}
    try:
        with open(os.path.join(server.workdir, "server.log"), errors="replace") as f:
            for line in f:
                m = LOG_LINE.match(re.sub(r"\x1b\[[0-9;]*m", "", line.strip()))
                if not m:
                    continue
                t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
                t += float(m.group(2) or 0)
                for phase in PHASES:
                    if m.group(3).startswith(phase) and phase not in found:
                        found[phase] = t - exec_wall
    except OSError:
        pass
    return found


def start_and_wait(server, workdir, data, start, args):
    """Starts cairn and polls until the last service answers; fills ``start``.
    Returns False (with start.failure set) when cairn died, passed the RSS
    limit or the deadline."""
    exec_wall = time.time()
    server.start(workdir, data)
    t0 = server.started_at
    name = data.service(data.services)
    limit_kib = int(args.rss_limit_gib * (1 << 20))
    peak = 0
    while True:
        elapsed = time.monotonic() - t0
        if not server.running():
            start.hwm_kib = peak
            start.phases = log_phases(server, exec_wall)
            start.failure = (f"cairn exited after {elapsed:.1f} s ({server.exit_status()}), "
                             f"last RSS sampled {start.last_rss_kib / 1024:,.0f} MiB; log:\n"
                             f"{server.log_tail()}")
            return False
        rss = live.proc_status_kib(server.pid(), "VmRSS") or 0
        start.last_rss_kib = rss
        peak = max(peak, live.proc_status_kib(server.pid(), "VmHWM") or 0)
        if rss > limit_kib:
            start.hwm_kib = peak
            server.stop()
            start.failure = (f"stopped by the benchmark after {elapsed:.1f} s: RSS "
                             f"{rss / 1024:,.0f} MiB passed --rss-limit-gib {args.rss_limit_gib}")
            start.phases = log_phases(server, exec_wall)
            return False
        if elapsed > args.start_timeout:
            start.hwm_kib = peak
            start.phases = log_phases(server, exec_wall)
            server.stop()
            start.failure = (f"not answering {name} A after {elapsed:.0f} s (--start-timeout); "
                             f"RSS then {rss / 1024:,.0f} MiB, peak {peak / 1024:,.0f} MiB")
            return False
        reply = query(server.port, name, "A", timeout=0.2)
        if reply and reply.rcode == "NOERROR" and reply.aa and reply.answer:
            start.ready_s = time.monotonic() - t0
            break
        time.sleep(0.02)
    pid = server.pid()
    start.rss_kib = live.proc_status_kib(pid, "VmRSS")
    start.hwm_kib = live.proc_status_kib(pid, "VmHWM")
    start.cpu_s = cpu_seconds(pid)
    start.phases = log_phases(server, exec_wall)
    return True


def burst(server, data, start, args, raw_path):
    if not shutil.which("dnsperf") or args.burst <= 0:
        return
    run = dnsperf(server.port, data, args.burst, [], raw_path)
    start.burst_qps = run.qps
    start.burst_rcodes = run.rcodes
    start.burst_rss_kib = live.proc_status_kib(server.pid(), "VmRSS")
    start.burst_hwm_kib = live.proc_status_kib(server.pid(), "VmHWM")


def stop_timed(server, start):
    t = time.monotonic()
    server.stop()
    start.stop_s = time.monotonic() - t


def measure(args, services, instances, workdir, raw_dir, results):
    """Both starts of one size; the result is appended to ``results`` first,
    so that an interrupted run still reports what it saw."""
    result = SizeResult(services, instances)
    results.append(result)
    t = time.monotonic()
    data = gen.generate(os.path.join(workdir, "data"), services, instances,
                        queries=args.queries, rfc1035=not args.no_knot)
    result.generate_s = time.monotonic() - t
    result.zones_bytes = os.path.getsize(os.path.join(data.zones_dir, "bench.toml"))
    print(f"== {result.total:,} instances ({services:,} services × {instances}): zones file "
          f"{result.zones_bytes / 2**20:,.0f} MiB, generated in {result.generate_s:.1f} s",
          flush=True)
    data_dir = os.path.join(workdir, "store")
    for label in ("first start", "restart"):
        start = Start(label)
        result.starts.append(start)
        server = live.LiveCairn(args.cairn, data.zones_dir, data_dir, log_level="info")
        try:
            try:
                ok = start_and_wait(server, os.path.join(workdir, label.replace(" ", "-")),
                                    data, start, args)
            except Interrupted:
                start.failure = (f"interrupted after {time.monotonic() - server.started_at:.0f} s "
                                 f"without answering; RSS then {kib(start.last_rss_kib)}")
                raise
            if not ok:
                print(f"   {label}: FAILED: {start.failure}", flush=True)
                break
            print(f"   {label}: answering after {start.ready_s:.1f} s "
                  f"({', '.join(f'{k} {v:.1f} s' for k, v in start.phases.items())}); "
                  f"RSS {kib(start.rss_kib)}, peak {kib(start.hwm_kib)}, CPU {start.cpu_s:.1f} s",
                  flush=True)
            burst(server, data, start, args,
                  os.path.join(raw_dir, f"scale-{result.total}-{label.replace(' ', '-')}.txt"))
            if start.burst_qps is not None:
                print(f"   {label}: {args.burst} s dnsperf burst {start.burst_qps:,.0f} q/s; "
                      f"RSS {kib(start.burst_rss_kib)}, peak {kib(start.burst_hwm_kib)}", flush=True)
            stop_timed(server, start)
        finally:
            server.stop()
    if not args.no_knot:
        result.knot = measure_knot(args, data, os.path.join(workdir, "knot"))
        print(f"   Knot: {result.knot.label}", flush=True)
    store = os.path.join(data_dir, "cairn.redb")
    result.store_bytes = os.path.getsize(store) if os.path.exists(store) else 0
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


def measure_knot(args, data, workdir):
    """Knot loading the same records from its zone file: exec until the last
    service answers, and its memory then. Unpinned, like cairn."""
    knot = Knot("knot", "Knot", find_binary("knotd", "/usr/sbin/knotd"), cpu=None)
    start = Start("")
    t0 = time.monotonic()
    knot.start(workdir, data, free_port())
    try:
        knot.wait_ready(data, args.start_timeout)
        start.ready_s = time.monotonic() - t0
        pid = knot.proc.pid
        start.rss_kib = live.proc_status_kib(pid, "VmRSS")
        start.hwm_kib = live.proc_status_kib(pid, "VmHWM")
        start.cpu_s = cpu_seconds(pid)
        start.label = (f"answering after {start.ready_s:.1f} s, RSS {kib(start.rss_kib)}, "
                       f"peak {kib(start.hwm_kib)}, CPU {start.cpu_s:.1f} s")
    except BenchError as e:
        start.failure = str(e)
        start.label = f"FAILED: {e}"
    finally:
        knot.stop()
    return start


def knot_lines(r):
    """Issue 14's start-up targets, against Knot's load of the same records."""
    knot = r.knot
    if knot is None:
        return []
    if knot.failure:
        return [f"- {r.total:,} instances, Knot: **failed**: {knot.failure.splitlines()[0]}"]
    lines = [f"- {r.total:,} instances, Knot {knot.label}"]
    by_label = {s.label: s for s in r.starts if not s.failure}
    for label in ("first start", "restart"):
        s = by_label.get(label)
        if s:
            lines.append(f"- {r.total:,} instances, cairn {label} / Knot: time "
                         f"{s.ready_s / knot.ready_s:.2f}×, peak RSS "
                         f"{s.hwm_kib / knot.hwm_kib:.2f}×")
    if r.total >= 1_000_000:
        first, restart = by_label.get("first start"), by_label.get("restart")
        peak = max((s.burst_hwm_kib or s.hwm_kib) for s in by_label.values()) if by_label else None
        for what, ok in (("restart ≤ 2 s", restart and restart.ready_s <= 2),
                         ("first start ≤ 10 s", first and first.ready_s <= 10),
                         ("peak RSS ≤ Knot's", peak is not None and peak <= knot.hwm_kib)):
            lines.append(f"- issue 14's target, {what} with {r.total:,} instances: "
                         f"{'met' if ok else '**not met**'}")
    return lines


def kib(value):
    if value is None:
        return "—"
    return f"{value / 1024:,.0f} MiB" if value < (1 << 20) else f"{value / (1 << 20):,.2f} GiB"


def report(results, args, command, disk):
    out = [f"## cairn at scale — start-up and memory, {args.burst} s dnsperf burst", ""]
    out.append("| instances | start | exec → last service answers | store loaded / zones applied "
               "(s after exec) | CPU at ready | RSS after start (VmRSS / VmHWM) | "
               "after burst (VmRSS / VmHWM) | burst q/s | SIGTERM → exit |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for s in r.starts:
            what = f"{r.total:,} ({r.services:,} × {r.instances})"
            phases = " / ".join(f"{s.phases[p]:.1f}" if p in s.phases else "—"
                                for p in PHASES[:2])
            if s.failure:
                out.append(f"| {what} | {s.label} | **failed**: {s.failure.splitlines()[0]} "
                           f"| {phases} | — | last sampled {kib(s.last_rss_kib)} / "
                           f"{kib(s.hwm_kib)} | — | — | — |")
                continue
            qps = f"{s.burst_qps:,.0f}" if s.burst_qps is not None else "—"
            stop = f"{s.stop_s:.1f} s" if s.stop_s is not None else "—"
            out.append(f"| {what} | {s.label} | {s.ready_s:.1f} s | {phases} | {s.cpu_s:.1f} s | "
                       f"{kib(s.rss_kib)} / {kib(s.hwm_kib)} | "
                       f"{kib(s.burst_rss_kib)} / {kib(s.burst_hwm_kib)} | {qps} | {stop} |")
    out.append("")
    for r in results:
        out.append(f"- {r.total:,} instances: zones file {r.zones_bytes / 2**20:,.0f} MiB "
                   f"(generated in {r.generate_s:.1f} s), store after the runs "
                   f"{r.store_bytes / 2**20:,.0f} MiB")
        peaks = [s.burst_hwm_kib or s.hwm_kib for s in r.starts
                 if (s.burst_hwm_kib or s.hwm_kib) is not None]
        if r.total >= 1_000_000 and peaks:
            worst = max(peaks)
            out.append(f"- issue 4's target, ≤ 1 GiB RSS with 1M instances: "
                       f"{'met' if worst <= TARGET_RSS_KIB else '**not met**'} "
                       f"(peak VmHWM {kib(worst)})")
        out.extend(knot_lines(r))
        for s in r.starts:
            odd = {k: v for k, v in s.burst_rcodes.items() if k not in ("NOERROR", "NXDOMAIN")}
            if odd:
                out.append(f"- **{r.total:,} {s.label}: dnsperf saw {odd}**")
    out.append("- start-up is timed from exec until the last service's A record answers over UDP "
               "(polled every ~20 ms); phases are the wall-clock times of cairn's own log lines")
    out.append(f"- cairn not pinned: {os.cpu_count()} tokio and UDP workers (defaults), "
               f"log level info; dnsperf `-c 8 -q 100 -T 1` on core 1, the query mix of bench/run")
    out.append(f"- {disk}")
    out.append(f"- {machine_line()}; "
               f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB RAM")
    out.append(f"- cairn: {Cairn('cairn', 'cairn', args.cairn).version()}")
    out.append(f"- command: `{command}`")
    out.append(f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    return "\n".join(out) + "\n"


def parse_size(text):
    m = re.fullmatch(r"\s*(\d+)\s*[x×]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: write SERVICESxINSTANCES, e.g. 25000x4")
    return int(m.group(1)), int(m.group(2))


def parse_args(argv):
    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO_DIR, "target")
    p = argparse.ArgumentParser(prog="bench/run --scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="25000x4,250000x4",
                   help="comma-separated SERVICESxINSTANCES (default 25000x4,250000x4: 100k and 1M)")
    p.add_argument("--burst", type=int, default=5, help="seconds of dnsperf after each start (0: none)")
    p.add_argument("--queries", type=int, default=100_000, help="lines in the dnsperf query file")
    p.add_argument("--start-timeout", type=float, default=1800,
                   help="seconds a start may take before it is reported as failed (default 1800)")
    p.add_argument("--rss-limit-gib", type=float, default=12.0,
                   help="stop cairn when its RSS passes this while starting (default 12)")
    p.add_argument("--cairn", default=os.path.join(target_dir, "release", "cairn"),
                   help="the cairn binary (default target/release/cairn)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (data, store, logs)")
    p.add_argument("--no-knot", action="store_true",
                   help="skip Knot loading the same records (its zone file is not written)")
    p.add_argument("--workdir", default=None,
                   help="where the data and stores go (default: a new directory under $TMPDIR)")
    a = p.parse_args(argv)
    try:
        a.sizes = [parse_size(s) for s in a.sizes.split(",") if s.strip()]
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    if not os.access(a.cairn, os.X_OK):
        p.error(f"{a.cairn} not found; build it with `cargo build --release`")
    return a


def main(argv):
    args = parse_args(argv)
    command = os.environ.get("BENCH_COMMAND") or shlex.join(["bench/scale.py"] + argv)
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="cairn-scale-", dir=args.workdir)
    disk = live.disk_line(workdir)
    raw_dir = os.path.join(RESULTS_DIR, "raw")
    os.makedirs(raw_dir, exist_ok=True)
    print(f"work directory {workdir}; {disk}", flush=True)
    results = []
    interrupted = None
    try:
        for services, instances in args.sizes:
            measure(args, services, instances, os.path.join(workdir, f"{services}x{instances}"),
                    raw_dir, results)
    except Interrupted as e:
        interrupted = e.args[0]
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = report(results, args, command, disk)
    if interrupted:
        text += f"- **interrupted** by {signal.Signals(interrupted).name}: the sizes after it were not run\n"
    print()
    print(text, end="")
    with open(os.path.join(RESULTS_DIR, "scale.md"), "w") as f:
        f.write(text)
    print("\n(written to bench/results/scale.md; dnsperf outputs in bench/results/raw/)")
    if interrupted:
        return 128 + interrupted
    return 1 if any(s.failure for r in results for s in r.starts) else 0


if __name__ == "__main__":
    run_main(main)
