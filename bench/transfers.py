#!/usr/bin/env python3
"""Zone transfers: how soon NSD and Knot secondaries serve a change, and how
an AXFR of a large zone compares with Knot's.

1. **Registration → served by a secondary.** cairn (release build, unpinned)
   serves ``reg.example`` (bench/registrations.py's zone) with ``[transfer]``
   open to loopback, TSIG required and NOTIFY to an NSD and a Knot
   secondary, each configured from examples/*-secondary.conf. ``--changes``
   times, one after another, an instance is registered through the admin
   socket; from the moment its HTTP 200 is read, both secondaries are asked
   ``<id>.svc.reg.example A`` over UDP in turn, with no pause, until each
   answers the new address. Both clocks are the benchmark's
   ``time.monotonic()``.
2. **AXFR of a large zone.** gen.py's data set (``--services`` ×
   ``--instances``, default 250,000 × 4 = 1M instances) is served by cairn
   from its zones file and, in the same run, by Knot from gen.py's RFC 1035
   zone of the same records. A fresh Knot secondary transfers the zone from
   each with TSIG; the table gives Knot's own transfer time (its log),
   the time from the secondary's exec to its answering the last service,
   and the primary's peak RSS during the transfer (VmHWM reset through
   /proc/PID/clear_refs just before, read after).

Normally run through ``bench/run --transfers``; see bench/README.md.
Standard library only.
"""

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field

import gen
from cairnbench import live
from cairnbench.command import BenchError, output, run_main
from cairnbench.dnsclient import free_port, query
from cairnbench.paths import REPO_DIR
from cairnbench.procfs import cpu_seconds, machine_busy_seconds
from cairnbench.report import machine_line, publish
from cairnbench.secondaries import KnotPrimary, TsigKey, knot_secondary, nsd_secondary
from cairnbench.servers import Cairn
from registrations import NAMESPACE, SERVICE, ZONES, wait_ready

# How long a change may take to reach a secondary before it counts as lost.
CHANGE_TIMEOUT_S = 10.0


@dataclass
class Follow:
    """Part 1: per secondary, ack → served, in seconds."""

    served: dict = field(default_factory=dict)  # title -> [seconds]
    lost: dict = field(default_factory=dict)    # title -> count
    request_s: list = field(default_factory=list)
    polls: int = 0
    other_cpu_s: float = 0.0
    wall_s: float = 0.0


@dataclass
class Transfer:
    """Part 2: one primary's AXFR to a fresh Knot secondary."""

    primary: str
    load_s: float = None        # primary exec -> last service answers
    knot_axfr: tuple = None     # Knot's log: (seconds, messages, bytes)
    served_s: float = None      # secondary exec -> last service answers
    rss_before_kib: int = None
    peak_kib: int = None        # VmHWM after a reset just before the transfer
    sampled_peak_kib: int = 0   # the largest VmRSS sampled during it
    failure: str = None


def answers(port, name, address):
    reply = query(port, name, "A", timeout=0.05)
    return bool(reply and any(rr.endswith(f" A {address}") for rr in reply.answer))


def wait_serving(server, name, timeout):
    """Polls ``server`` until it answers ``name`` A authoritatively."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(f"{server.title} exited; its log:\n{server.log_tail()}")
        reply = query(server.port, name, "A", timeout=0.2)
        if reply and reply.rcode == "NOERROR" and reply.aa and reply.answer:
            return
        time.sleep(0.01)
    raise BenchError(f"{server.title} did not serve {name} A within {timeout:.0f} s; "
                     f"its log:\n{server.log_tail()}")


def measure_follow(args, workdir):
    zones_dir = os.path.join(workdir, "zones")
    os.makedirs(zones_dir)
    with open(os.path.join(zones_dir, "reg.toml"), "w") as f:
        f.write(ZONES)
    key = TsigKey(workdir)
    cairn_port, nsd_port, knot_port = free_port(), free_port(), free_port()
    cairn = live.LiveCairn(args.cairn, zones_dir, os.path.join(workdir, "data"),
                           extra_config=key.cairn_config(
                               [f"127.0.0.1:{nsd_port}", f"127.0.0.1:{knot_port}"]))
    secondaries = [nsd_secondary(NAMESPACE, cairn_port, key),
                   knot_secondary(NAMESPACE, cairn_port, key)]
    result = Follow()
    try:
        cairn.start(os.path.join(workdir, "cairn"), port=cairn_port)
        service_id = wait_ready(cairn, timeout=30)
        for secondary, port in zip(secondaries, (nsd_port, knot_port)):
            secondary.start(os.path.join(workdir, secondary.name), None, port)
        # One change untimed: once both serve it, each holds the zone and
        # has followed a NOTIFY once.
        register(cairn, service_id, "warm-up", "10.255.255.254")
        for secondary in secondaries:
            wait_serving(secondary, f"warm-up.{SERVICE}.{NAMESPACE}.", 30)
        print(f"== registration → served: cairn pid {cairn.pid()}, NSD :{nsd_port}, "
              f"Knot :{knot_port}, {args.changes} changes", flush=True)
        pids = [cairn.pid()] + [s.proc.pid for s in secondaries]
        busy0, cpu0, own0, t0 = machine_busy_seconds(), sum(map(cpu_seconds, pids)), \
            sum(os.times()[:2]), time.monotonic()
        for index in range(args.changes):
            follow_one(cairn, service_id, secondaries, index, result)
            if (index + 1) % 50 == 0:
                print(f"   {index + 1} changes", flush=True)
        result.wall_s = time.monotonic() - t0
        result.other_cpu_s = max(machine_busy_seconds() - busy0
                                 - (sum(map(cpu_seconds, pids)) - cpu0)
                                 - (sum(os.times()[:2]) - own0), 0.0)
    finally:
        for server in secondaries + [cairn]:
            server.stop()
    return result


def register(cairn, service_id, instance, address):
    live.admin_call(cairn.socket, "RegisterInstance",
                    {"ServiceId": service_id, "InstanceId": instance,
                     "Attributes": {"AWS_INSTANCE_IPV4": address, "AWS_INSTANCE_PORT": "8080"}})


def follow_one(cairn, service_id, secondaries, index, result):
    """One registration, then both secondaries polled in turn until each
    answers it; appends each one's ack → served time."""
    instance = f"c{index}"
    address = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
    name = f"{instance}.{SERVICE}.{NAMESPACE}."
    sent = time.monotonic()
    register(cairn, service_id, instance, address)
    acked = time.monotonic()
    result.request_s.append(acked - sent)
    pending = list(secondaries)
    while pending:
        for secondary in list(pending):
            result.polls += 1
            if answers(secondary.port, name, address):
                result.served.setdefault(secondary.title, []).append(time.monotonic() - acked)
                pending.remove(secondary)
        if pending and time.monotonic() - acked > CHANGE_TIMEOUT_S:
            for secondary in pending:
                result.lost[secondary.title] = result.lost.get(secondary.title, 0) + 1
            return


def reset_peak(pid):
    """Sets VmHWM back to the current RSS (Linux: 5 > clear_refs), so the
    next VmHWM read is the peak since now. False when not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def transfer_from(primary, pid, data, workdir, key, args, result):
    """A fresh Knot secondary of ``primary`` bootstraps with an AXFR;
    fills ``result`` with its times and the primary's memory meanwhile."""
    secondary = knot_secondary(gen.ZONE, primary.port, key)
    last = data.service(data.services)
    result.rss_before_kib = live.proc_status_kib(pid, "VmRSS")
    can_reset = reset_peak(pid)
    t0 = time.monotonic()
    secondary.start(os.path.join(workdir, "secondary"), None, free_port())
    try:
        deadline = t0 + args.transfer_timeout
        while True:
            result.sampled_peak_kib = max(result.sampled_peak_kib,
                                          live.proc_status_kib(pid, "VmRSS") or 0)
            reply = query(secondary.port, last, "A", timeout=0.05)
            if reply and reply.rcode == "NOERROR" and reply.aa and reply.answer:
                result.served_s = time.monotonic() - t0
                break
            if secondary.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"the Knot secondary of {result.primary} did not serve {last} "
                                 f"within {args.transfer_timeout:.0f} s; its log:\n"
                                 f"{secondary.log_tail()}")
            time.sleep(0.01)
        result.peak_kib = live.proc_status_kib(pid, "VmHWM") if can_reset else None
        result.knot_axfr = secondary.axfr_seconds()
    finally:
        secondary.stop()


def measure_transfer(args, data, workdir, primary_name, key):
    result = Transfer(primary_name)
    if primary_name == "cairn":
        primary = live.LiveCairn(args.cairn, data.zones_dir, os.path.join(workdir, "data"),
                                 extra_config=key.cairn_config())
    else:
        primary = KnotPrimary(key)
    try:
        t0 = time.monotonic()
        primary.start(os.path.join(workdir, "primary"), data, free_port())
        primary.wait_ready(data, args.transfer_timeout)
        result.load_s = time.monotonic() - t0
        transfer_from(primary, primary.proc.pid, data, workdir, key, args, result)
        print(f"   {primary_name} → Knot: {describe(result)}", flush=True)
    except BenchError as e:
        result.failure = str(e)
        print(f"   {primary_name} → Knot: FAILED: {e}", file=sys.stderr, flush=True)
    finally:
        primary.stop()
    return result


def describe(t):
    axfr = f"{t.knot_axfr[0]:.2f} s by Knot's log" if t.knot_axfr else "no Knot log line"
    return (f"loaded in {t.load_s:.1f} s; AXFR {axfr}; secondary serving "
            f"{t.served_s:.2f} s after its exec; primary RSS {mib(t.rss_before_kib)} before, "
            f"peak {mib(t.peak_kib)} during")


def mib(kib):
    return "—" if kib is None else f"{kib / 1024:,.0f} MiB"


def ms(seconds):
    return "—" if seconds is None else f"{seconds * 1000:,.1f} ms"


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ratio(a, b):
    return f"{a / b:.2f}×" if a is not None and b else "—"


def report(follow, transfers, args, command):
    out = []
    if follow:
        out += [f"## Registration → served by a secondary — {args.changes} changes, "
                "one at a time", "",
                "| secondary | served | p50 | p99 | max | lost (> 10 s) |",
                "|---|---|---|---|---|---|"]
        for title in ("NSD", "Knot"):
            times = follow.served.get(title, [])
            out.append(f"| {title} | {len(times)} | {ms(percentile(times, 50))} | "
                       f"{ms(percentile(times, 99))} | {ms(max(times) if times else None)} | "
                       f"{follow.lost.get(title, 0)} |")
        nsd, knot = (percentile(follow.served.get(t, []), 50) for t in ("NSD", "Knot"))
        out += ["", f"- NSD/Knot p50: {ratio(nsd, knot)}",
                f"- the clock: the benchmark's `time.monotonic()`, read right after the "
                f"RegisterInstance 200 was read off the admin socket and right after the first "
                f"UDP reply holding the new address was decoded; the two secondaries were asked "
                f"in turn with no pause ({follow.polls:,} queries in all), so a figure is late by "
                f"at most one round of two queries",
                f"- the registration itself (send → 200): p50 "
                f"{ms(percentile(follow.request_s, 50))}, p99 {ms(percentile(follow.request_s, 99))}; cairn coalesces NOTIFYs for 100 ms "
                f"(src/dns/transfer/notify.rs), which sets the floor",
                f"- other load on the machine during the {follow.wall_s:.0f} s of changes (CPU "
                f"time not cairn's, the secondaries' or the benchmark's): "
                f"{follow.other_cpu_s:.1f} s" + (" — **noisy**" if follow.other_cpu_s
                                                   > 0.1 * follow.wall_s else ""), ""]
    if transfers:
        total = args.services * args.instances
        out += [f"## AXFR of {total:,} instances ({args.services:,} services × {args.instances}) "
                "to a Knot secondary, TSIG", "",
                "| primary | zone loaded (exec → answering) | AXFR (Knot's log) | messages | "
                "bytes | secondary exec → serving | primary RSS before | primary peak RSS "
                "during the transfer |", "|---|---|---|---|---|---|---|---|"]
        for t in transfers:
            if t.failure:
                out.append(f"| {t.primary} | **failed**: {t.failure.splitlines()[0]} "
                           "| — | — | — | — | — | — |")
                continue
            axfr = t.knot_axfr or (None, None, None)
            out.append(f"| {t.primary} | {t.load_s:.1f} s | "
                       f"{'—' if axfr[0] is None else f'{axfr[0]:.2f} s'} | "
                       f"{'—' if axfr[1] is None else f'{axfr[1]:,}'} | "
                       f"{'—' if axfr[2] is None else f'{axfr[2] / 2**20:,.1f} MiB'} | "
                       f"{t.served_s:.2f} s | {mib(t.rss_before_kib)} | {mib(t.peak_kib)} |")
        by = {t.primary: t for t in transfers if not t.failure}
        if "cairn" in by and "Knot" in by:
            c, k = by["cairn"], by["Knot"]
            axfr_s = [t.knot_axfr[0] if t.knot_axfr else None for t in (c, k)]
            out += ["", f"- cairn/Knot: AXFR time {ratio(*axfr_s)}, secondary exec → serving "
                    f"{ratio(c.served_s, k.served_s)}, primary peak RSS during the transfer "
                    f"{ratio(c.peak_kib, k.peak_kib)}, its growth over before "
                    f"{mib((c.peak_kib or 0) - (c.rss_before_kib or 0))} (cairn) and "
                    f"{mib((k.peak_kib or 0) - (k.rss_before_kib or 0))} (Knot)"]
        out += ["- peak RSS during the transfer: VmHWM reset (`5 > /proc/PID/clear_refs`) "
                "just before the secondary starts, read once it serves the zone; the largest "
                "VmRSS sampled meanwhile: " + ", ".join(f"{t.primary} {mib(t.sampled_peak_kib)}"
                                                        for t in transfers if not t.failure),
                "- one Knot secondary per primary, fresh (no zone, no journal), from "
                "examples/knot-secondary.conf; primaries and secondary unpinned, one after "
                "another; cairn loads gen.py's zones file, Knot gen.py's RFC 1035 zone"]
    out.append(f"- {machine_line()}; the machine is shared with other engineers' builds, "
               "so figures are noisy")
    knot = output([shutil.which("knotd") or "/usr/sbin/knotd", "-V"]) or "Knot DNS"
    nsd = (output([shutil.which("nsd") or "/usr/sbin/nsd", "-v"], stderr=True) or "NSD")
    out.append(f"- cairn: {Cairn('cairn', 'cairn', args.cairn).version()}; {knot}; "
               f"{nsd.splitlines()[0]}")
    out.append(f"- command: `{command}`")
    out.append(f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    return "\n".join(out) + "\n"


def parse_args(argv):
    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO_DIR, "target")
    p = argparse.ArgumentParser(prog="bench/run --transfers", description=__doc__.split("\n\n")[0])
    p.add_argument("--changes", type=int, default=300,
                   help="registrations timed to both secondaries (default 300; 0 skips part 1)")
    p.add_argument("--services", type=int, default=250_000,
                   help="services of the transferred zone (default 250000; 1000 for a quick run; "
                        "0 skips part 2)")
    p.add_argument("--instances", type=int, default=4, help="instances per service (default 4)")
    p.add_argument("--transfer-timeout", type=float, default=900,
                   help="seconds a load or a transfer may take (default 900)")
    p.add_argument("--cairn", default=os.path.join(target_dir, "release", "cairn"),
                   help="the cairn binary (default target/release/cairn)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--workdir", default=None,
                   help="where the work directory goes (default: under $TMPDIR)")
    a = p.parse_args(argv)
    if a.changes < 0 or a.services < 0 or a.instances < 1:
        p.error("--changes and --services must be at least 0, --instances at least 1")
    if not os.access(a.cairn, os.X_OK):
        p.error(f"{a.cairn} not found; build it with `cargo build --release`")
    return a


def main(argv):
    args = parse_args(argv)
    command = os.environ.get("BENCH_COMMAND") or shlex.join(["bench/transfers.py"] + argv)
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="cairn-transfers-", dir=args.workdir)
    print(f"work directory {workdir}", flush=True)
    follow, transfers, failed = None, [], None
    try:
        if args.changes:
            try:
                follow = measure_follow(args, os.path.join(workdir, "follow"))
            except BenchError as e:
                failed = str(e)
                print(f"error: {e}", file=sys.stderr, flush=True)
        if args.services:
            t = time.monotonic()
            data = gen.generate(os.path.join(workdir, "data"), args.services, args.instances,
                                queries=1)
            print(f"== AXFR: {args.services * args.instances:,} instances generated in "
                  f"{time.monotonic() - t:.1f} s", flush=True)
            key = TsigKey(workdir)
            for name in ("cairn", "Knot"):
                transfers.append(measure_transfer(args, data, os.path.join(workdir, name),
                                                  name, key))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = report(follow, transfers, args, command)
    publish(text, "transfers.md", failed)
    lost = follow and any(follow.lost.values())
    return 1 if failed or lost or any(t.failure for t in transfers) else 0


if __name__ == "__main__":
    run_main(main)
