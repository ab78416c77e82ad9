"""Writes the seeds of the `transfer_request` and `tsig` fuzz targets with
dnspython, a signer independent of cairn: real signed requests (and
replies to the target's NOTIFY) at the time and with the keys the target
verifies with (fuzz/src/transfer.rs).

usage: python3 fuzz/tsig_seeds.py   (from the repository; rewrites the seeds)
"""

import os
import struct
import time

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring

NOW = 1_700_000_000
KEYS = {
    "xfrkey": (dns.tsig.HMAC_SHA256, b"fuzzing secret, 256"),
    "bigkey": (dns.tsig.HMAC_SHA512, b"fuzzing secret, 512"),
}
HERE = os.path.dirname(os.path.abspath(__file__))


def key(name, secret=None):
    algorithm, real = KEYS.get(name, (dns.tsig.HMAC_SHA256, b"unknown"))
    return dns.tsig.Key(name, secret or real, algorithm)


def signed(message, name="xfrkey", at=NOW, secret=None):
    real = time.time
    time.time = lambda: at
    try:
        message.use_tsig(key(name, secret), fudge=300)
        return message.to_wire()
    finally:
        time.time = real


def query(zone, qtype, serial=None, edns=False, id=0x1234):
    message = dns.message.make_query(zone, qtype, use_edns=0 if edns else None)
    message.id = id
    message.flags = 0
    if serial is not None:
        soa = dns.rrset.from_text(
            zone, 0, "IN", "SOA", f"ns1.{zone} hostmaster.{zone} {serial} 3600 600 86400 60"
        )
        message.authority.append(soa)
    return message


def truncated(wire, length):
    """`wire` with its TSIG MAC cut to `length` bytes (other data empty)."""
    wire = bytearray(wire)
    (algorithm_len, mac_len) = (len(dns.tsig.HMAC_SHA256.to_wire()), 32)
    mac_at = len(wire) - 6 - mac_len
    rdlength_at = mac_at - 2 - 8 - algorithm_len - 2
    (rdlength,) = struct.unpack("!H", wire[rdlength_at:rdlength_at + 2])
    wire[rdlength_at:rdlength_at + 2] = struct.pack("!H", rdlength - mac_len + length)
    wire[mac_at - 2:mac_at + mac_len] = struct.pack("!H", length) + wire[mac_at:mac_at + length]
    return bytes(wire)


def notify(sign=True):
    message = dns.message.Message(id=0x1234)
    message.set_opcode(dns.opcode.NOTIFY)
    message.flags |= dns.flags.AA
    message.question.append(
        dns.rrset.RRset(dns.name.from_text("svc.test."), dns.rdataclass.IN, dns.rdatatype.SOA)
    )
    if sign:
        signed(message)
    return message


def write(target, name, wire):
    with open(os.path.join(HERE, "corpus", target, name), "wb") as seed:
        seed.write(wire)

requests = {
    "axfr": query("svc.test.", "AXFR"),
    "axfr-edns": query("Svc.Test.", "AXFR", edns=True),
    "ixfr": query("svc.test.", "IXFR", serial=41),
    "soa": query("svc.test.", "SOA"),
}
for name, message in requests.items():
    write("transfer_request", f"dnspython-{name}", message.to_wire())
    write("transfer_request", f"dnspython-{name}-signed", signed(message))

write("tsig", "request-soa", signed(query("svc.test.", "SOA")))
write("tsig", "request-axfr-edns", signed(query("svc.test.", "AXFR", edns=True)))
write("tsig", "request-ixfr-sha512", signed(query("svc.test.", "IXFR", serial=41), "bigkey"))
write("tsig", "request-mac-16", truncated(signed(query("svc.test.", "SOA")), 16))
write("tsig", "request-mac-15", truncated(signed(query("svc.test.", "SOA")), 15))
write("tsig", "request-stale", signed(query("svc.test.", "SOA"), at=NOW - 3600))
write("tsig", "request-wrong-secret", signed(query("svc.test.", "SOA"), secret=b"wrong"))
write("tsig", "request-unknown-key", signed(query("svc.test.", "SOA"), "nokey"))
# Replies to the target's NOTIFY: signed over its MAC (as make_response
# chains them), and unsigned.
reply = dns.message.make_response(notify())
real = time.time
time.time = lambda: NOW
write("tsig", "notify-reply-signed", reply.to_wire())
time.time = real
unsigned = dns.message.make_response(notify(sign=False))
write("tsig", "notify-reply-unsigned", unsigned.to_wire())
