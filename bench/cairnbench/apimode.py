"""``bench/run --registrations --api``: the cost of the TCP API with SigV4
against the admin socket, on one fresh cairn with ``[api] listen`` and one
access key. For each client count, ``bench/api_load.py`` registers over
the socket (unsigned) and then over TCP with every request signed; the same
Python generator does both, so the ratio is cairn's, not the generators'.
"""

import os
import sys
import time

from . import live
from .command import BenchError
from .dnsclient import free_port
from .paths import BENCH_DIR
from .procfs import cpu_seconds, machine_busy_seconds

KEY_ID = "AKIACAIRNBENCH000001"
SECRET = "cairn-bench-secret-not-used-anywhere-else"
TRANSPORTS = ("socket", "tcp+sigv4")


def api_config(workdir, port):
    """The [api] table and the key's secret file (mode 0600: cairn refuses
    a wider one)."""
    path = os.path.join(workdir, "api.secret")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(SECRET)
    return (f'[api]\nlisten = ["127.0.0.1:{port}"]\n'
            f'[[api.keys]]\naccess_key_id = "{KEY_ID}"\nsecret_file = "{path}"\n')


def measure_api(args, size, workdir, zones_dir, wait_ready):
    """Both transports at every client count on one cairn; a list of dicts
    (api_load.py's output plus cairn's CPU)."""
    os.makedirs(workdir, exist_ok=True)
    port = free_port()
    server = live.LiveCairn(args.cairn, zones_dir, os.path.join(workdir, "data"),
                            extra_config=api_config(workdir, port))
    server.start(os.path.join(workdir, "cairn"))
    rows = []
    try:
        service_id = wait_ready(server, timeout=30)
        print(f"== --api, service of {size} instances: cairn pid {server.pid()}, "
              f"API 127.0.0.1:{port}, {service_id}", flush=True)
        load = [sys.executable, os.path.join(BENCH_DIR, "api_load.py"),
                "--service-id", service_id, "--instances", str(size)]
        where = {"socket": ["--socket", server.socket],
                 "tcp+sigv4": ["--tcp", f"127.0.0.1:{port}", "--key-id", KEY_ID,
                               "--secret-file", os.path.join(workdir, "api.secret")]}
        live.run_json(load + where["socket"] + ["--clients", str(max(args.clients)),
                                                "--duration", "0", "--prefill"], timeout=600)
        for clients in args.clients:
            for transport in TRANSPORTS:
                argv = load + where[transport] + ["--clients", str(clients),
                                                  "--duration", str(args.duration)]
                cpu0, busy0 = cpu_seconds(server.pid()), machine_busy_seconds()
                try:
                    run = live.run_json(argv, timeout=args.duration * 3 + 120)
                finally:
                    cpu = cpu_seconds(server.pid()) - cpu0
                    busy = machine_busy_seconds() - busy0
                # Busy CPU time on the machine that was neither cairn's nor the generator's.
                run["other_cpu_s"] = max(busy - cpu - run["loadgen_cpu_s"], 0.0)
                if not server.running():
                    raise BenchError(f"cairn exited during the {transport} run "
                                     f"({server.exit_status()}); its log:\n{server.log_tail()}")
                run["cairn_us_per_ack"] = cpu * 1e6 / run["acked"] if run["acked"] else None
                run["argv"] = argv
                rows.append(run)
                print(f"   {transport:>9}, {clients:>3} clients: {run['acked_per_s']:>8,.0f} "
                      f"acked/s, errors {run['errors']}, cairn "
                      f"{run['cairn_us_per_ack'] or 0:,.0f} µs/registration, generator "
                      f"{run['loadgen_cpu_s']:.1f} s (signing {run['sign_cpu_s']:.2f} s)",
                      flush=True)
                if run["errors"]:
                    print(f"   errors: {run['error_kinds']}", file=sys.stderr, flush=True)
    finally:
        server.stop()
    return rows


def report_api(rows, size, args):
    """The Markdown section: one line per client count, both transports and
    their ratios."""
    out = ["", f"### TCP + SigV4 against the socket — {size} instances, "
           f"{args.duration} s per run, the same Python generator both ways", "",
           "| clients | socket registrations/s | TCP+SigV4 registrations/s | ratio | "
           "socket cairn CPU/registration | TCP+SigV4 cairn CPU/registration | ratio | "
           "generator CPU socket / TCP+SigV4 (of which signing) | errors |",
           "|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for clients in dict.fromkeys(r["clients"] for r in rows):
        pair = {r["transport"]: r for r in rows if r["clients"] == clients}
        s, t = pair.get("socket"), pair.get("tcp+sigv4")
        if not s or not t:
            continue
        rate = t["acked_per_s"] / s["acked_per_s"] if s["acked_per_s"] else None
        cpu = (t["cairn_us_per_ack"] / s["cairn_us_per_ack"]
               if s["cairn_us_per_ack"] and t["cairn_us_per_ack"] else None)
        out.append(f"| {clients} | {s['acked_per_s']:,.0f} | {t['acked_per_s']:,.0f} | "
                   f"{fmt(rate, '{:.2f}×')} | {fmt(s['cairn_us_per_ack'], '{:,.0f} µs')} | "
                   f"{fmt(t['cairn_us_per_ack'], '{:,.0f} µs')} | {fmt(cpu, '{:.2f}×')} | "
                   f"{s['loadgen_cpu_s']:.1f} s / {t['loadgen_cpu_s']:.1f} s "
                   f"({t['sign_cpu_s']:.2f} s) | {s['errors']} / {t['errors']} |")
        for r in (s, t):
            if r["loadgen_cpu_s"] > 0.9 * r["elapsed_s"]:
                notes.append(f"{r['transport']} at {clients} clients")
    out.append("")
    out.append("- signer checked against cairn before the TCP runs: a wrong secret got 400 "
               "InvalidSignatureException, the right one 200")
    out.append("- cairn CPU is cairn's process only (/proc, utime+stime of its threads); the "
               "generator's CPU, signing included, is its own column and not in cairn's")
    noisy = [f"{r['transport']} × {r['clients']}: {r['other_cpu_s']:.1f} s" for r in rows
             if r["other_cpu_s"] > 0.1 * args.duration]
    out.append("- other load on the machine (CPU time neither cairn's nor the generator's), per "
               "run: " + ("; ".join(noisy) + " — **noisy**: the ratios are the figures to read"
                          if noisy else "below 10% of one core in every run"))
    if notes:
        out.append("- **generator-bound** (the Python generator used more than 90% of a core): "
                   + ", ".join(notes) + " — the rate there is the generator's ceiling; "
                   "compare CPU per registration, not registrations/s")
    out.append("- the socket rows here come from api_load.py, not register_load, so they differ "
               "from the table above; only the ratios count")
    out.append(f"- each TCP run: `{' '.join(rows[-1]['argv'])}` (port, id and paths vary)"
               if rows else "- no runs")
    out.append(f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    return "\n".join(out) + "\n"


def fmt(value, pattern):
    return pattern.format(value) if value is not None else "—"
