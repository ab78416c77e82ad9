//! The real server on a copy of `tests/fixtures/store-v0.1/cairn.redb`, a
//! store cairn 0.1.0 wrote (its README lists what it holds): what DNS and
//! the admin API answer from it. The unit test in `src/store/tests/` checks
//! the rows; this checks that they become the same registry and records.

use std::collections::BTreeSet;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use serde_json::{Value, json};

use crate::admin::{fails, ok};
use crate::support::{DEADLINE, TestServer, rcode};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/store-v0.1/cairn.redb"
);

const PRIVATE: &str = "ns-3xhyfqx85co3cvbx";
const PUBLIC: &str = "ns-jd02fdeo3na8zfam";
const HTTP: &str = "ns-idr12hqyan2an2xa";
const WEB: &str = "srv-9n9m0oqhrsazl5tv";
const V4: &str = "srv-bq8gwf6arnnuplz9";
const API: &str = "srv-trdamsl2ta2bsfe0";
const SYNC: &str = "srv-qmom5fofiq1kf2kx";
const DEREGISTER_OPERATION: &str = "nquogk9wwbqvbgxeh6w9vg7utc7tfh8c-ocoo7620";
/// `meta.changes` in the fixture: every revision restarts at least here.
const CHANGES: u32 = 45;

/// A server on an empty zones directory whose data directory holds a copy
/// of the fixture. Probes run hourly, as when the fixture was made, so no
/// probe result can change a stored status while the test reads it.
fn start() -> TestServer {
    let mut server = TestServer::start_with(&[], "[health]\ninterval_secs = 3600\n");
    // The first start made an empty store; swap the fixture in under it.
    server.kill();
    let data = server.dir.path().join("data");
    std::fs::copy(FIXTURE, data.join("cairn.redb")).expect("the fixture is copied");
    server.restart();
    assert!(
        server.log().contains("store opened"),
        "no store: {}",
        server.log()
    );
    server
}

/// Each answer as "name ttl TYPE data", sorted.
fn answers(reply: &Message) -> Vec<String> {
    assert_eq!(rcode(reply), ResponseCode::NoError, "{reply:?}");
    let mut lines: Vec<String> = reply
        .answers
        .iter()
        .map(|record| {
            format!(
                "{} {} {} {}",
                record.name.to_ascii(),
                record.ttl,
                record.record_type(),
                record.data
            )
        })
        .collect();
    lines.sort();
    lines
}

/// Queries until every one of `expected` has been the (single) answer: a
/// WEIGHTED service picks one instance at random per query.
fn every_pick(server: &TestServer, name: &str, qtype: RecordType, expected: &[&str]) {
    let deadline = std::time::Instant::now() + DEADLINE;
    let mut seen = BTreeSet::new();
    while seen.len() < expected.len() {
        let lines = answers(&server.udp(name, qtype));
        assert_eq!(lines.len(), 1, "{name} {qtype}: {lines:?}");
        assert!(expected.contains(&lines[0].as_str()), "{lines:?}");
        seen.insert(lines[0].clone());
        assert!(
            std::time::Instant::now() < deadline,
            "{name} {qtype}: only {seen:?}"
        );
    }
}

#[test]
fn dns_answers_what_the_fixture_holds() {
    let server = start();
    let udp = |name: &str, qtype| answers(&server.udp(name, qtype));

    let soa = server.udp("fixture.internal.", RecordType::SOA);
    let Some(RData::SOA(record)) = soa.answers.first().map(|answer| &answer.data) else {
        panic!("no SOA: {soa:?}")
    };
    assert_eq!(soa.answers[0].ttl, 30);
    assert_eq!(record.mname.to_ascii(), "ns.fixture.internal.");
    assert_eq!(record.rname.to_ascii(), "admin.fixture.internal.");
    assert_eq!(
        (record.refresh, record.retry, record.expire, record.minimum),
        (3600, 600, 604_800, 300)
    );
    assert!(
        record.serial >= CHANGES,
        "serial {} went back",
        record.serial
    );
    let public_soa = server.udp("fixture.example.", RecordType::SOA);
    assert_eq!(public_soa.answers[0].ttl, 120, "{public_soa:?}");

    assert_eq!(
        udp("static.fixture.internal.", RecordType::A),
        ["static.fixture.internal. 15 A 10.9.0.1"]
    );
    // v4-2 and v4-3 are UNHEALTHY and v4-gone was deregistered.
    assert_eq!(
        udp("v4.fixture.internal.", RecordType::A),
        ["v4.fixture.internal. 10 A 10.0.4.1"]
    );
    assert_eq!(
        udp("v6.fixture.internal.", RecordType::AAAA),
        ["v6.fixture.internal. 20 AAAA fd00::6:1"]
    );
    every_pick(
        &server,
        "api.fixture.internal.",
        RecordType::SRV,
        &[
            "api.fixture.internal. 40 SRV 1 1 8443 api-1.api.fixture.internal.",
            "api.fixture.internal. 40 SRV 1 1 9443 Api-Mixed.api.fixture.internal.",
        ],
    );
    // An instance's own name is found whatever its case.
    assert_eq!(
        udp("api-mixed.api.fixture.internal.", RecordType::A),
        ["api-mixed.api.fixture.internal. 40 A 192.0.2.12"]
    );
    // UNKNOWN (no probe result yet) serves.
    assert_eq!(
        udp("web.fixture.example.", RecordType::A),
        [
            "web.fixture.example. 30 A 192.0.2.1",
            "web.fixture.example. 30 A 192.0.2.2"
        ]
    );
    assert_eq!(
        udp("web.fixture.example.", RecordType::AAAA),
        ["web.fixture.example. 30 AAAA 2001:db8::1"]
    );
    every_pick(
        &server,
        "alias.fixture.example.",
        RecordType::CNAME,
        &[
            "alias.fixture.example. 300 CNAME origin-1.example.net.",
            "alias.fixture.example. 300 CNAME origin-2.example.net.",
        ],
    );
    let missing = server.udp("v4-gone.v4.fixture.internal.", RecordType::A);
    assert_eq!(rcode(&missing), ResponseCode::NXDomain);
}

/// `Name → Value` of an API tag list.
fn tags(value: &Value) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = value["Tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|tag| {
            (
                tag["Key"].as_str().unwrap_or_default().to_string(),
                tag["Value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    tags.sort();
    tags
}

#[test]
fn the_admin_api_answers_what_the_fixture_holds() {
    let server = start();

    let listed = ok(&server, "ListServices", json!({}));
    let mut services: Vec<(String, String, u64)> = listed["Services"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|service| {
            (
                service["Name"].as_str().unwrap_or_default().to_string(),
                service["NamespaceId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                service["InstanceCount"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    services.sort();
    let expected = [
        ("alias", PUBLIC, 2),
        ("api", PRIVATE, 2),
        ("static", PRIVATE, 1),
        ("sync", HTTP, 1),
        ("v4", PRIVATE, 3),
        ("v6", PRIVATE, 1),
        ("web", PUBLIC, 2),
    ]
    .map(|(name, namespace, count)| (name.to_string(), namespace.to_string(), count));
    // Instance counts are recounted: the stored service rows lag behind.
    assert_eq!(services, expected);

    let web = ok(&server, "GetService", json!({ "Id": WEB }))["Service"].clone();
    assert_eq!(web["Description"], "Web front ends (updated)");
    assert_eq!(web["CreatorRequestId"], "create-web");
    assert_eq!(
        web["DnsConfig"]["DnsRecords"],
        json!([{"Type": "A", "TTL": 30}, {"Type": "AAAA", "TTL": 30}])
    );
    assert_eq!(web["DnsConfig"]["RoutingPolicy"], "MULTIVALUE");
    assert_eq!(
        web["HealthCheckConfig"],
        json!({"Type": "HTTP", "ResourcePath": "/healthz", "FailureThreshold": 3})
    );
    let web_tags = ok(
        &server,
        "ListTagsForResource",
        json!({ "ResourceARN": web["Arn"] }),
    );
    assert_eq!(
        tags(&web_tags),
        [
            ("owner".to_string(), "web-team".to_string()),
            ("tier".to_string(), "front".to_string())
        ]
    );

    let private = ok(&server, "GetNamespace", json!({ "Id": PRIVATE }))["Namespace"].clone();
    assert_eq!(private["Name"], "fixture.internal");
    assert_eq!(private["Type"], "DNS_PRIVATE");
    // 0.1.0 kept no region: its resources show the default one.
    assert_eq!(
        private["Arn"],
        format!("arn:aws:servicediscovery:us-east-1:000000000000:namespace/{PRIVATE}")
    );
    assert_eq!(
        web["Arn"],
        format!("arn:aws:servicediscovery:us-east-1:000000000000:service/{WEB}")
    );
    assert_eq!(private["Description"], "The private fixture zone");
    let dns = &private["Properties"]["DnsProperties"];
    assert_eq!(dns["SOA"]["TTL"], 30);
    assert_eq!(
        dns["AllowedNetworks"],
        json!(["127.0.0.0/8", "10.0.0.0/8", "::1/128"])
    );

    let instance = |service: &str, id: &str| {
        ok(
            &server,
            "GetInstance",
            json!({ "ServiceId": service, "InstanceId": id }),
        )["Instance"]
            .clone()
    };
    assert_eq!(
        instance(WEB, "web-1"),
        json!({
            "CreatedByAccount": "000000000000",
            "Id": "web-1",
            "CreatorRequestId": "reg-web-1",
            "Attributes": {
                "AWS_INSTANCE_IPV4": "192.0.2.1", "AWS_INSTANCE_IPV6": "2001:db8::1",
                "AWS_INSTANCE_PORT": "80", "version": "1.4.2", "zone": "a"
            }
        })
    );
    // Stored under its lower-cased key, shown with its own case.
    assert_eq!(
        instance(API, "Api-Mixed"),
        json!({
            "CreatedByAccount": "000000000000",
            "Id": "Api-Mixed",
            "Attributes": {
                "AWS_INSTANCE_IPV4": "192.0.2.12", "AWS_INSTANCE_PORT": "9443", "protocol": "grpc"
            }
        })
    );
    assert_eq!(
        instance(SYNC, "worker-1")["Attributes"],
        json!({"AWS_INSTANCE_IPV4": "10.0.7.1", "queue": "jobs"})
    );
    fails(
        &server,
        "GetInstance",
        json!({ "ServiceId": V4, "InstanceId": "v4-gone" }),
        "InstanceNotFound",
    );

    let health = ok(
        &server,
        "GetInstancesHealthStatus",
        json!({ "ServiceId": V4 }),
    );
    assert_eq!(
        health["Status"],
        json!({"v4-1": "HEALTHY", "v4-2": "UNHEALTHY", "v4-3": "UNHEALTHY"})
    );

    let operation = ok(
        &server,
        "GetOperation",
        json!({ "OperationId": DEREGISTER_OPERATION }),
    )["Operation"]
        .clone();
    assert_eq!(operation["Type"], "DEREGISTER_INSTANCE");
    assert_eq!(operation["Status"], "SUCCESS");
    assert_eq!(
        operation["Targets"],
        json!({"NAMESPACE": PRIVATE, "SERVICE": V4, "INSTANCE": "v4-gone"})
    );
    let operations = ok(&server, "ListOperations", json!({ "MaxResults": 100 }));
    assert_eq!(
        operations["Operations"].as_array().map(Vec::len),
        Some(17),
        "{operations}"
    );
}
