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
import shlex
import shutil
import sys
import tempfile
import time

import gen
from cairnbench.command import BenchError, run_main
from cairnbench.measure import measure
from cairnbench.paths import REPO_DIR, RESULTS_DIR
from cairnbench.report import answers_table, report
from cairnbench.servers import make_server


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
    p.add_argument("--metrics", action="store_true",
                   help="also run cairn with [metrics] on (server cairn-metrics), right after cairn")
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
    if a.metrics and "cairn-metrics" not in a.servers:
        at = a.servers.index("cairn") + 1 if "cairn" in a.servers else 0
        a.servers.insert(at, "cairn-metrics")
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


if __name__ == "__main__":
    run_main(main)
