#!/usr/bin/env python3
"""Registration throughput and register→resolvable latency (issues 4 and 5).

For each service size (``--instances``, default 64, 1024 and 10000), a fresh cairn
(release build, unpinned, default workers) starts on an empty data directory
with one namespace ``reg.example`` and one MULTIVALUE service ``svc`` (A and
SRV, TTL 60, no static instances). ``register_load`` (examples/) then
registers into that service at 1, 8 and 64 concurrent clients for
``--duration`` seconds each: acknowledged registrations/s, request latency,
and for every 10th request the time until ``<id>.svc.reg.example A``
answers the new address over UDP. cairn's own CPU time during each run is
read from /proc, so the table also shows CPU per acknowledged registration.

With ``--cluster`` (``bench/run --cluster``), each size is measured a
second time on a two-node cluster on one etcd (Debian's etcd-server, fsync
on): registrations go to node A, and register→resolvable is measured on
node B's DNS, so it is the time until another node answers.

Normally run through ``bench/run --registrations``, which builds cairn and
the example first; see bench/README.md. Standard library only.
"""

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time

from cairnbench import live
from cairnbench.apimode import measure_api, report_api
from cairnbench.command import BenchError, run_main
from cairnbench.dnsclient import query
from cairnbench.paths import REPO_DIR
from cairnbench.procfs import cpu_seconds, machine_busy_seconds, peak_rss_kib
from cairnbench.report import machine_line, publish
from cairnbench.servers import Cairn

NAMESPACE, SERVICE = "reg.example", "svc"
TARGET_PER_S, TARGET_CLIENTS = 20_000, 64
SIZE_RATIO_TARGET = 1.2

ZONES = f"""# One namespace, one service: what bench/registrations.py registers into.
[namespace]
name = "{NAMESPACE}"
type = "DNS_PUBLIC"
[namespace.soa]
ttl = 60

[[services]]
name = "{SERVICE}"
routing_policy = "MULTIVALUE"
records = [{{ type = "A", ttl = 60 }}, {{ type = "SRV", ttl = 60 }}]
"""


def wait_ready(server, timeout):
    """Polls until the admin API lists the service and DNS answers the zone's
    SOA; returns the service id."""
    deadline = time.monotonic() + timeout
    last = "nothing yet"
    while time.monotonic() < deadline:
        if not server.running():
            raise BenchError(f"cairn exited before it was ready ({server.exit_status()}); "
                             f"its log:\n{server.log_tail()}")
        try:
            services = live.admin_call(server.socket, "ListServices", {}, timeout=1.0)["Services"]
            ids = [s["Id"] for s in services if s.get("Name") == SERVICE]
            soa = query(server.port, NAMESPACE, "SOA", timeout=0.2)
            if ids and soa and soa.rcode == "NOERROR" and soa.aa:
                return ids[0]
            last = f"services {[s.get('Name') for s in services]}, SOA reply {soa or 'none'}"
        except (OSError, BenchError, KeyError, ValueError) as e:
            last = str(e)
        time.sleep(0.02)
    raise BenchError(f"cairn was not ready within {timeout:.0f} s (last: {last}); "
                     f"its log:\n{server.log_tail()}")


def measure_size(args, size, workdir, results, cluster=False):
    """One fresh cairn (or, with ``cluster``, a fresh etcd and two nodes),
    the client counts in turn; appends one dict per run."""
    zones_dir = os.path.join(workdir, "zones")
    os.makedirs(zones_dir, exist_ok=True)
    with open(os.path.join(zones_dir, "reg.toml"), "w") as f:
        f.write(ZONES)
    data_dir = os.path.join(workdir, f"data-{size}")
    etcd, follower, extra = None, None, ""
    if cluster:
        etcd = live.Etcd(os.path.join(workdir, f"etcd-{size}"))
        etcd.start()
        extra = etcd.store_config(f"/bench-{size}/")
    server = live.LiveCairn(args.cairn, zones_dir, data_dir, extra_config=extra)
    server.start(os.path.join(workdir, f"cairn-{size}"))
    try:
        service_id = wait_ready(server, timeout=30)
        dns_port = server.port
        if cluster:
            empty = os.path.join(workdir, "no-zones")
            os.makedirs(empty, exist_ok=True)
            follower = live.LiveCairn(args.cairn, empty, data_dir + "-b", extra_config=extra)
            follower.start(os.path.join(workdir, f"cairn-{size}-b"))
            wait_ready(follower, timeout=30)
            dns_port = follower.port
        print(f"== service of {size} instances: cairn pid {server.pid()}, "
              f"DNS 127.0.0.1:{server.port}, {service_id}", flush=True)
        # Create every instance first, untimed, so each measured run moves
        # existing instances of a service of the same size.
        base = [args.register_load, "--socket", server.socket, "--service-id", service_id,
                "--instances", str(size)]
        prefill = live.run_json(base + ["--clients", str(max(args.clients)), "--duration", "0",
                                        "--prefill"], timeout=3600)
        print(f"   prefill: {prefill['instances']:,} instances registered in "
              f"{prefill['prefill_s']:.1f} s by {max(args.clients)} clients", flush=True)
        for clients in args.clients:
            argv = base + ["--clients", str(clients), "--duration", str(args.duration),
                           "--dns", f"127.0.0.1:{dns_port}",
                           "--namespace", NAMESPACE, "--service", SERVICE]
            cpu0, busy0 = cpu_seconds(server.pid()), machine_busy_seconds()
            try:
                run = live.run_json(argv, timeout=args.duration * 3 + 600)
            finally:
                cpu = cpu_seconds(server.pid()) - cpu0
                busy = machine_busy_seconds() - busy0
            if not server.running():
                raise BenchError(f"cairn exited during the {clients}-client run "
                                 f"({server.exit_status()}); its log:\n{server.log_tail()}")
            run["size"] = size
            run["store"] = "etcd, A → B" if cluster else "redb"
            run["cairn_cpu_s"] = cpu
            run["cairn_us_per_ack"] = cpu * 1e6 / run["acked"] if run["acked"] else None
            # Busy CPU time on the machine that was neither cairn's nor the load's.
            run["other_cpu_s"] = max(busy - cpu - run["loadgen_cpu_s"], 0.0)
            run["argv"] = argv
            results.append(run)
            print(f"   {clients:>3} clients: {run['acked_per_s']:>9,.0f} acked/s, "
                  f"errors {run['errors']}, register→resolvable p50 {us(run['resolvable_p50_us'])} "
                  f"p99 {us(run['resolvable_p99_us'])}, cairn CPU {cpu:.1f} s "
                  f"({fmt_opt(run['cairn_us_per_ack'], '{:,.0f} µs')}/registration)",
                  flush=True)
            if run["errors"]:
                print(f"   errors: {run['error_kinds']}", file=sys.stderr, flush=True)
        rss = peak_rss_kib(server.pid())
        store = os.path.join(etcd.workdir if etcd else data_dir,
                             "data" if etcd else "cairn.redb")
        size_b = dir_bytes(store)
        results[-1]["after"] = (f"prefill {prefill['prefill_s']:.1f} s, peak RSS "
                                f"{rss / 1024:,.1f} MiB, store {size_b / 2**20:,.1f} MiB")
    finally:
        server.stop()
        if follower:
            follower.stop()
        if etcd:
            etcd.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def dir_bytes(path):
    """A file's size, or every file's under a directory (etcd's data)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names)


def us(value):
    if value is None:
        return "—"
    return f"{value / 1000:,.2f} ms" if value >= 1000 else f"{value} µs"


def fmt_opt(value, pattern):
    return pattern.format(value) if value is not None else "—"


def size_ratios(results):
    """Issue 14's target: a change costs the same whatever the size of its
    service. For each client count, the largest service's CPU per
    registration and rate against the smallest's, from the same run."""
    lines = []
    for store in dict.fromkeys(r["store"] for r in results):
        for clients in dict.fromkeys(r["clients"] for r in results):
            runs = sorted((r for r in results if r["store"] == store and r["clients"] == clients),
                          key=lambda r: r["instances"])
            if len(runs) < 2 or not runs[0]["cairn_us_per_ack"] or not runs[-1]["acked_per_s"]:
                continue
            small, large = runs[0], runs[-1]
            cpu = large["cairn_us_per_ack"] / small["cairn_us_per_ack"]
            rate = small["acked_per_s"] / large["acked_per_s"]
            verdict = "met" if max(cpu, rate) <= SIZE_RATIO_TARGET else "**not met**"
            lines.append(f"- issue 14's target, a change to a service of {large['instances']:,} "
                         f"within {SIZE_RATIO_TARGET}× of one of {small['instances']:,} "
                         f"({store}, {clients} clients): {verdict} — CPU per registration "
                         f"{cpu:.2f}× the small service's, registrations/s "
                         f"{small['acked_per_s']:,.0f} : {large['acked_per_s']:,.0f} = {rate:.2f}")
    return lines


def report(results, args, command, disk):
    out = [f"## cairn registrations — one service, {args.duration} s per run", ""]
    out.append("| store | instances in the service | clients | acknowledged registrations/s | errors | "
               "request p50 | request p99 | register→resolvable p50 | p99 | "
               "cairn CPU per registration | load generator CPU |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        out.append(f"| {r['store']} | {r['instances']:,} | {r['clients']} | {r['acked_per_s']:,.0f} | {r['errors']} | "
                   f"{us(r['request_p50_us'])} | {us(r['request_p99_us'])} | "
                   f"{us(r['resolvable_p50_us'])} | {us(r['resolvable_p99_us'])} | "
                   f"{fmt_opt(r['cairn_us_per_ack'], '{:,.0f} µs')} | "
                   f"{r['loadgen_cpu_s']:.1f} s |")
    out.append("")
    best = [r for r in results if r["clients"] == TARGET_CLIENTS and r["store"] == "redb"]
    for r in best:
        verdict = "met" if r["acked_per_s"] >= TARGET_PER_S else "**not met**"
        out.append(f"- issue 5's target, ≥ {TARGET_PER_S:,} acknowledged registrations/s from "
                   f"{TARGET_CLIENTS} clients: {verdict} with {r['instances']:,} instances in the "
                   f"service ({r['acked_per_s']:,.0f}/s)")
    out.extend(size_ratios(results))
    errors = [f"{r['store']}, {r['instances']} instances × {r['clients']} clients: {r['error_kinds']}"
              for r in results if r["errors"]]
    if errors:
        out.append("- **errors** (non-200 answers or broken connections): " + "; ".join(errors))
    unresolved = [f"{r['store']}, {r['instances']} × {r['clients']}: {r['resolvable_failures']} of "
                  f"{r['resolvable_samples'] + r['resolvable_failures']}"
                  for r in results if r["resolvable_failures"]]
    if unresolved:
        out.append("- **not resolvable within 2 s** after a 200: " + "; ".join(unresolved))
    late = [f"{r['store']}, {r['instances']} × {r['clients']}: up to {r['dns_queries_max']} queries"
            for r in results if r["dns_queries_max"] > 1]
    out.append("- register→resolvable: " + (
        "**acknowledged but not yet visible** in " + "; ".join(late) if late else
        "every sampled registration answered the new address on the first UDP query after "
        "its 200 (cairn applies before it acknowledges)"))
    if args.cluster:
        out.append("- on a cluster, node B hears of a registration through etcd's watch at about "
                   "the moment node A does, so B may answer a few queries before it has it: "
                   "only node A's answer waits for it")
    samples = sum(r["resolvable_samples"] for r in results)
    out.append(f"- {samples:,} register→resolvable samples in all (every 10th request of each "
               "client); the latencies count from sending the request, so they include it")
    noisy = [f"{r['instances']} × {r['clients']}: {r['other_cpu_s']:.1f} s"
             for r in results if r["other_cpu_s"] > 0.1 * args.duration]
    out.append("- other load on the machine (CPU time neither cairn's nor the load's), per run: "
               + ("; ".join(noisy) + " — **noisy**: rerun on a quiet machine before comparing"
                  if noisy else "below 10% of one core in every run"))
    for r in results:
        if r.get("after"):
            out.append(f"- after the runs with {r['instances']:,} instances ({r['store']}): {r['after']}")
    if args.cluster:
        out.append("- etcd, A → B: two cairn nodes on a one-member etcd (fsync on), registrations "
                   "sent to node A, register→resolvable measured on node B's DNS; cairn CPU is "
                   "node A's only")
    out.append(f"- cairn not pinned to a core: {os.cpu_count()} tokio workers and "
               f"{os.cpu_count()} UDP workers (defaults); the load generator (1 tokio worker) "
               "shares the same cores, its CPU time is in the last column")
    out.append(f"- {disk}")
    out.append(f"- {machine_line()}")
    out.append(f"- cairn: {Cairn('cairn', 'cairn', args.cairn).version()}")
    out.append(f"- command: `{command}`; each run: `{shlex.join(results[0]['argv']) if results else ''}` "
               "(socket, port and service id vary)")
    out.append(f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    return "\n".join(out) + "\n"


def parse_args(argv):
    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO_DIR, "target")
    p = argparse.ArgumentParser(prog="bench/run --registrations",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    p.add_argument("--clients", default="1,8,64",
                   help="comma-separated client counts, in run order (default 1,8,64)")
    p.add_argument("--instances", default="64,1024,10000",
                   help="comma-separated service sizes: instance ids in use, one fresh cairn "
                        "each (default 64,1024,10000)")
    p.add_argument("--cairn", default=os.path.join(target_dir, "release", "cairn"),
                   help="the cairn binary (default target/release/cairn)")
    p.add_argument("--register-load",
                   default=os.path.join(target_dir, "release", "examples", "register_load"),
                   help="the load generator (default target/release/examples/register_load)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    p.add_argument("--cluster", action="store_true",
                   help="also measure each size on two nodes on one etcd (needs etcd and a "
                        "cairn built with --features etcd)")
    p.add_argument("--api", action="store_true",
                   help="also measure TCP with SigV4 against the socket, at the smallest "
                        "--instances size (bench/api_load.py, both transports)")
    p.add_argument("--workdir", default=None,
                   help="where the data directories go (default: a new directory under $TMPDIR; "
                        "the disk under it is what is measured)")
    a = p.parse_args(argv)
    a.clients = [int(c) for c in a.clients.split(",") if c.strip()]
    a.instances = [int(c) for c in a.instances.split(",") if c.strip()]
    if a.duration < 1 or not a.clients or min(a.clients) < 1 or not a.instances:
        p.error("--duration, --clients and --instances must be at least 1")
    live.require_built(p, a)
    return a


def main(argv):
    args = parse_args(argv)
    command = os.environ.get("BENCH_COMMAND") or shlex.join(["bench/registrations.py"] + argv)
    if args.workdir:
        os.makedirs(args.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="cairn-registrations-", dir=args.workdir)
    disk = live.disk_line(workdir)
    print(f"work directory {workdir}; {disk}", flush=True)
    results, failed, api_rows = [], None, []
    try:
        for size in args.instances:
            try:
                measure_size(args, size, os.path.join(workdir, str(size)), results)
                if args.cluster:
                    measure_size(args, size, os.path.join(workdir, f"{size}-etcd"), results,
                                 cluster=True)
            except BenchError as e:
                failed = str(e)
                print(f"error: {e}", file=sys.stderr, flush=True)
                break
        if args.api and not failed:
            size = min(args.instances)
            try:
                api_rows = measure_api(args, size, os.path.join(workdir, f"api-{size}"),
                                       os.path.join(workdir, str(size), "zones"), wait_ready)
            except BenchError as e:
                failed = str(e)
                print(f"error: {e}", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if not results:
        return 1
    text = report(results, args, command, disk)
    if api_rows:
        text += report_api(api_rows, min(args.instances), args)
    publish(text, "registrations.md", failed)
    return 1 if failed else 0


if __name__ == "__main__":
    run_main(main)
