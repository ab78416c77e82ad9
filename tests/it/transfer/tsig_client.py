"""A TSIG client independent of cairn, NSD and Knot: dnspython.

usage: tsig_client.py xfr|query|stale HOST PORT ZONE KEYNAME ALGORITHM SECRET

xfr    AXFR with dns.query.xfr and the keyring, which verifies every
       message's TSIG in the chain (RFC 8945 5.3.1); prints one JSON line
       with the messages, how many were signed, and the records.
query  a signed SOA query over TCP; prints the rcode and that the reply
       verified, or the TSIG error dnspython raised.
stale  as query, signed an hour ago.
udp    as query, over UDP.
lines  AXFR (signed unless KEYNAME is "-"), printing a JSON list of the
       zone's records as sorted lines: one format for every server compared.
"""

import json
import sys
import time

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
else:
    if mode == "stale":
        real = time.time
        time.time = lambda: real() - 3600
    query = dns.message.make_query(zone, "SOA")
    query.use_tsig(keyring, keyname=key, algorithm=algorithm)
    try:
        if mode == "udp":
            reply = dns.query.udp(query, host, port=port, timeout=10)
        else:
            reply = dns.query.tcp(query, host, port=port, timeout=10)
        print(json.dumps({"rcode": dns.rcode.to_text(reply.rcode()), "verified": reply.had_tsig}))
    except dns.tsig.PeerError as error:
        print(json.dumps({"tsig_error": type(error).__name__}))
