"""dnsperf, the load generator: one run, pinned to its own core, its output
kept and parsed."""

import re
import shlex
import subprocess
from dataclasses import dataclass, field

from .command import BenchError

LOADGEN_CPU = "1"


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
