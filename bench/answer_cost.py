#!/usr/bin/env python3
"""Instructions per UDP query in cairn's answer path, counted by callgrind,
with `[metrics]` off and on (and any other configs named on the command line).

Instruction counts are exact and repeatable where a timed run on a shared
machine swings by ±15 %, so this is how a change to the answer path shows
its cost: same binary, same data, same queries, one config changed.

For each config: cairn runs under ``valgrind --tool=callgrind`` with one UDP
worker, collecting only inside the UDP worker's loop
(``--toggle-collect``: receive, answer, count, rate-limit, send; nothing
of tokio, the admin API or the start). Once it answers, the counters are
zeroed (``callgrind_control --zero``), a fixed sequence of queries is sent
(the benchmark's mix: 60 % A, 15 % AAAA, 15 % SRV, 10 % NXDOMAIN) with at
most ``--window`` in flight, and the counters dumped: instructions divided
by queries answered. ``--window 1`` makes every batch one query, so the
per-batch costs (clock reads, system calls) fall on every query: the worst
case; a larger window shows them shared as under load.

Standard library only; run through ``bench/run --answer-cost``.
"""

import argparse
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import gen
from cairnbench import dnsclient
from cairnbench.command import BenchError, run_main
from cairnbench.paths import REPO_DIR

# The UDP worker's loop, as callgrind names it (symbols demangled).
COLLECT = "cairn::dns::udp::Worker::serve*"

CONFIGS = {
    "metrics-off": "",
    "metrics-on": '[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n',
}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run --answer-cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=100, help="services in the data set (default 100)")
    p.add_argument("--instances", type=int, default=4, help="instances per service (default 4)")
    p.add_argument("--queries", type=int, default=5000, help="queries measured per config (default 5000)")
    p.add_argument("--window", type=int, action="append",
                   help="queries in flight at once; repeat for several (default 1 and 32)")
    p.add_argument("--configs", default="metrics-off,metrics-on",
                   help=f"which configs, in order (from {', '.join(CONFIGS)})")
    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO_DIR, "target")
    p.add_argument("--cairn", default=os.path.join(target_dir, "release", "cairn"))
    p.add_argument("--keep", action="store_true",
                   help="keep the work directory with callgrind's dumps (for callgrind_annotate)")
    a = p.parse_args(argv)
    a.window = a.window or [1, 32]
    a.configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    for c in a.configs:
        if c not in CONFIGS:
            p.error(f"unknown config {c!r}: --configs takes {', '.join(CONFIGS)}")
    return a


def send_all(port, queries, window):
    """Sends every query with at most ``window`` outstanding; returns how many
    were answered. A query unanswered after 5 s is counted lost."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5.0)
    answered = 0
    pending = set()
    qid = 0
    it = iter(queries)
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:
            try:
                name, qtype = next(it)
            except StopIteration:
                exhausted = True
                break
            qid = (qid + 1) & 0xFFFF
            sock.sendto(dnsclient.encode_query(qid, name, qtype), ("127.0.0.1", port))
            pending.add(qid)
        if not pending:
            break
        try:
            packet = sock.recv(4096)
        except socket.timeout:
            pending.clear()
            continue
        got = int.from_bytes(packet[:2], "big")
        if got in pending:
            pending.discard(got)
            answered += 1
    sock.close()
    return answered


def wait_ready(proc, port, name, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError("cairn exited under valgrind before answering")
        reply = dnsclient.query(port, name, "A", timeout=1.0)
        if reply and reply.rcode == "NOERROR" and reply.answer:
            return
        time.sleep(0.2)
    raise BenchError(f"cairn did not answer {name} under valgrind within {timeout} s")


def total_instructions(path):
    """The Ir total of a callgrind dump (its `summary:` or `totals:` line)."""
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise BenchError(f"{path}: no totals line")


def measure(args, data, workdir, config_name, queries):
    port, metrics_port = dnsclient.free_port(), dnsclient.free_port()
    run_dir = os.path.join(workdir, config_name)
    os.makedirs(run_dir)
    cfg = os.path.join(run_dir, "cairn.toml")
    with open(cfg, "w") as f:
        f.write(f'zones_dir = "{data.zones_dir}"\ndata_dir = "{run_dir}/data"\n'
                f'[dns]\nlisten = ["127.0.0.1:{port}"]\nudp_workers = 1\n'
                f'[admin]\nsocket = "{run_dir}/admin.sock"\n[log]\nlevel = "warn"\n'
                + CONFIGS[config_name].format(metrics_port=metrics_port))
    out = os.path.join(run_dir, "callgrind.out")
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            f"--toggle-collect={COLLECT}", args.cairn, "serve", "--config", cfg]
    log = open(os.path.join(run_dir, "server.log"), "wb")
    proc = subprocess.Popen(argv, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            env=dict(os.environ, TOKIO_WORKER_THREADS="1"), start_new_session=True)
    log.close()
    results = {}
    try:
        wait_ready(proc, port, data.service(data.services))
        for window in args.window:
            # Warm the caches and the limiter's table out of the count.
            send_all(port, queries[:200], window)
            subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True,
                           stdout=subprocess.DEVNULL)
            answered = send_all(port, queries, window)
            before = set(glob.glob(out + "*"))
            subprocess.run(["callgrind_control", "--dump", str(proc.pid)], check=True,
                           stdout=subprocess.DEVNULL)
            dumps = sorted(set(glob.glob(out + "*")) - before, key=os.path.getmtime)
            if not dumps:
                raise BenchError("callgrind wrote no dump")
            results[window] = (total_instructions(dumps[-1]), answered)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return results


def main(argv):
    args = parse_args(argv)
    for tool in ("valgrind", "callgrind_control"):
        if not shutil.which(tool):
            raise BenchError(f"{tool} not found: apt-get install valgrind")
    workdir = tempfile.mkdtemp(prefix="cairn-answer-cost-")
    try:
        data = gen.generate(os.path.join(workdir, "data"), args.services, args.instances,
                            queries=args.queries, rfc1035=False)
        with open(data.query_file) as f:
            queries = [tuple(line.split()) for line in f if line.strip()]
        table = {}
        for name in args.configs:
            print(f"{name}: measuring under callgrind …", file=sys.stderr, flush=True)
            table[name] = measure(args, data, workdir, name, queries)
    finally:
        if args.keep:
            print(f"callgrind dumps kept under {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"## instructions per UDP query (callgrind, {args.queries:,} queries, "
          f"{args.services} services × {args.instances})\n")
    print("| config | " + " | ".join(f"window {w}" for w in args.window) + " |")
    print("|---|" + "---|" * len(args.window))
    for name, results in table.items():
        cells = []
        for w in args.window:
            ir, answered = results[w]
            cells.append(f"{ir / max(answered, 1):,.0f} ({answered:,} answered)")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    run_main(main)
