"""A TSIG client independent of cairn, NSD and Knot: dnspython.

usage: tsig_client.py xfr|query|stale HOST PORT ZONE KEYNAME ALGORITHM SECRET

xfr    AXFR with dns.query.xfr and the keyring, which verifies every
       message's TSIG in the chain (RFC 8945 5.3.1); prints one JSON line
       with the messages, how many were signed, and the records.
query  a signed SOA query over TCP; prints the rcode and that the reply
       verified, or the TSIG error dnspython raised.
stale  as query, signed an hour ago.
udp    as query, over UDP, without EDNS; also prints the reply's size and
       whether TC is set. udp-TYPE asks for TYPE at ZONE (any name) instead.
macN   as query, the MAC cut to its first N bytes (or padded with zeros to
       N) after signing, as RFC 8945 5.2.2.1 truncation; prints the rcode,
       the TSIG error, and whether the reply verified over the MAC sent.
lines  AXFR (signed unless KEYNAME is "-"), printing a JSON list of the
       zone's records as sorted lines: one format for every server compared.
"""

import json
import socket
import struct
import sys
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring

mode, host, port, zone, keyname, algorithm, secret = sys.argv[1:8]
port = int(port)
if keyname == "-":
    keyring = key = None
else:
    keyring = dns.tsigkeyring.from_text({keyname: (algorithm, secret)})
    key = dns.name.from_text(keyname)
algorithm = dns.name.from_text(algorithm)

if mode == "lines":
    lines = set()
    for message in dns.query.xfr(
        host, zone, port=port, keyring=keyring, keyname=key,
        keyalgorithm=algorithm, relativize=False, lifetime=30,
    ):
        for rrset in message.answer:
            for line in rrset.to_text().splitlines():
                lines.add(line.lower())
    print(json.dumps(sorted(lines)))
elif mode == "xfr":
    messages = signed = records = 0
    for message in dns.query.xfr(
        host, zone, port=port, keyring=keyring, keyname=key,
        keyalgorithm=algorithm, relativize=False, lifetime=30,
    ):
        messages += 1
        signed += 1 if message.had_tsig else 0
        records += sum(len(rrset) for rrset in message.answer)
    print(json.dumps({"messages": messages, "signed": signed, "records": records}))
elif mode.startswith("mac"):
    length = int(mode[3:])
    query = dns.message.make_query(zone, "SOA")
    query.use_tsig(keyring, keyname=key, algorithm=algorithm)
    wire = bytearray(query.to_wire())
    # The TSIG record ends with MAC size, MAC, original id, error and an
    # empty other data; its RDATA length sits before the algorithm name.
    mac = bytes(query.mac)
    mac_at = len(wire) - 6 - len(mac)
    rdlength_at = mac_at - 2 - 8 - len(algorithm.to_wire()) - 2
    sent = (mac + bytes(max(0, length - len(mac))))[:length]
    (rdlength,) = struct.unpack("!H", wire[rdlength_at:rdlength_at + 2])
    wire[rdlength_at:rdlength_at + 2] = struct.pack("!H", rdlength - len(mac) + length)
    wire[mac_at - 2:mac_at + len(mac)] = struct.pack("!H", length) + sent
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(struct.pack("!H", len(wire)) + bytes(wire))
        size = b""
        while len(size) < 2:
            size += conn.recv(2 - len(size))
        (size,) = struct.unpack("!H", size)
        reply = b""
        while len(reply) < size:
            reply += conn.recv(size - len(reply))
    result = {"rcode": dns.rcode.to_text(reply[3] & 0x0F)}
    try:
        message = dns.message.from_wire(reply, keyring=keyring, request_mac=sent)
        result["verified"] = message.had_tsig
    except dns.tsig.PeerError as error:
        result["tsig_error"] = type(error).__name__
    print(json.dumps(result))
else:
    if mode == "stale":
        real = time.time
        time.time = lambda: real() - 3600
    qtype = mode.split("-", 1)[1] if mode.startswith("udp-") else "SOA"
    query = dns.message.make_query(zone, qtype)
    query.use_tsig(keyring, keyname=key, algorithm=algorithm)
    try:
        if mode.startswith("udp"):
            wire = query.to_wire()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as conn:
                conn.settimeout(10)
                conn.sendto(wire, (host, port))
                (datagram, _) = conn.recvfrom(65535)
            reply = dns.message.from_wire(datagram, keyring=query.keyring, request_mac=query.mac)
            print(json.dumps({
                "rcode": dns.rcode.to_text(reply.rcode()),
                "verified": reply.had_tsig,
                "size": len(datagram),
                "tc": bool(reply.flags & dns.flags.TC),
            }))
            sys.exit(0)
        reply = dns.query.tcp(query, host, port=port, timeout=10)
        print(json.dumps({"rcode": dns.rcode.to_text(reply.rcode()), "verified": reply.had_tsig}))
    except dns.tsig.PeerError as error:
        print(json.dumps({"tsig_error": type(error).__name__}))
