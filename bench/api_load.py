#!/usr/bin/env python3
"""RegisterInstance load in Python, over cairn's admin socket (unsigned) or
over its TCP API with every request signed (AWS Signature Version 4): N
clients, each on its own keep-alive HTTP/1.1 connection, in a closed loop
for a fixed time; the run ends with one line of JSON.

    bench/api_load.py --socket PATH --service-id srv-… --clients 8 --duration 10
    bench/api_load.py --tcp 127.0.0.1:PORT --key-id AKIA… --secret-file F \\
        --service-id srv-… --clients 8 --duration 10

The same generator drives both transports, so the ratio of the two runs is
the cost of TCP and authentication to cairn, not a difference between load
generators. Ids and addresses work as in examples/register_load.rs: the ids
``i0`` … ``i<instances-1>`` are shared out between the clients, every
request carries an IPv4 address not used before in the run, ``--prefill``
registers every id once before the clock starts. Only HTTP 200 counts.

With ``--tcp``, one request signed with a wrong secret is sent first and
must be refused with 400 InvalidSignatureException; then one signed right
must get 200: the signer is checked against cairn before anything is
measured. ``sign_cpu_s`` in the output is the CPU time this process spent
signing (``loadgen_cpu_s`` includes it). Used by ``bench/run
--registrations --api`` (bench/README.md). Standard library only.
"""

import argparse
import asyncio
import ipaddress
import json
import sys
import time

from cairnbench.sigv4 import Signer

TARGET = "Route53AutoNaming_v20170314.RegisterInstance"
CONTENT_TYPE = "application/x-amz-json-1.1"


class Client:
    """One keep-alive connection; ``call`` returns (status, body)."""

    def __init__(self, args, signer):
        self.args, self.signer = args, signer
        self.host = args.tcp or "localhost"
        self.reader = self.writer = None
        self.sign_cpu = 0.0

    async def connect(self):
        if self.args.tcp:
            host, port = self.args.tcp.rsplit(":", 1)
            self.reader, self.writer = await asyncio.open_connection(host, int(port))
        else:
            self.reader, self.writer = await asyncio.open_unix_connection(self.args.socket)

    def close(self):
        if self.writer:
            self.writer.close()
        self.reader = self.writer = None

    async def call(self, payload, signer=None):
        signer = signer or self.signer
        body = json.dumps(payload).encode()
        head = [f"POST / HTTP/1.1", f"Host: {self.host}", f"Content-Type: {CONTENT_TYPE}",
                f"X-Amz-Target: {TARGET}", f"Content-Length: {len(body)}"]
        if signer:
            t0 = time.process_time()
            signed = signer.headers(self.host, TARGET, CONTENT_TYPE, body)
            self.sign_cpu += time.process_time() - t0
            head += [f"{k}: {v}" for k, v in signed.items()]
        if self.writer is None:
            await self.connect()
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip()
                  for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" not in fields:
            raise ValueError(f"answer without Content-Length: {lines[:6]}")
        data = await self.reader.readexactly(int(fields["content-length"]))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, data


def payload(args, k, address):
    return {"ServiceId": args.service_id, "InstanceId": f"i{k}",
            "Attributes": {"AWS_INSTANCE_IPV4": str(address), "AWS_INSTANCE_PORT": "8080"}}


async def check_signer(args, client):
    """A wrong secret must be refused as a bad signature, the right one
    accepted; returns the refusal's error type."""
    wrong = Signer(args.key_id, client.signer.secret + "x", args.region)
    status, data = await client.call(payload(args, 0, "10.255.255.254"), signer=wrong)
    if status != 400 or b"InvalidSignatureException" not in data:
        raise RuntimeError(f"a wrong secret got {status} {data[:200]!r}, "
                           "not 400 InvalidSignatureException")
    status, data = await client.call(payload(args, 0, "10.255.255.253"))
    if status != 200:
        raise RuntimeError(f"a request signed with the right secret got {status} {data[:300]!r}")
    return "InvalidSignatureException"


async def run(args, signer):
    counter = iter(range(1, 1 << 24))
    address = lambda: ipaddress.IPv4Address(0x0A000000 | next(counter))  # noqa: E731
    clients = [Client(args, signer) for _ in range(args.clients)]
    for c in clients:
        await c.connect()
    check = await check_signer(args, clients[0]) if signer else None
    prefill_s = None
    if args.prefill:
        t0 = time.monotonic()
        await asyncio.gather(*(register_ids(args, c, i, address) for i, c in enumerate(clients)))
        prefill_s = time.monotonic() - t0
    cpu0, sign0 = time.process_time(), sum(c.sign_cpu for c in clients)
    latencies, errors = [], {}
    t0 = time.monotonic()
    deadline = t0 + args.duration
    await asyncio.gather(*(loop(args, c, i, address, deadline, latencies, errors)
                           for i, c in enumerate(clients)))
    elapsed = time.monotonic() - t0
    for c in clients:
        c.close()
    latencies.sort()
    pick = lambda q: round(latencies[min(int(q * len(latencies)), len(latencies) - 1)] * 1e6) \
        if latencies else None  # noqa: E731
    return {
        "clients": args.clients, "instances": args.instances, "prefill_s": prefill_s,
        "transport": "tcp+sigv4" if signer else "socket", "signature_check": check,
        "elapsed_s": elapsed, "acked": len(latencies),
        "acked_per_s": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "errors": sum(errors.values()), "error_kinds": errors,
        "request_p50_us": pick(0.5), "request_p99_us": pick(0.99),
        "loadgen_cpu_s": time.process_time() - cpu0,
        "sign_cpu_s": sum(c.sign_cpu for c in clients) - sign0,
    }


def my_ids(args, index):
    return range(index, args.instances, args.clients)


async def register_ids(args, client, index, address):
    for k in my_ids(args, index):
        status, data = await client.call(payload(args, k, address()))
        if status != 200:
            raise RuntimeError(f"prefill of i{k} got {status} {data[:300]!r}")


async def loop(args, client, index, address, deadline, latencies, errors):
    ids = list(my_ids(args, index))
    if not ids:
        return
    n = 0
    while time.monotonic() < deadline:
        k = ids[n % len(ids)]
        n += 1
        t0 = time.monotonic()
        try:
            status, data = await client.call(payload(args, k, address()))
        except (OSError, ValueError, asyncio.IncompleteReadError) as e:
            kind = f"connection: {type(e).__name__}"
            errors[kind] = errors.get(kind, 0) + 1
            client.close()
            continue
        if status == 200:
            latencies.append(time.monotonic() - t0)
        else:
            kind = f"{status} {data[:120].decode('utf-8', 'replace')}"
            errors[kind] = errors.get(kind, 0) + 1


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", help="the admin socket (unsigned requests)")
    where.add_argument("--tcp", help="HOST:PORT of [api] listen (signed requests)")
    p.add_argument("--key-id", help="access key id (with --tcp)")
    p.add_argument("--secret-file", help="file holding the secret (with --tcp)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--service-id", required=True)
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--instances", type=int, default=1000)
    p.add_argument("--prefill", action="store_true")
    args = p.parse_args(argv)
    if args.clients < 1 or args.instances < args.clients:
        p.error("--clients must be at least 1 and at most --instances")
    signer = None
    if args.tcp:
        if not args.key_id or not args.secret_file:
            p.error("--tcp needs --key-id and --secret-file")
        with open(args.secret_file) as f:
            signer = Signer(args.key_id, f.read().strip(), args.region)
    try:
        result = asyncio.run(run(args, signer))
    except (OSError, RuntimeError, ValueError, asyncio.IncompleteReadError) as e:
        print(f"api_load: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
