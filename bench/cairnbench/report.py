"""The results as Markdown: the table, the ratios, and the notes that say
whether a run can be trusted (noise, losses, answers that differ)."""

import os
import platform
import time

from .command import output
from .dnsperf import DNSPERF_VERSION
from .measure import FIXED_LOAD_QPS, sample_queries
from .paths import RESULTS_DIR


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
    return f"machine: {os.cpu_count()} CPUs (nproc {output(['nproc']) or '?'}), {model}, kernel {platform.release()}"


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
    m = by.get("cairn-metrics")
    if c and m and c.udp and m.udp:
        out.append(f"- metrics on/off: UDP q/s {ratio(m.udp.qps, c.udp.qps)}, "
                   f"CPU/query {ratio(m.us_per_query, c.us_per_query)}, "
                   f"TCP q/s {ratio(m.tcp and m.tcp.qps, c.tcp and c.tcp.qps)}")
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


def publish(text, name, failed=None):
    """Prints a report and writes it to bench/results/``name``; a failure,
    when there was one, closes it with its first line."""
    if failed:
        text += f"- failed: {failed.splitlines()[0]}\n"
    print()
    print(text, end="")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, name), "w") as f:
        f.write(text)
    print(f"\n(written to bench/results/{name})")
