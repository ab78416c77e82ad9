"""One server measured: started, checked against sample queries, driven by
dnsperf three ways, its peak RSS read, stopped."""

import os
from dataclasses import dataclass, field

import gen

from . import dnsclient, dnsperf, procfs
from .command import BenchError
from .dnsperf import Run
from .servers import SERVER_CPU, Server

FIXED_LOAD_QPS = 100_000


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
    port = dnsclient.free_port()
    print(f"== {server.title}: {result.version}; 127.0.0.1:{port}", flush=True)
    server.start(os.path.join(args.workdir, server.name), data, port)
    try:
        server.wait_ready(data, timeout=30 + data.services * data.instances / 5000)
        for label, name, qtype, tcp in sample_queries(data):
            result.answers[label] = dnsclient.query(port, name, qtype, tcp=tcp)
        pid = server.proc.pid

        def run(kind, extra):
            done = accounted(pid, lambda: dnsperf.dnsperf(port, data, args.duration, extra,
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

        result.rss_kib = procfs.peak_rss_kib(pid)
    finally:
        server.stop()
    return result


def accounted(pid, load):
    """Runs ``load`` (a dnsperf run) and charges it the CPU time the server's
    process tree used meanwhile, and the busy time of the server's core that
    was not the server's (other load on the machine: noise)."""
    cpu0, server0 = procfs.core_busy_seconds(SERVER_CPU), procfs.cpu_seconds(pid)
    result = load()
    result.cpu_s = procfs.cpu_seconds(pid) - server0
    result.foreign_s = max(procfs.core_busy_seconds(SERVER_CPU) - cpu0 - result.cpu_s, 0.0)
    return result
