//! Differential test: cairn and NSD serve the same records; their answers
//! must agree on what a client acts on (rcode, AA, the answer RRsets, the
//! negative SOA). Skips where `nsd` is not installed, except under CI, where
//! that fails (`.ci/run` installs it).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::{Record, RecordType};

use crate::support::{
    DEADLINE, TestServer, exchange_tcp, exchange_udp, free_port, query_message, require_tool,
};

pub const ZONE: &str = r#"
[namespace]
name = "ref.test"
type = "DNS_PUBLIC"

[namespace.soa]
ttl = 300
minimum = 60

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }, { type = "AAAA", ttl = 20 }, { type = "SRV", ttl = 30 }]

[[services.instances]]
id = "w1"
ipv4 = "10.0.0.1"
ipv6 = "fd00::1"
port = 8080

[[services.instances]]
id = "w2"
ipv4 = "10.0.0.2"
ipv6 = "fd00::2"
port = 8081

[[services]]
name = "_ldap._tcp"
records = [{ type = "SRV", ttl = 40 }, { type = "A", ttl = 40 }]

[[services.instances]]
id = "dc1"
ipv4 = "10.0.1.1"
port = 389

[[services]]
name = "alias"
routing_policy = "WEIGHTED"
records = [{ type = "CNAME", ttl = 50 }]
instances = [{ id = "to-web", cname = "web.ref.test" }]

[[services]]
name = "chain"
routing_policy = "WEIGHTED"
records = [{ type = "CNAME", ttl = 50 }]
instances = [{ id = "to-alias", cname = "ALIAS.ref.test" }]

[[services]]
name = "dangling"
routing_policy = "WEIGHTED"
records = [{ type = "CNAME", ttl = 50 }]
instances = [{ id = "to-nothing", cname = "nope.ref.test" }]

[[services]]
name = "outside"
routing_policy = "WEIGHTED"
records = [{ type = "CNAME", ttl = 50 }]
instances = [{ id = "to-elsewhere", cname = "www.example.org" }]

[[services]]
name = "cross"
routing_policy = "WEIGHTED"
records = [{ type = "CNAME", ttl = 50 }]
instances = [{ id = "to-other", cname = "api.other.test" }]
"#;

/// A second namespace, the target of `cross.ref.test`.
const OTHER: &str = r#"
[namespace]
name = "other.test"
type = "DNS_PUBLIC"

[namespace.soa]
ttl = 300
minimum = 60

[[services]]
name = "api"
records = [{ type = "A", ttl = 15 }]
instances = [{ id = "a1", ipv4 = "10.0.2.1" }]
"#;

const OTHER_FILE: &str = "$ORIGIN other.test.
@ 300 IN SOA ns1.other.test. hostmaster.other.test. 1 7200 900 1209600 60
@ 300 IN NS ns1.other.test.
ns1 300 IN A 127.0.0.1
api 15 IN A 10.0.2.1
";

/// Eight SRV targets whose ids are 63 characters long, the longest label:
/// the zones-file service and the same records for NSD.
fn long_ids() -> (String, String) {
    let mut toml = String::from(
        "\n[[services]]\nname = \"big\"\nrecords = [{ type = \"A\", ttl = 10 }, { type = \"AAAA\", ttl = 10 }, { type = \"SRV\", ttl = 10 }]\n",
    );
    let mut file = String::new();
    for n in 1..=8 {
        let id = format!("{n}{}", "x".repeat(62));
        toml.push_str(&format!(
            "\n[[services.instances]]\nid = \"{id}\"\nipv4 = \"10.0.3.{n}\"\nipv6 = \"fd00::3:{n}\"\nport = 443\n"
        ));
        file.push_str(&format!(
            "big 10 IN A 10.0.3.{n}\nbig 10 IN AAAA fd00::3:{n}\nbig 10 IN SRV 1 1 443 {id}.big.ref.test.\n{id}.big 10 IN A 10.0.3.{n}\n{id}.big 10 IN AAAA fd00::3:{n}\n"
        ));
    }
    (toml, file)
}

/// The same records as an RFC 1035 zone file, serial aside. cairn's default
/// name server is `ns1.<zone>` at its listen address, 127.0.0.1.
pub const ZONE_FILE: &str = "$ORIGIN ref.test.
@ 300 IN SOA ns1.ref.test. hostmaster.ref.test. 1 7200 900 1209600 60
@ 300 IN NS ns1.ref.test.
ns1 300 IN A 127.0.0.1
web 10 IN A 10.0.0.1
web 10 IN A 10.0.0.2
web 20 IN AAAA fd00::1
web 20 IN AAAA fd00::2
web 30 IN SRV 1 1 8080 w1.web.ref.test.
web 30 IN SRV 1 1 8081 w2.web.ref.test.
w1.web 10 IN A 10.0.0.1
w1.web 20 IN AAAA fd00::1
w2.web 10 IN A 10.0.0.2
w2.web 20 IN AAAA fd00::2
_ldap._tcp 40 IN SRV 1 1 389 dc1._ldap._tcp.ref.test.
dc1._ldap._tcp 40 IN A 10.0.1.1
alias 50 IN CNAME web.ref.test.
chain 50 IN CNAME ALIAS.ref.test.
dangling 50 IN CNAME nope.ref.test.
outside 50 IN CNAME www.example.org.
cross 50 IN CNAME api.other.test.
";

pub struct Nsd {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `nsd` (the binary at that path) serving each `(zone, zone file)`
/// from `dir`; fails the test if it does not start answering.
pub fn start_nsd(nsd: &Path, dir: &Path, zones: &[(&str, &str)]) -> Nsd {
    let port = free_port();
    let mut config = format!(
        "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  server-count: 1\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{dir}\"\n  database: \"\"\n  zonelistfile: \"{dir}/zone.list\"\n  xfrdfile: \"{dir}/xfrd.state\"\n  pidfile: \"{dir}/nsd.pid\"\n  logfile: \"{dir}/nsd.log\"\n  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\nremote-control:\n  control-enable: no\n",
        dir = dir.display()
    );
    for (zone, contents) in zones {
        std::fs::write(dir.join(format!("{zone}.zone")), contents).expect("write an NSD zone file");
        config.push_str(&format!("zone:\n  name: {zone}\n  zonefile: {zone}.zone\n"));
    }
    std::fs::write(dir.join("nsd.conf"), config).expect("write nsd.conf");
    let child = Command::new(nsd)
        .arg("-d")
        .arg("-c")
        .arg(dir.join("nsd.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", nsd.display()));
    let nsd = Nsd {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let probe = query_message("ref.test.", RecordType::SOA, None);
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        if exchange_udp(nsd.addr, &probe, None, Duration::from_millis(100)).is_ok() {
            return nsd;
        }
    }
    panic!(
        "nsd did not answer within {DEADLINE:?}: {}",
        std::fs::read_to_string(dir.join("nsd.log")).unwrap_or_default()
    );
}

/// A record as a comparable line; the SOA serial is cairn's revision, so it
/// is left out.
fn line(record: &Record) -> String {
    let data = match &record.data {
        hickory_proto::rr::RData::SOA(soa) => format!(
            "{} {} {} {} {} {}",
            soa.mname, soa.rname, soa.refresh, soa.retry, soa.expire, soa.minimum
        ),
        other => other.to_string(),
    };
    format!(
        "{} {} {} {}",
        record.name.to_ascii().to_ascii_lowercase(),
        record.ttl,
        record.record_type(),
        data.to_ascii_lowercase()
    )
}

fn section(records: &[Record]) -> BTreeSet<String> {
    records
        .iter()
        .filter(|r| r.record_type() != RecordType::OPT)
        .map(line)
        .collect()
}

/// What a client acts on: rcode, AA, TC, the answers, and the SOA that
/// makes an answer negative (at the end of a CNAME chain too).
fn summary(reply: &Message) -> (String, bool, bool, BTreeSet<String>, BTreeSet<String>) {
    let soa: Vec<Record> = reply
        .authorities
        .iter()
        .filter(|record| record.record_type() == RecordType::SOA)
        .cloned()
        .collect();
    (
        format!("{:?}", reply.metadata.response_code),
        reply.metadata.authoritative,
        reply.metadata.truncation,
        section(&reply.answers),
        section(&soa),
    )
}

#[test]
fn cairn_answers_like_nsd_for_the_same_records() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let Some(nsd) = require_tool("nsd") else {
        return;
    };
    let (big, big_file) = long_ids();
    let zone_file = format!("{ZONE_FILE}{big_file}");
    let nsd = start_nsd(
        &nsd,
        dir.path(),
        &[("ref.test", &zone_file), ("other.test", OTHER_FILE)],
    );
    let zone = format!("{ZONE}{big}");
    let cairn = TestServer::start(&[("ref.test.toml", &zone), ("other.test.toml", OTHER)]);
    let queries = [
        ("web.ref.test.", RecordType::A),
        ("web.ref.test.", RecordType::AAAA),
        ("web.ref.test.", RecordType::SRV),
        ("WeB.ReF.tEsT.", RecordType::A),
        ("w1.web.ref.test.", RecordType::A),
        ("w2.web.ref.test.", RecordType::AAAA),
        ("w1.web.ref.test.", RecordType::TXT),
        ("web.ref.test.", RecordType::MX),
        ("nope.ref.test.", RecordType::A),
        ("deep.nope.ref.test.", RecordType::AAAA),
        ("x.w1.web.ref.test.", RecordType::A),
        ("_tcp.ref.test.", RecordType::SRV),
        ("_ldap._tcp.ref.test.", RecordType::SRV),
        ("dc1._ldap._tcp.ref.test.", RecordType::A),
        ("ref.test.", RecordType::SOA),
        ("ref.test.", RecordType::NS),
        ("ref.test.", RecordType::A),
        ("web.ref.test.", RecordType::ANY),
        ("w1.web.ref.test.", RecordType::ANY),
        ("ref.test.", RecordType::ANY),
        ("alias.ref.test.", RecordType::A),
        ("alias.ref.test.", RecordType::SRV),
        ("alias.ref.test.", RecordType::TXT),
        ("alias.ref.test.", RecordType::CNAME),
        ("chain.ref.test.", RecordType::AAAA),
        ("dangling.ref.test.", RecordType::A),
        ("outside.ref.test.", RecordType::A),
        ("cross.ref.test.", RecordType::A),
        ("big.ref.test.", RecordType::SRV),
        ("ns1.ref.test.", RecordType::A),
        ("NS1.other.test.", RecordType::A),
        ("ns1.ref.test.", RecordType::AAAA),
        ("other.test.", RecordType::NS),
    ];
    // Over UDP at 512 bytes (no EDNS) and 1232, and over TCP.
    let transports = [(false, None), (false, Some(1232)), (true, Some(1232))];
    for (name, qtype) in queries {
        for (tcp, payload) in transports {
            let query = query_message(name, qtype, payload);
            let ask = |addr| {
                if tcp {
                    exchange_tcp(addr, &query)
                } else {
                    exchange_udp(addr, &query, None, DEADLINE)
                }
            };
            let ours = ask(cairn.dns).expect("cairn answers");
            let theirs = ask(nsd.addr).expect("nsd answers");
            if qtype == RecordType::ANY {
                // NSD 4.6 answers ANY with one RRset (RFC 8482); cairn with
                // every RRset at the name, so NSD's is a part of cairn's.
                let (ours, theirs) = (section(&ours.answers), section(&theirs.answers));
                assert!(
                    !theirs.is_empty() && theirs.is_subset(&ours) && ours.len() > theirs.len(),
                    "{name} ANY: cairn {ours:?}, nsd {theirs:?}"
                );
                continue;
            }
            assert_eq!(
                summary(&ours),
                summary(&theirs),
                "{name} {qtype} (tcp: {tcp}, EDNS {payload:?}): cairn and NSD differ\ncairn: {ours:?}\nnsd: {theirs:?}"
            );
            if matches!(qtype, RecordType::NS | RecordType::SOA) {
                // The name servers' glue, for NS and SOA answers alike.
                assert_eq!(
                    section(&ours.additionals),
                    section(&theirs.additionals),
                    "{name} {qtype} additionals (EDNS {payload:?})"
                );
            }
            if qtype == RecordType::SRV && !ours.answers.is_empty() {
                // NSD adds the targets' addresses too; cairn must carry at
                // least every one NSD does.
                // NSD also adds the name servers' glue to every positive
                // answer; cairn's answers are minimal, so only the targets' addresses are compared.
                let ours = section(&ours.additionals);
                let theirs: BTreeSet<String> = section(&theirs.additionals)
                    .into_iter()
                    .filter(|line| !line.starts_with("ns1."))
                    .collect();
                assert!(
                    theirs.is_subset(&ours),
                    "{name} SRV additionals (EDNS {payload:?}): cairn {ours:?}, nsd {theirs:?}"
                );
                if name == "big.ref.test." {
                    // Glue owners are pointers to the SRV targets, so all
                    // eight targets' A and AAAA fit in 1232 bytes (NSD fits 5).
                    assert_eq!(ours.len(), 16, "big SRV glue (EDNS {payload:?})");
                }
            }
        }
    }
}
