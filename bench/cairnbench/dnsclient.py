"""A minimal DNS client: enough to poll readiness and compare answers."""

import os
import socket
import struct
import time
from dataclasses import dataclass

QTYPES = {"A": 1, "NS": 2, "SOA": 6, "TXT": 16, "AAAA": 28, "SRV": 33, "OPT": 41}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


@dataclass(frozen=True)
class Reply:
    """A reply, reduced to what can be compared between servers: the rcode,
    the AA and TC flags, and each section's records as sorted text (owner
    lowercased, TTL, type, data). The OPT record is left out of additional."""

    rcode: str
    aa: bool
    tc: bool
    answer: tuple
    authority: tuple
    additional: tuple

    def key(self):
        """What must match between servers: rcode, AA, the answer records,
        the additional records and the SOA in authority. (NSD also puts the
        zone's NS in authority on positive answers; Knot does not, and
        neither is wrong, so NS in authority is not compared.)"""
        soa = tuple(rr for rr in self.authority if " SOA " in rr)
        return (self.rcode, self.aa, self.answer, self.additional, soa)

    def __str__(self):
        flags = "aa" if self.aa else "--"
        if self.tc:
            flags += ",tc"
        return (f"{self.rcode} {flags} an={len(self.answer)} ns={len(self.authority)} "
                f"ar={len(self.additional)}")


TYPE_NAMES = {v: k for k, v in QTYPES.items()}


def encode_query(qid, name, qtype):
    wire = b"".join(bytes([len(label)]) + label.encode("ascii")
                    for label in name.rstrip(".").split(".") if label) + b"\0"
    # RD=0, one question, an EDNS0 OPT record (1232-byte buffer) in additional.
    header = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 1)
    opt = b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    return header + wire + struct.pack(">HH", QTYPES[qtype], 1) + opt


def _read_name(packet, pos):
    """A possibly compressed name at ``pos``: (text, position after it)."""
    labels, end, hops = [], None, 0
    while True:
        length = packet[pos]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | packet[pos + 1]
            hops += 1
            if hops > 64:
                raise ValueError("compression loop")
            continue
        pos += 1
        if length == 0:
            return ".".join(labels).lower() + ".", end if end is not None else pos
        labels.append(packet[pos:pos + length].decode("ascii", "replace"))
        pos += length


def _rdata(packet, rtype, start, length):
    data = packet[start:start + length]
    if rtype == 1 and length == 4:
        return socket.inet_ntop(socket.AF_INET, data)
    if rtype == 28 and length == 16:
        return socket.inet_ntop(socket.AF_INET6, data)
    if rtype == 2:
        return _read_name(packet, start)[0]
    if rtype == 33:
        prio, weight, port = struct.unpack(">HHH", data[:6])
        return f"{prio} {weight} {port} {_read_name(packet, start + 6)[0]}"
    if rtype == 6:
        mname, pos = _read_name(packet, start)
        rname, pos = _read_name(packet, pos)
        # The serial is each server's own business (cairn's is a revision).
        _serial, *timers = struct.unpack(">IIIII", packet[pos:pos + 20])
        return f"{mname} {rname} {' '.join(map(str, timers))}"
    return data.hex()


def decode_reply(qid, packet):
    try:
        rid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", packet[:12])
        if rid != qid or not flags & 0x8000:
            return None
        pos = 12
        for _ in range(qd):
            pos = _read_name(packet, pos)[1] + 4
        sections = []
        for count in (an, ns, ar):
            records = []
            for _ in range(count):
                owner, pos = _read_name(packet, pos)
                rtype, _rclass, ttl, length = struct.unpack(">HHIH", packet[pos:pos + 10])
                pos += 10
                if rtype != 41:
                    records.append(f"{owner} {ttl} {TYPE_NAMES.get(rtype, rtype)} "
                                   f"{_rdata(packet, rtype, pos, length)}")
                pos += length
            sections.append(tuple(sorted(records)))
    except (struct.error, IndexError, ValueError):
        return None
    return Reply(rcode=RCODES.get(flags & 0xF, str(flags & 0xF)), aa=bool(flags & 0x0400),
                 tc=bool(flags & 0x0200), answer=sections[0], authority=sections[1],
                 additional=sections[2])


def query(port, name, qtype, tcp=False, timeout=1.0):
    """One query to 127.0.0.1:port; the reply's header, or None on timeout
    or a connection error."""
    qid = int.from_bytes(os.urandom(2), "big")
    msg = encode_query(qid, name, qtype)
    try:
        if tcp:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                s.sendall(struct.pack(">H", len(msg)) + msg)
                data = b""
                while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
                    chunk = s.recv(65535)
                    if not chunk:
                        return None
                    data += chunk
                return decode_reply(qid, data[2:])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(msg, ("127.0.0.1", port))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                reply = decode_reply(qid, s.recv(65535))
                if reply:
                    return reply
    except OSError:
        return None
    return None


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
