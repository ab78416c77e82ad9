#!/usr/bin/env python3
"""The benchmark's data set, written three ways from one description.

N services x M instances in the public namespace ``bench.example``; every
service is MULTIVALUE with A + AAAA + SRV, so every instance also gets a
target name ``iK.sNNNNN.bench.example``. This module writes:

* ``zones/bench.toml``     -- the cairn zones file (one namespace),
* ``bench.example.zone``   -- the same records as an RFC 1035 zone for NSD/Knot,
* ``queries.txt``          -- the dnsperf query file: 60% A, 15% AAAA, 15% SRV
                              on service names, 10% names that do not exist,
                              shuffled with a fixed seed.

Both zone forms carry the same SOA (TTL 60, cairn's default timers), the same
NS, the same TTLs and the same addresses, so every server answers the same
records. Standard library only; run it alone to inspect the files:

    python3 bench/gen.py --services 10 --instances 2 --out /tmp/benchdata
"""

import argparse
import ipaddress
import os
import random
from dataclasses import dataclass

ZONE = "bench.example"
TTL = 60
SRV_PORT = 8080
SEED = 42
# cairn's SOA defaults (src/registry/model.rs); the zone file repeats them so
# negative answers carry the same SOA and negative TTL on every server.
SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, SOA_MINIMUM = 7200, 900, 1_209_600, 86_400


@dataclass(frozen=True)
class DataSet:
    """Where the generated files are, and what the readiness/check queries are."""

    zones_dir: str
    zone_file: str
    query_file: str
    services: int
    instances: int

    def service(self, n):
        """The fully qualified name of service number ``n`` (1-based)."""
        return f"{service_label(n)}.{ZONE}."


def service_label(n):
    """``s00001`` .. ``s99999``, then ``s100000`` and up."""
    return f"s{n:05d}"


def addresses(n, k, instances):
    """The IPv4 and IPv6 address of instance ``k`` of service ``n``: unique
    across the data set for up to 16M instances."""
    c = (n - 1) * instances + k + 1
    ipv4 = f"10.{(c >> 16) & 255}.{(c >> 8) & 255}.{c & 255}"
    ipv6 = str(ipaddress.IPv6Address((0xFD00 << 112) | c))
    return ipv4, ipv6


def write_cairn_zones(path, services, instances):
    with open(path, "w") as f:
        f.write(f'[namespace]\nname = "{ZONE}"\ntype = "DNS_PUBLIC"\n')
        f.write(f"[namespace.soa]\nttl = {TTL}\n")
        records = (f'[{{ type = "A", ttl = {TTL} }}, {{ type = "AAAA", ttl = {TTL} }}, '
                   f'{{ type = "SRV", ttl = {TTL} }}]')
        for n in range(1, services + 1):
            f.write(f'\n[[services]]\nname = "{service_label(n)}"\n'
                    f'routing_policy = "MULTIVALUE"\nrecords = {records}\n')
            for k in range(instances):
                ipv4, ipv6 = addresses(n, k, instances)
                f.write(f'[[services.instances]]\nid = "i{k}"\nipv4 = "{ipv4}"\n'
                        f'ipv6 = "{ipv6}"\nport = {SRV_PORT}\n')


def write_rfc1035_zone(path, services, instances):
    with open(path, "w") as f:
        f.write(f"$ORIGIN {ZONE}.\n$TTL {TTL}\n")
        f.write(f"@ {TTL} IN SOA ns1.{ZONE}. hostmaster.{ZONE}. 1 "
                f"{SOA_REFRESH} {SOA_RETRY} {SOA_EXPIRE} {SOA_MINIMUM}\n")
        f.write(f"@ {TTL} IN NS ns1.{ZONE}.\n")
        for n in range(1, services + 1):
            s = service_label(n)
            lines = []
            for k in range(instances):
                ipv4, ipv6 = addresses(n, k, instances)
                lines.append(f"{s} IN A {ipv4}")
                lines.append(f"{s} IN AAAA {ipv6}")
                lines.append(f"{s} IN SRV 1 1 {SRV_PORT} i{k}.{s}.{ZONE}.")
            for k in range(instances):
                ipv4, ipv6 = addresses(n, k, instances)
                lines.append(f"i{k}.{s} IN A {ipv4}")
                lines.append(f"i{k}.{s} IN AAAA {ipv6}")
            f.write("\n".join(lines) + "\n")


def write_queries(path, services, count, seed=SEED):
    """``count`` queries in exact proportions 60/15/15/10, shuffled with
    ``seed`` so every run and every server sees the same sequence."""
    rng = random.Random(seed)
    n_a, n_aaaa, n_srv = count * 60 // 100, count * 15 // 100, count * 15 // 100
    n_nx = count - n_a - n_aaaa - n_srv
    queries = []
    for qtype, how_many in (("A", n_a), ("AAAA", n_aaaa), ("SRV", n_srv)):
        queries += [f"{service_label(rng.randint(1, services))}.{ZONE}. {qtype}"
                    for _ in range(how_many)]
    queries += [f"nx{rng.randrange(10**8):08d}.{ZONE}. A" for _ in range(n_nx)]
    rng.shuffle(queries)
    with open(path, "w") as f:
        f.write("\n".join(queries) + "\n")


def generate(out_dir, services, instances, queries=200_000, rfc1035=True):
    """Writes the three files under ``out_dir`` and returns a :class:`DataSet`;
    with ``rfc1035=False`` only the cairn zones file and the queries (the
    scale benchmark has no NSD/Knot to feed)."""
    if services < 1:
        raise ValueError(f"--services must be at least 1, got {services}")
    if instances < 1:
        raise ValueError(f"--instances must be at least 1, got {instances}")
    zones_dir = os.path.join(out_dir, "zones")
    os.makedirs(zones_dir, exist_ok=True)
    data = DataSet(zones_dir=zones_dir,
                   zone_file=os.path.join(out_dir, f"{ZONE}.zone"),
                   query_file=os.path.join(out_dir, "queries.txt"),
                   services=services, instances=instances)
    write_cairn_zones(os.path.join(zones_dir, "bench.toml"), services, instances)
    if rfc1035:
        write_rfc1035_zone(data.zone_file, services, instances)
    write_queries(data.query_file, services, queries)
    return data


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--instances", type=int, default=4)
    p.add_argument("--queries", type=int, default=200_000)
    p.add_argument("--out", required=True, help="directory to write into")
    a = p.parse_args()
    d = generate(a.out, a.services, a.instances, a.queries)
    print(f"wrote {d.zones_dir}/bench.toml, {d.zone_file}, {d.query_file}")


if __name__ == "__main__":
    main()
