#!/usr/bin/env python3
"""DNS queries under registration churn: cairn and Knot, each against itself idle.

Both servers load bench/gen.py's data set (``--services`` services of
``--instances`` instances in ``bench.example``) and dnsperf sends its query
mix (pinned to core 1, as in bench/bench.py) for ``--duration`` seconds per
measurement. Each server is measured idle, then under churn:

* cairn (release build, pinned to core 0, so one UDP worker and one tokio
  worker, an admin socket) also
  serves ``reg.example`` with the MULTIVALUE service ``svc`` of
  bench/registrations.py, and ``register_load`` (examples/, prefilled with
  ``--reg-instances`` ids) moves its instances at ``--rate`` registrations/s
  in total, then as fast as it can (a closed loop, no --rate), from
  ``--reg-clients`` clients;
* Knot (pinned to core 0, one UDP worker, as in bench/bench.py), with an ``acl``
  allowing ``action: update`` from 127.0.0.1, takes RFC 2136 updates from
  ``--nsupdate`` parallel ``nsupdate -v`` processes (over TCP: a UDP update
  can be lost in the query flood), each adding new A records
  to ``bench.example`` one update at a time; the updates applied are the
  names present before and after the dnsperf runs.

Every row is reported against the same server's idle run: qps, average and
p99 latency as ratios (p99 from a second dnsperf run with -v, which gives
the latency of every query), with the server's CPU time over the plain
run. The load generators (register_load, nsupdate) run on core 0 with the
server, so dnsperf keeps core 1 to itself and the whole cost of the churn,
the server's and its clients', comes out of the core that answers; the
rates they reach, and high nsupdate counts especially, are bounded by that
core and not only by the server.

Normally run through ``bench/run --churn``, which builds cairn and the
example first; see bench/README.md. Standard library only.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import gen
from cairnbench import live
from cairnbench.command import BenchError, output, run_main
from cairnbench.dnsclient import free_port, query
from cairnbench.dnsperf import DNSPERF_VERSION, dnsperf
from cairnbench.procfs import cpu_seconds
from cairnbench.paths import REPO_DIR
from cairnbench.report import machine_line, publish
from cairnbench.servers import SERVER_CPU, Cairn, Knot, find_binary
from registrations import NAMESPACE, SERVICE, ZONES

# Registration load and dnsperf overlap like this: the churn starts first,
# dnsperf runs inside it, so every query is sent while the churn runs.
WARMUP_S = 1.0

# The churn's clients share the server's core (see the module's text).
PIN_CLIENT = ["taskset", "-c", SERVER_CPU]


class UpdatableKnot(Knot):
    """bench/cairnbench's Knot, with dynamic updates allowed from loopback."""

    def prepare(self, workdir, data, port):
        argv, env = super().prepare(workdir, data, port)
        cfg = os.path.join(workdir, "knot.conf")
        with open(cfg) as f:
            text = f.read()
        zone = f"zone:\n  - domain: {gen.ZONE}\n"
        if zone not in text:
            raise BenchError(f"unexpected Knot config from cairnbench.servers: {cfg}")
        text = text.replace(zone, "acl:\n  - id: update\n    address: 127.0.0.1\n"
                                  f"    action: update\n{zone}    acl: update\n")
        with open(cfg, "w") as f:
            f.write(text)
        return argv, env


def applied(port, client, limit):
    """How many of nsupdate client ``client``'s updates Knot has applied: its
    names are added in order, so the first one missing, found by bisection.
    (Knot applies queued updates together, one serial for several, so the
    serial does not count them.)"""
    lo, hi = 0, limit  # names u<client>-0 .. u<client>-<lo-1> exist
    while lo < hi:
        mid = (lo + hi) // 2
        name = f"u{client}-{mid}.{gen.ZONE}."
        reply = next(filter(None, (query(port, name, "A", timeout=0.5) for _ in range(5))), None)
        if reply is None:
            raise BenchError(f"Knot did not answer {name} A")
        if reply.rcode == "NOERROR" and reply.answer:
            lo = mid + 1
        else:
            hi = mid
    return lo


def measure(server, port, data, args, workdir, label):
    """Two dnsperf runs back to back: qps and average latency from a plain
    one, then p99 from one with -v, whose line per query makes dnsperf
    itself the bottleneck (so its qps is not the server's). The server's
    CPU time is taken over the plain run."""
    cpu0 = cpu_seconds(server.proc.pid)
    run = dnsperf(port, data, args.duration, [], os.path.join(workdir, f"dnsperf-{label}.txt"))
    run.server_cores = (cpu_seconds(server.proc.pid) - cpu0) / args.duration
    raw = os.path.join(workdir, f"dnsperf-{label}-v.txt")
    dnsperf(port, data, args.duration, ["-v"], raw)
    with open(raw, errors="replace") as f:
        # dnsperf -v: one line per answer, `> RCODE name type latency`.
        lat = sorted(float(m.group(1)) for m in
                     re.finditer(r"^> \S+ .* ([\d.]+)$", f.read(), re.M))
    if not lat:
        raise BenchError(f"no per-query latencies in {raw} (dnsperf -v)")
    run.p99_s = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    if server.proc is None or server.proc.poll() is not None:
        raise BenchError(f"{server.title} exited during the {label} run; its log:\n"
                         f"{server.log_tail()}")
    return run


def service_id(server):
    """The id of the churned service, paging through ListServices (the
    queried zone's services come first, a page at a time)."""
    body = {}
    while True:
        page = live.admin_call(server.socket, "ListServices", body)
        ids = [s["Id"] for s in page.get("Services", []) if s.get("Name") == SERVICE]
        if ids:
            return ids[0]
        if not page.get("NextToken"):
            raise BenchError(f"cairn lists no service {SERVICE!r}")
        body = {"NextToken": page["NextToken"]}


def row(server, load, run, churn):
    return {"server": server, "load": load, "qps": run.qps, "avg_s": run.latency_s,
            "p99_s": run.p99_s, "lost": run.lost, "churn": churn,
            "cores": run.server_cores}


def measure_cairn(args, data, workdir, rows):
    with open(os.path.join(data.zones_dir, "reg.toml"), "w") as f:
        f.write(ZONES)
    server = live.LiveCairn(args.cairn, data.zones_dir, os.path.join(workdir, "data"),
                            cpu=SERVER_CPU)
    server.start(os.path.join(workdir, "cairn"))
    try:
        server.wait_ready(data, timeout=60)
        svc = service_id(server)
        print(f"== cairn pid {server.pid()}, DNS 127.0.0.1:{server.port}, {svc}", flush=True)
        base = PIN_CLIENT + [args.register_load, "--socket", server.socket, "--service-id", svc,
                "--instances", str(args.reg_instances), "--clients", str(args.reg_clients)]
        live.run_json(base + ["--seconds", "0", "--prefill"], timeout=600)
        idle = measure(server, server.port, data, args, workdir, "cairn-idle")
        rows.append(row("cairn", "idle", idle, ""))
        print(f"   idle: {idle.qps:,.0f} qps", flush=True)
        for rate in (args.rate, None):
            pace = ["--rate", str(rate)] if rate else []
            argv = base + ["--seconds", str(2 * args.duration + 2 * WARMUP_S)] + pace
            load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            try:
                time.sleep(WARMUP_S)
                run = measure(server, server.port, data, args, workdir,
                              f"cairn-{rate or 'max'}")
                out, err = load.communicate(timeout=2 * args.duration + 60)
            finally:
                if load.poll() is None:
                    load.kill()
                    load.wait()
            lines = [line for line in out.splitlines() if line.startswith("{")]
            if load.returncode != 0 or not lines:
                raise BenchError(f"register_load failed (status {load.returncode}): "
                                 f"{shlex.join(argv)}\n{(out + err).strip()[-1500:]}")
            reg = json.loads(lines[-1])
            what = f"register_load {args.reg_clients} clients, " + (
                f"--rate {rate:,}" if rate else "closed loop")
            churn = (f"{reg['rate_per_s']:,.0f} registrations/s sent, "
                     f"{reg['acked_per_s']:,.0f}/s acknowledged, {reg['errors']} errors")
            rows.append(row("cairn", what, run, churn))
            print(f"   {what}: {run.qps:,.0f} qps; {churn}", flush=True)
    finally:
        server.stop()


def nsupdate_script(port, client, count):
    lines = [f"server 127.0.0.1 {port}", f"zone {gen.ZONE}"]
    for k in range(count):
        lines += [f"update add u{client}-{k}.{gen.ZONE}. 60 A "
                  f"10.{client % 256}.{k // 256 % 256}.{k % 256}", "send"]
    return "\n".join(lines) + "\n"


def measure_knot(args, data, workdir, rows):
    knot = UpdatableKnot("knot", "Knot", find_binary("knotd", "/usr/sbin/knotd"), cpu=SERVER_CPU)
    port = free_port()
    knot.start(os.path.join(workdir, "knot"), data, port)
    nsupdate = find_binary("nsupdate")
    try:
        knot.wait_ready(data, timeout=120)
        print(f"== Knot pid {knot.proc.pid}, DNS 127.0.0.1:{port}", flush=True)
        idle = measure(knot, port, data, args, workdir, "knot-idle")
        rows.append(row("knot", "idle", idle, ""))
        print(f"   idle: {idle.qps:,.0f} qps", flush=True)
        for clients in args.nsupdate:
            procs = []
            try:
                for c in range(clients):
                    script = os.path.join(workdir, f"nsupdate-{clients}-{c}.txt")
                    with open(script, "w") as f:
                        f.write(nsupdate_script(port, clients * 1000 + c, args.updates_per_client))
                    with open(script + ".log", "w") as log:
                        procs.append(subprocess.Popen(PIN_CLIENT + [nsupdate, "-v", script],
                                                      stdout=subprocess.DEVNULL, stderr=log))
                time.sleep(WARMUP_S)
                ids = [clients * 1000 + c for c in range(clients)]
                # Each count takes a moment: its middle is when it was taken.
                t0 = time.monotonic()
                before = sum(applied(port, i, args.updates_per_client) for i in ids)
                t0 = (t0 + time.monotonic()) / 2
                run = measure(knot, port, data, args, workdir, f"knot-nsupdate-{clients}")
                t1 = time.monotonic()
                after = sum(applied(port, i, args.updates_per_client) for i in ids)
                t1 = (t1 + time.monotonic()) / 2
                finished = [p for p in procs if p.poll() is not None]
            finally:
                # SIGKILL, not SIGTERM: nsupdate 9.18 over TCP fails an
                # assertion while cleaning up after SIGTERM, and its back
                # trace in the log would read as an update that failed.
                for p in procs:
                    if p.poll() is None:
                        p.kill()
                for p in procs:
                    p.wait()
            logs = [os.path.join(workdir, f"nsupdate-{clients}-{c}.txt.log")
                    for c in range(clients)]
            errors = []
            for log in logs:
                with open(log, errors="replace") as f:
                    text = f.read().strip()
                if text:
                    errors.append(text)
            if errors:
                raise BenchError(f"nsupdate reported errors ({len(errors)} clients): "
                                 f"{errors[0][-500:]}")
            if finished:
                raise BenchError(f"{len(finished)} nsupdate clients ran out of updates before "
                                 "dnsperf ended; raise --updates-per-client")
            updates = after - before
            what = f"{clients} nsupdate clients"
            churn = f"{updates / (t1 - t0):,.0f} updates/s applied"
            rows.append(row("knot", what, run, churn))
            print(f"   {what}: {run.qps:,.0f} qps; {churn}", flush=True)
    finally:
        knot.stop()


def ms(seconds):
    return f"{seconds * 1000:.3f} ms"


def report(rows, args, command):
    out = [f"## Queries under registration churn — {args.duration} s per measurement", ""]
    out.append("| server | churn load | churn achieved | qps | qps / idle | avg latency | "
               "avg / idle | p99 latency | p99 / idle | lost | server CPU |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    idle = {r["server"]: r for r in rows if r["load"] == "idle"}
    for r in rows:
        base = idle[r["server"]]
        out.append(f"| {r['server']} | {r['load']} | {r['churn'] or '—'} | {r['qps']:,.0f} | "
                   f"{r['qps'] / base['qps']:.2f} | {ms(r['avg_s'])} | "
                   f"{r['avg_s'] / base['avg_s']:.2f} | {ms(r['p99_s'])} | "
                   f"{r['p99_s'] / base['p99_s']:.2f} | {r['lost']} | "
                   f"{r['cores']:.2f} cores |")
    out.append("")
    out.append(f"- queries: bench/gen.py's mix over {args.services:,} services × "
               f"{args.instances} instances in {gen.ZONE}; dnsperf {DNSPERF_VERSION[0]} pinned to "
               "core 1 (`-c 8 -q 100 -T 1`); each measurement is two dnsperf runs in a row, qps and "
               "average latency from a plain one, p99 from the per-query latencies of one with "
               "`-v` (whose output makes dnsperf the bottleneck of that run)")
    if "cairn" in args.servers:
        out.append(f"- cairn: pinned to core {SERVER_CPU} (one UDP worker, one tokio worker); churn into {SERVICE}.{NAMESPACE} "
               f"({args.reg_instances:,} instance ids, prefilled, each registration moves one "
               "to a new address); the queries do not ask for the churned names")
    if "knot" in args.servers:
        out.append(f"- Knot: pinned to core {SERVER_CPU}, one UDP worker (bench/cairnbench's config) with "
               "`acl: action: update` from 127.0.0.1; each `nsupdate -v` client (TCP) adds a new A record "
               "per update, one `send` at a time; updates/s counted from the names present before and "
               "after the dnsperf runs")
    out.append(f"- the load generators (register_load, 1 tokio worker; nsupdate) run on core "
               f"{SERVER_CPU} with the server, so dnsperf keeps its core and the whole cost of the "
               "churn comes out of the answering core; the churn rates, and high nsupdate counts "
               "especially, are bounded by that core; server CPU is the server's user+system time "
               "over the plain dnsperf run, in cores")
    out.append(f"- {machine_line()}")
    if "cairn" in args.servers:
        out.append(f"- cairn: {Cairn('cairn', 'cairn', args.cairn).version()}")
    if "knot" in args.servers:
        out.append(f"- Knot: {output([find_binary('knotd', '/usr/sbin/knotd'), '-V']) or '?'}")
    out.append(f"- command: `{command}`")
    out.append(f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    return "\n".join(out) + "\n"


def parse_args(argv):
    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO_DIR, "target")
    p = argparse.ArgumentParser(prog="bench/run --churn", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10,
                   help="seconds per dnsperf measurement (default 10)")
    p.add_argument("--services", type=int, default=1000,
                   help="services in the queried zone (default 1000)")
    p.add_argument("--instances", type=int, default=4,
                   help="instances per queried service (default 4)")
    p.add_argument("--rate", type=int, default=5000,
                   help="the paced registration rate, per second (default 5000)")
    p.add_argument("--reg-clients", type=int, default=32,
                   help="register_load clients (default 32)")
    p.add_argument("--reg-instances", type=int, default=1000,
                   help="instance ids register_load moves (default 1000)")
    p.add_argument("--nsupdate", default="8,32,64",
                   help="comma-separated nsupdate client counts (default 8,32,64)")
    p.add_argument("--updates-per-client", type=int, default=5000,
                   help="updates queued for each nsupdate client (default 5000)")
    p.add_argument("--servers", default="cairn,knot", help="cairn, knot or both (default)")
    p.add_argument("--cairn", default=os.path.join(target_dir, "release", "cairn"),
                   help="the cairn binary (default target/release/cairn)")
    p.add_argument("--register-load",
                   default=os.path.join(target_dir, "release", "examples", "register_load"),
                   help="the load generator (default target/release/examples/register_load)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    a = p.parse_args(argv)
    a.nsupdate = [int(c) for c in a.nsupdate.split(",") if c.strip()]
    a.servers = [s for s in a.servers.split(",") if s.strip()]
    if a.duration < 1 or a.rate < 1 or a.reg_clients < 1 or a.reg_instances < 1 \
            or min(a.nsupdate, default=1) < 1 or a.updates_per_client < 1:
        p.error("--duration, --rate, --reg-clients, --reg-instances, --nsupdate and "
                "--updates-per-client must be at least 1")
    if not set(a.servers) <= {"cairn", "knot"} or not a.servers:
        p.error("--servers takes cairn, knot or both")
    if "cairn" in a.servers:
        live.require_built(p, a)
    return a


def main(argv):
    args = parse_args(argv)
    command = os.environ.get("BENCH_COMMAND") or shlex.join(["bench/churn.py"] + argv)
    workdir = tempfile.mkdtemp(prefix="cairn-churn-")
    print(f"work directory {workdir}", flush=True)
    rows, failed = [], None
    try:
        data = gen.generate(os.path.join(workdir, "data"), args.services, args.instances)
        for name, fn in (("cairn", measure_cairn), ("knot", measure_knot)):
            if name not in args.servers:
                continue
            try:
                fn(args, data, os.path.join(workdir, name), rows)
            except BenchError as e:
                failed = str(e)
                print(f"error: {e}", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if not rows:
        return 1
    text = report(rows, args, command)
    publish(text, "churn.md", failed)
    return 1 if failed else 0


if __name__ == "__main__":
    run_main(main)
