//! The fixture `tests/fixtures/store-v0.1/cairn.redb`, a store written by
//! cairn 0.1.0 (its README says how), loads field for field as it was
//! written: whatever the store's rows become, a file an earlier build left
//! must restore the same registry.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::*;
use crate::registry::{Attributes, HealthCheckConfig, HealthCheckType, Heartbeat, Tags};

/// The fixture as committed. Tests never open it in place: opening a store
/// writes to it (missing tables are created).
pub(in crate::store) const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/store-v0.1/cairn.redb"
);

/// A copy of the fixture in a fresh data directory; returns the copy's path.
pub(in crate::store) fn fixture_copy(dir: &Path) -> PathBuf {
    let path = dir.join(FILE_NAME);
    std::fs::copy(FIXTURE, &path).expect("the fixture is copied");
    path
}

/// What the fixture holds, every field of it.
pub(in crate::store) fn fixture_snapshot() -> Snapshot {
    Snapshot {
        namespaces: namespaces(),
        services: services(),
        operations: operations(),
        changes: 45,
        zones_applied: None,
    }
}

#[test]
fn the_fixture_loads_every_field_as_it_was_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    fixture_copy(dir.path());
    let snapshot = Store::open(dir.path())
        .expect("the fixture opens")
        .load()
        .expect("the fixture loads");
    let expected = fixture_snapshot();
    // Piece by piece first, so a failure points at the part that differs.
    assert_eq!(snapshot.namespaces, expected.namespaces);
    for (loaded, wanted) in snapshot.services.iter().zip(&expected.services) {
        assert_eq!(loaded, wanted, "service {}", wanted.0.name);
    }
    assert_eq!(snapshot.operations, expected.operations);
    assert_eq!(snapshot, expected);
}

#[test]
fn the_fixture_loads_again_after_a_commit_on_top_of_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    fixture_copy(dir.path());
    let (service, mut instances) = services().swap_remove(2);
    let mut batch = vec![Change::Instance {
        service_id: service.id.clone(),
        instance: instance("v4-new"),
    }];
    batch.push(Change::Operation(operation_row("op-new")));
    let verdicts = commit_all(Store::open(dir.path()).expect("opened"), vec![batch]);
    assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");

    let snapshot = reload(dir.path());
    instances.push(instance("v4-new"));
    instances.sort_by_key(|instance| instance.id.to_ascii_lowercase());
    let loaded = snapshot
        .services
        .iter()
        .find(|(loaded, _)| loaded.id == service.id)
        .expect("the service is still there");
    assert_eq!(loaded.1, instances);
    assert_eq!(snapshot.operations.len(), operations().len() + 1);
    assert_eq!(snapshot.changes, 47);
}

fn operation_row(id: &str) -> Operation {
    super::operation(id)
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn attributes(pairs: &[(&str, &str)]) -> Attributes {
    Attributes::from(tags(pairs))
}

fn networks(cidrs: &[&str]) -> Vec<ipnet::IpNet> {
    cidrs.iter().map(|cidr| ip(cidr)).collect()
}

fn ip<T: FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.parse().expect("a test address")
}

fn template(routing_policy: RoutingPolicy, records: &[(RecordKind, u32)]) -> DnsTemplate {
    DnsTemplate {
        routing_policy,
        records: records
            .iter()
            .map(|&(kind, ttl)| DnsRecord { kind, ttl })
            .collect(),
    }
}

/// Every operation in the fixture succeeded and was finished at once.
fn operation(
    id: &str,
    kind: OperationType,
    at: u64,
    [namespace, service, instance]: [&str; 3],
) -> Operation {
    let some = |id: &str| (!id.is_empty()).then(|| id.to_string());
    Operation {
        request_token: None,
        id: id.into(),
        kind,
        status: OperationStatus::Success,
        error_code: None,
        error_message: None,
        created_at: at,
        updated_at: at,
        namespace_id: some(namespace),
        service_id: some(service),
        instance_id: some(instance),
    }
}

fn namespaces() -> Vec<Namespace> {
    vec![
        Namespace {
            region: None,
            id: "ns-3xhyfqx85co3cvbx".into(),
            name: "fixture.internal".into(),
            kind: NamespaceType::DnsPrivate,
            description: Some("The private fixture zone".into()),
            soa: SoaSettings {
                name_servers: Vec::new(),
                ttl: 30,
                mname: Some("ns.fixture.internal".into()),
                rname: Some("admin.fixture.internal".into()),
                refresh: 3600,
                retry: 600,
                expire: 604800,
                minimum: 300,
            },
            allowed_networks: networks(&["127.0.0.0/8", "10.0.0.0/8", "::1/128"]),
            transfer: None,
            creator_request_id: None,
            created_at: 1796180500620,
            tags: tags(&[("env", "fixture"), ("team", "infra")]),
            revision: 1,
            service_count: 0,
        },
        Namespace {
            region: None,
            id: "ns-idr12hqyan2an2xa".into(),
            name: "fixture-api".into(),
            kind: NamespaceType::Http,
            description: Some("API only".into()),
            soa: SoaSettings {
                name_servers: Vec::new(),
                ttl: 60,
                mname: None,
                rname: None,
                refresh: 7200,
                retry: 900,
                expire: 1209600,
                minimum: 86400,
            },
            allowed_networks: networks(&[]),
            transfer: None,
            creator_request_id: None,
            created_at: 1796180500847,
            tags: tags(&[]),
            revision: 1,
            service_count: 0,
        },
        Namespace {
            region: None,
            id: "ns-jd02fdeo3na8zfam".into(),
            name: "fixture.example".into(),
            kind: NamespaceType::DnsPublic,
            description: Some("The public fixture zone".into()),
            soa: SoaSettings {
                name_servers: Vec::new(),
                ttl: 120,
                mname: None,
                rname: None,
                refresh: 7200,
                retry: 900,
                expire: 1209600,
                minimum: 86400,
            },
            allowed_networks: networks(&[]),
            transfer: None,
            creator_request_id: Some("create-public".into()),
            created_at: 1796180500761,
            tags: tags(&[("team", "edge")]),
            revision: 1,
            service_count: 0,
        },
    ]
}

fn services() -> Vec<(Service, Vec<Instance>)> {
    vec![
        (
            Service {
                region: None,
                attributes: Default::default(),
                id: "srv-3i1js7umd7d857wd".into(),
                namespace_id: "ns-jd02fdeo3na8zfam".into(),
                name: "alias".into(),
                description: None,
                dns: Some(template(
                    RoutingPolicy::Weighted,
                    &[(RecordKind::Cname, 300)],
                )),
                health_check: None,
                custom_health_check: None,
                heartbeat: None,
                creator_request_id: None,
                created_at: 1796180501031,
                tags: tags(&[("cost-center", "42")]),
                revision: 3,
                instance_count: 2,
            },
            vec![
                Instance {
                    id: "alias-1".into(),
                    attributes: attributes(&[
                        ("AWS_INSTANCE_CNAME", "origin-1.example.net"),
                        ("weight", "3"),
                    ]),
                    endpoint: Endpoint {
                        ipv4: None,
                        ipv6: None,
                        port: None,
                        cname: Some("origin-1.example.net".into()),
                        weight: 3,
                    },
                    health: HealthStatus::Unknown,
                    creator_request_id: None,
                    created_at: 1796180501267,
                    updated_at: 1796180501267,
                },
                Instance {
                    id: "alias-2".into(),
                    attributes: attributes(&[("AWS_INSTANCE_CNAME", "origin-2.example.net")]),
                    endpoint: Endpoint {
                        ipv4: None,
                        ipv6: None,
                        port: None,
                        cname: Some("origin-2.example.net".into()),
                        weight: 1,
                    },
                    health: HealthStatus::Unknown,
                    creator_request_id: None,
                    created_at: 1796180501274,
                    updated_at: 1796180501274,
                },
            ],
        ),
        (
            Service {
                region: None,
                attributes: Default::default(),
                id: "srv-9n9m0oqhrsazl5tv".into(),
                namespace_id: "ns-jd02fdeo3na8zfam".into(),
                name: "web".into(),
                description: Some("Web front ends (updated)".into()),
                dns: Some(template(
                    RoutingPolicy::Multivalue,
                    &[(RecordKind::A, 30), (RecordKind::Aaaa, 30)],
                )),
                health_check: Some(HealthCheckConfig {
                    kind: HealthCheckType::Http,
                    resource_path: Some("/healthz".into()),
                    failure_threshold: 3,
                }),
                custom_health_check: None,
                heartbeat: None,
                creator_request_id: Some("create-web".into()),
                created_at: 1796180500918,
                tags: tags(&[("owner", "web-team"), ("tier", "front")]),
                revision: 4,
                instance_count: 2,
            },
            vec![
                Instance {
                    id: "web-1".into(),
                    attributes: attributes(&[
                        ("AWS_INSTANCE_IPV4", "192.0.2.1"),
                        ("AWS_INSTANCE_IPV6", "2001:db8::1"),
                        ("AWS_INSTANCE_PORT", "80"),
                        ("version", "1.4.2"),
                        ("zone", "a"),
                    ]),
                    endpoint: Endpoint {
                        ipv4: Some(ip("192.0.2.1")),
                        ipv6: Some(ip("2001:db8::1")),
                        port: Some(80),
                        cname: None,
                        weight: 1,
                    },
                    health: HealthStatus::Unknown,
                    creator_request_id: Some("reg-web-1".into()),
                    created_at: 1796180501249,
                    updated_at: 1796180501249,
                },
                Instance {
                    id: "web-2".into(),
                    attributes: attributes(&[
                        ("AWS_INSTANCE_IPV4", "192.0.2.2"),
                        ("AWS_INSTANCE_PORT", "8080"),
                        ("zone", "b"),
                    ]),
                    endpoint: Endpoint {
                        ipv4: Some(ip("192.0.2.2")),
                        ipv6: None,
                        port: Some(8080),
                        cname: None,
                        weight: 1,
                    },
                    health: HealthStatus::Unknown,
                    creator_request_id: None,
                    created_at: 1796180501260,
                    updated_at: 1796180501260,
                },
            ],
        ),
        (
            Service {
                region: None,
                attributes: Default::default(),
                id: "srv-bq8gwf6arnnuplz9".into(),
                namespace_id: "ns-3xhyfqx85co3cvbx".into(),
                name: "v4".into(),
                description: Some("IPv4 only".into()),
                dns: Some(template(RoutingPolicy::Multivalue, &[(RecordKind::A, 10)])),
                health_check: None,
                custom_health_check: Some(CustomHealthCheck {
                    failure_threshold: 1,
                }),
                heartbeat: None,
                creator_request_id: None,
                created_at: 1796180501056,
                tags: tags(&[]),
                revision: 1,
                instance_count: 0,
            },
            vec![
                Instance {
                    id: "v4-1".into(),
                    attributes: attributes(&[("AWS_INSTANCE_IPV4", "10.0.4.1")]),
                    endpoint: Endpoint {
                        ipv4: Some(ip("10.0.4.1")),
                        ipv6: None,
                        port: None,
                        cname: None,
                        weight: 1,
                    },
                    health: HealthStatus::Healthy,
                    creator_request_id: None,
                    created_at: 1796180501292,
                    updated_at: 1796180501292,
                },
                Instance {
                    id: "v4-2".into(),
                    attributes: attributes(&[
                        ("AWS_INIT_HEALTH_STATUS", "UNHEALTHY"),
                        ("AWS_INSTANCE_IPV4", "10.0.4.2"),
                    ]),
                    endpoint: Endpoint {
                        ipv4: Some(ip("10.0.4.2")),
                        ipv6: None,
                        port: None,
                        cname: None,
                        weight: 1,
                    },
                    health: HealthStatus::Unhealthy,
                    creator_request_id: None,
                    created_at: 1796180501313,
                    updated_at: 1796180501313,
                },
                Instance {
                    id: "v4-3".into(),
                    attributes: attributes(&[("AWS_INSTANCE_IPV4", "10.0.4.3"), ("rack", "r7")]),
                    endpoint: Endpoint {
                        ipv4: Some(ip("10.0.4.3")),
                        ipv6: None,
                        port: None,
                        cname: None,
                        weight: 1,
                    },
                    health: HealthStatus::Unhealthy,
                    creator_request_id: None,
                    created_at: 1796180501321,
                    updated_at: 1796180501321,
                },
            ],
        ),
        (
            Service {
                region: None,
                attributes: Default::default(),
                id: "srv-flgqiohl4ysr9snv".into(),
                namespace_id: "ns-3xhyfqx85co3cvbx".into(),
                name: "static".into(),
                description: Some("Declared in the zones file".into()),
                dns: Some(template(RoutingPolicy::Multivalue, &[(RecordKind::A, 15)])),
                health_check: None,
                custom_health_check: None,
                heartbeat: None,
                creator_request_id: None,
                created_at: 1796180500622,
                tags: tags(&[("origin", "zones")]),
                revision: 1,
                instance_count: 0,
            },
            vec![Instance {
                id: "static-1".into(),
                attributes: attributes(&[("AWS_INSTANCE_IPV4", "10.9.0.1")]),
                endpoint: Endpoint {
                    ipv4: Some(ip("10.9.0.1")),
                    ipv6: None,
                    port: None,
                    cname: None,
                    weight: 1,
                },
                health: HealthStatus::Unknown,
                creator_request_id: None,
                created_at: 1796180500625,
                updated_at: 1796180500625,
            }],
        ),
        (
            Service {
                region: None,
                attributes: Default::default(),
                id: "srv-qmom5fofiq1kf2kx".into(),
                namespace_id: "ns-idr12hqyan2an2xa".into(),
                name: "sync".into(),
                description: Some("Found through DiscoverInstances".into()),
                dns: None,
                health_check: None,
                custom_health_check: None,
                heartbeat: None,
                creator_request_id: None,
                created_at: 1796180501180,
                tags: tags(&[("kind", "worker")]),
                revision: 1,
                instance_count: 0,
            },
            vec![Instance {
                id: "worker-1".into(),
                attributes: attributes(&[("AWS_INSTANCE_IPV4", "10.0.7.1"), ("queue", "jobs")]),
                endpoint: Endpoint {
                    ipv4: Some(ip("10.0.7.1")),
                    ipv6: None,
                    port: None,
                    cname: None,
                    weight: 1,
                },
                health: HealthStatus::Unknown,
                creator_request_id: None,
                created_at: 1796180501389,
                updated_at: 1796180501389,
            }],
        ),
        (
            Service {
                region: None,
                attributes: Default::default(),
                id: "srv-trdamsl2ta2bsfe0".into(),
                namespace_id: "ns-3xhyfqx85co3cvbx".into(),
                name: "api".into(),
                description: None,
                dns: Some(template(
                    RoutingPolicy::Weighted,
                    &[(RecordKind::Srv, 40), (RecordKind::A, 40)],
                )),
                health_check: Some(HealthCheckConfig {
                    kind: HealthCheckType::Tcp,
                    resource_path: None,
                    failure_threshold: 5,
                }),
                custom_health_check: None,
                heartbeat: None,
                creator_request_id: None,
                created_at: 1796180501153,
                tags: tags(&[]),
                revision: 1,
                instance_count: 0,
            },
            vec![
                Instance {
                    id: "api-1".into(),
                    attributes: attributes(&[
                        ("AWS_INSTANCE_IPV4", "192.0.2.11"),
                        ("AWS_INSTANCE_PORT", "8443"),
                        ("weight", "2"),
                    ]),
                    endpoint: Endpoint {
                        ipv4: Some(ip("192.0.2.11")),
                        ipv6: None,
                        port: Some(8443),
                        cname: None,
                        weight: 2,
                    },
                    health: HealthStatus::Unknown,
                    creator_request_id: None,
                    created_at: 1796180501374,
                    updated_at: 1796180501374,
                },
                Instance {
                    id: "Api-Mixed".into(),
                    attributes: attributes(&[
                        ("AWS_INSTANCE_IPV4", "192.0.2.12"),
                        ("AWS_INSTANCE_PORT", "9443"),
                        ("protocol", "grpc"),
                    ]),
                    endpoint: Endpoint {
                        ipv4: Some(ip("192.0.2.12")),
                        ipv6: None,
                        port: Some(9443),
                        cname: None,
                        weight: 1,
                    },
                    health: HealthStatus::Unknown,
                    creator_request_id: None,
                    created_at: 1796180501381,
                    updated_at: 1796180501381,
                },
            ],
        ),
        (
            Service {
                region: None,
                attributes: Default::default(),
                id: "srv-ukh6s13mg9z5oj46".into(),
                namespace_id: "ns-3xhyfqx85co3cvbx".into(),
                name: "v6".into(),
                description: None,
                dns: Some(template(
                    RoutingPolicy::Multivalue,
                    &[(RecordKind::Aaaa, 20)],
                )),
                health_check: None,
                custom_health_check: None,
                heartbeat: Some(Heartbeat {
                    ttl_ms: 3600000,
                    deregister_after_ms: Some(7200500),
                }),
                creator_request_id: None,
                created_at: 1796180501091,
                tags: tags(&[]),
                revision: 1,
                instance_count: 0,
            },
            vec![Instance {
                id: "v6-1".into(),
                attributes: attributes(&[
                    ("AWS_INSTANCE_IPV6", "fd00::6:1"),
                    ("note", "heartbeats"),
                ]),
                endpoint: Endpoint {
                    ipv4: None,
                    ipv6: Some(ip("fd00::6:1")),
                    port: None,
                    cname: None,
                    weight: 1,
                },
                health: HealthStatus::Healthy,
                creator_request_id: None,
                created_at: 1796180501366,
                updated_at: 1796180501366,
            }],
        ),
    ]
}

fn operations() -> Vec<Operation> {
    vec![
        operation(
            "xy75ifnq4cmjas9c52jgp6f34xptez2z-lwnddsoq",
            OperationType::CreateNamespace,
            1796180500620,
            ["ns-3xhyfqx85co3cvbx", "", ""],
        ),
        operation(
            "29lwwhrnon2rxpt1zxwclswq8agbgqgd-09rwnuil",
            OperationType::CreateNamespace,
            1796180500761,
            ["ns-jd02fdeo3na8zfam", "", ""],
        ),
        operation(
            "qvk7mq82fvcx6m4z1c0ql802wo3zmix1-tnuse5to",
            OperationType::CreateNamespace,
            1796180500847,
            ["ns-idr12hqyan2an2xa", "", ""],
        ),
        operation(
            "xzb5n6cp5jr6hq9esxmcyqaogt2gkyh8-cruvj58d",
            OperationType::RegisterInstance,
            1796180501249,
            ["ns-jd02fdeo3na8zfam", "srv-9n9m0oqhrsazl5tv", "web-1"],
        ),
        operation(
            "vq1vf6ycfx5wpx1q9oi3phih938p3fs0-knh77uf6",
            OperationType::RegisterInstance,
            1796180501260,
            ["ns-jd02fdeo3na8zfam", "srv-9n9m0oqhrsazl5tv", "web-2"],
        ),
        operation(
            "906moa9dh4s30q1slw5r7s7qi9yrh6hq-s4iao0tf",
            OperationType::RegisterInstance,
            1796180501267,
            ["ns-jd02fdeo3na8zfam", "srv-3i1js7umd7d857wd", "alias-1"],
        ),
        operation(
            "hb38yajn6pth2kcuzvlo6f3s46q08q1o-pix9sh5v",
            OperationType::RegisterInstance,
            1796180501274,
            ["ns-jd02fdeo3na8zfam", "srv-3i1js7umd7d857wd", "alias-2"],
        ),
        operation(
            "csoxou1fh44745v04vj4ppjn8oozpkga-dbwl8lzh",
            OperationType::RegisterInstance,
            1796180501292,
            ["ns-3xhyfqx85co3cvbx", "srv-bq8gwf6arnnuplz9", "v4-1"],
        ),
        operation(
            "aubylcr7yvcbquanl4yjfpc7uw4e1jn9-h26dgoal",
            OperationType::RegisterInstance,
            1796180501313,
            ["ns-3xhyfqx85co3cvbx", "srv-bq8gwf6arnnuplz9", "v4-2"],
        ),
        operation(
            "oqhswd3dgtadr7o6mdftpy318dp9hiwq-d2ttd35s",
            OperationType::RegisterInstance,
            1796180501321,
            ["ns-3xhyfqx85co3cvbx", "srv-bq8gwf6arnnuplz9", "v4-3"],
        ),
        operation(
            "pkr809f1xsx79l7v3sk4zf4fqy9dw8un-g7ko70sg",
            OperationType::RegisterInstance,
            1796180501344,
            ["ns-3xhyfqx85co3cvbx", "srv-bq8gwf6arnnuplz9", "v4-gone"],
        ),
        operation(
            "42lf0b9392y8rd4pa3417y7fefg16yn8-rnm6ur1p",
            OperationType::RegisterInstance,
            1796180501366,
            ["ns-3xhyfqx85co3cvbx", "srv-ukh6s13mg9z5oj46", "v6-1"],
        ),
        operation(
            "yr4mvhekngomridbshomwwcuugchbwpi-o5tt9pn5",
            OperationType::RegisterInstance,
            1796180501374,
            ["ns-3xhyfqx85co3cvbx", "srv-trdamsl2ta2bsfe0", "api-1"],
        ),
        operation(
            "tpc8uxxamjt4itk15c1h5x9jr1mny0be-uhsxkotm",
            OperationType::RegisterInstance,
            1796180501381,
            ["ns-3xhyfqx85co3cvbx", "srv-trdamsl2ta2bsfe0", "Api-Mixed"],
        ),
        operation(
            "5wd8s37es77i333khd9qu8cqursjw1re-s0ux5juz",
            OperationType::RegisterInstance,
            1796180501389,
            ["ns-idr12hqyan2an2xa", "srv-qmom5fofiq1kf2kx", "worker-1"],
        ),
        operation(
            "nquogk9wwbqvbgxeh6w9vg7utc7tfh8c-ocoo7620",
            OperationType::DeregisterInstance,
            1796180501428,
            ["ns-3xhyfqx85co3cvbx", "srv-bq8gwf6arnnuplz9", "v4-gone"],
        ),
        operation(
            "1umzh0gsnnv1ba26p51mkknacdpq44z2-v1a2eks3",
            OperationType::UpdateService,
            1796180501444,
            ["ns-jd02fdeo3na8zfam", "srv-9n9m0oqhrsazl5tv", ""],
        ),
    ]
}
