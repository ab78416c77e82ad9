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
"#;

/// The same records as an RFC 1035 zone file, serial aside.
pub const ZONE_FILE: &str = "$ORIGIN ref.test.
@ 300 IN SOA ns1.ref.test. hostmaster.ref.test. 1 7200 900 1209600 60
@ 300 IN NS ns1.ref.test.
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

/// Starts `nsd` (the binary at that path) serving `ZONE_FILE` from `dir`;
/// fails the test if it does not start answering.
pub fn start_nsd(nsd: &Path, dir: &Path) -> Nsd {
    let port = free_port();
    std::fs::write(dir.join("ref.test.zone"), ZONE_FILE).expect("write the NSD zone file");
    let config = format!(
        "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  server-count: 1\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{dir}\"\n  database: \"\"\n  zonelistfile: \"{dir}/zone.list\"\n  xfrdfile: \"{dir}/xfrd.state\"\n  pidfile: \"{dir}/nsd.pid\"\n  logfile: \"{dir}/nsd.log\"\n  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\nremote-control:\n  control-enable: no\nzone:\n  name: ref.test\n  zonefile: ref.test.zone\n",
        dir = dir.display()
    );
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

fn summary(reply: &Message) -> (String, bool, BTreeSet<String>, BTreeSet<String>) {
    let negative = reply.answers.is_empty();
    let authority = if negative {
        section(&reply.authorities)
    } else {
        BTreeSet::new()
    };
    (
        format!("{:?}", reply.metadata.response_code),
        reply.metadata.authoritative,
        section(&reply.answers),
        authority,
    )
}

#[test]
fn cairn_answers_like_nsd_for_the_same_records() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let Some(nsd) = require_tool("nsd") else {
        return;
    };
    let nsd = start_nsd(&nsd, dir.path());
    let cairn = TestServer::start(&[("ref.test.toml", ZONE)]);
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
    ];
    for (name, qtype) in queries {
        for tcp in [false, true] {
            let query = query_message(name, qtype, Some(1232));
            let ask = |addr| {
                if tcp {
                    exchange_tcp(addr, &query)
                } else {
                    exchange_udp(addr, &query, None, DEADLINE)
                }
            };
            let ours = ask(cairn.dns).expect("cairn answers");
            let theirs = ask(nsd.addr).expect("nsd answers");
            assert_eq!(
                summary(&ours),
                summary(&theirs),
                "{name} {qtype} (tcp: {tcp}): cairn and NSD differ\ncairn: {ours:?}\nnsd: {theirs:?}"
            );
            if qtype == RecordType::SRV && !ours.answers.is_empty() {
                // NSD adds the targets' addresses too; cairn must carry at
                // least every one NSD does.
                let ours = section(&ours.additionals);
                let theirs = section(&theirs.additionals);
                assert!(
                    theirs.is_subset(&ours),
                    "{name} SRV additionals: cairn {ours:?}, nsd {theirs:?}"
                );
            }
        }
    }
}
