//! The compiled answers' layout and upkeep, through a real `Registry` with
//! the name table as its observer: each instance's one buffer, its reuse
//! across recompiles, `<id>.<service>` lookups whatever the case, and what
//! clients outside a private zone's networks are told.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::NameTable;
use super::answer::{AnswerKind, Served, Transport, respond, respond_served};
use super::compile::{CompiledService, Pool, ServiceName};
use super::instance::InstanceWire;
use crate::registry::validate::{ATTR_CNAME, ATTR_IPV4, ATTR_IPV6, ATTR_PORT};
use crate::registry::{
    DnsRecord, DnsTemplate, HealthStatus, InstanceRegistration, NamespaceType, NewNamespace,
    NewService, RecordKind, RoutingPolicy, Service, ServiceUpdate, SoaSettings, Tags,
};
use crate::writer::testing::TestRegistry;

const ZONE: &str = "zone.test";

struct Fixture {
    registry: TestRegistry,
    table: NameTable,
    namespace_id: String,
}

impl Fixture {
    /// A registry with one public namespace, [`ZONE`].
    fn new() -> Self {
        let table = NameTable::with_server_addresses(vec![
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)),
            "2001:db8::53".parse().expect("an address"),
        ]);
        let registry = TestRegistry::new(vec![Arc::new(table.clone())]);
        let mut fixture = Self {
            registry,
            table,
            namespace_id: String::new(),
        };
        fixture.namespace_id = fixture.namespace(ZONE, None);
        fixture
    }

    /// Creates a namespace: private to `allowed` when given, else public.
    /// Returns its id.
    fn namespace(&self, name: &str, allowed: Option<&[&str]>) -> String {
        let (kind, allowed_networks) = match allowed {
            Some(networks) => (
                NamespaceType::DnsPrivate,
                networks
                    .iter()
                    .map(|network| network.parse().expect("a valid network"))
                    .collect(),
            ),
            None => (NamespaceType::DnsPublic, Vec::new()),
        };
        let (namespace, _) = self
            .registry
            .create_namespace(NewNamespace {
                region: None,
                name: name.into(),
                kind,
                description: None,
                soa: SoaSettings::default(),
                allowed_networks,
                transfer: None,
                creator_request_id: None,
                tags: Tags::new(),
            })
            .expect("namespace is valid");
        namespace.id
    }

    fn service(&self, name: &str, kinds: &[RecordKind]) -> Service {
        self.service_in(&self.namespace_id, name, kinds)
    }

    fn service_in(&self, namespace_id: &str, name: &str, kinds: &[RecordKind]) -> Service {
        self.registry
            .create_service(NewService {
                region: None,
                namespace_id: namespace_id.into(),
                name: name.into(),
                description: None,
                dns: Some(DnsTemplate {
                    routing_policy: RoutingPolicy::Multivalue,
                    records: kinds
                        .iter()
                        .map(|&kind| DnsRecord { kind, ttl: 60 })
                        .collect(),
                }),
                health_check: None,
                custom_health_check: None,
                heartbeat: None,
                creator_request_id: None,
                tags: Tags::new(),
            })
            .expect("service is valid")
    }

    /// A CNAME service `name` in the namespace `namespace_id` whose one
    /// instance points at `target`.
    fn alias_in(&self, namespace_id: &str, name: &str, target: &str) -> Service {
        let service = self
            .registry
            .create_service(NewService {
                namespace_id: namespace_id.into(),
                name: name.into(),
                description: None,
                dns: Some(DnsTemplate {
                    routing_policy: RoutingPolicy::Weighted,
                    records: vec![DnsRecord {
                        kind: RecordKind::Cname,
                        ttl: 60,
                    }],
                }),
                health_check: None,
                custom_health_check: None,
                heartbeat: None,
                creator_request_id: None,
                tags: Tags::new(),
                region: None,
            })
            .expect("service is valid");
        self.register(&service, "target", &[(ATTR_CNAME, target)]);
        service
    }

    fn alias(&self, name: &str, target: &str) -> Service {
        self.alias_in(&self.namespace_id, name, target)
    }

    fn register(&self, service: &Service, id: &str, attributes: &[(&str, &str)]) {
        self.registry
            .register_instance(InstanceRegistration {
                service_id: service.id.clone(),
                instance_id: id.into(),
                attributes: attributes
                    .iter()
                    .map(|(key, value)| (key.to_string(), value.to_string()))
                    .collect::<BTreeMap<_, _>>(),
                creator_request_id: None,
            })
            .expect("registration is valid");
    }

    fn compiled(&self, service: &str) -> Arc<CompiledService> {
        let name = ServiceName::new(service, ZONE).expect("a valid name");
        self.table
            .service_at(&name.wire)
            .expect("the service is in the table")
    }

    fn wire(&self, service: &str, id: &str) -> InstanceWire {
        self.compiled(service)
            .instance(id.to_ascii_lowercase().as_bytes())
            .expect("the instance is compiled")
            .clone()
    }

    fn ask(&self, name: &str, qtype: RecordType) -> Message {
        self.ask_from(IpAddr::V4(Ipv4Addr::LOCALHOST), name, qtype)
    }

    fn ask_from(&self, client: IpAddr, name: &str, qtype: RecordType) -> Message {
        let reply = self.ask_bytes(client, name, qtype, Transport::Tcp, None);
        Message::from_vec(&reply).expect("the answer decodes")
    }

    /// The response's bytes, over `transport`, with an EDNS buffer of
    /// `edns` bytes when given.
    fn ask_bytes(
        &self,
        client: IpAddr,
        name: &str,
        qtype: RecordType,
        transport: Transport,
        edns: Option<u16>,
    ) -> Vec<u8> {
        let mut query = Message::new(7, MessageType::Query, hickory_proto::op::OpCode::Query);
        query.add_query(Query::query(
            Name::from_ascii(name).expect("a valid name"),
            qtype,
        ));
        if let Some(payload) = edns {
            let mut edns = hickory_proto::op::Edns::new();
            edns.set_max_payload(payload);
            query.set_edns(edns);
        }
        let query = query.to_vec().expect("the query encodes");
        let mut buf = Vec::new();
        respond(&self.table, &query, client, transport, 1232, &mut buf)
            .expect("an answer")
            .to_vec()
    }
}

fn address(pairs: &str) -> Vec<(&str, &str)> {
    let (ipv4, ipv6) = pairs.split_once(' ').unwrap_or((pairs, ""));
    let mut attributes = vec![(ATTR_IPV4, ipv4), (ATTR_PORT, "8080")];
    if !ipv6.is_empty() {
        attributes.push((ATTR_IPV6, ipv6));
    }
    attributes
}

/// Whether `part` lies inside `whole`'s bytes, not in a copy of them.
fn within(part: &[u8], whole: &[u8]) -> bool {
    whole.as_ptr_range().contains(&part.as_ptr()) && part.len() <= whole.len()
}

#[test]
fn an_instance_is_one_buffer_whose_glue_is_its_own_answers() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A, RecordKind::Aaaa, RecordKind::Srv]);
    fixture.register(&web, "Web-1", &address("192.0.2.1 2001:db8::1"));
    let wire = fixture.wire("web", "Web-1");

    assert_eq!(wire.id(), b"Web-1", "the id is kept as registered");
    let a = wire.record(RecordKind::A).expect("an A record");
    let aaaa = wire.record(RecordKind::Aaaa).expect("an AAAA record");
    let (glue, count) = wire.glue();
    assert_eq!(count, 2);
    assert!(
        std::ptr::eq(glue[0], a) && std::ptr::eq(glue[1], aaaa),
        "the glue is the own-name answers, not a copy"
    );
    assert_eq!(&a[..2], &[0xc0, 0x0c], "an owner placeholder");
    assert!(a.ends_with(&[192, 0, 2, 1]));
    assert!(
        aaaa.ends_with(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        )
    );
    let srv = wire.record(RecordKind::Srv).expect("an SRV record");
    assert_eq!(&srv[16..18], &8080u16.to_be_bytes(), "the SRV's port");
    assert_eq!(&srv[18..24], b"\x05Web-1", "the target's first label");
    assert!(within(wire.id(), srv), "the id is the target's label");
    assert_eq!(wire.record(RecordKind::Cname), None);
}

#[test]
fn without_srv_the_id_stands_alone() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A]);
    fixture.register(&web, "one", &address("192.0.2.1 2001:db8::1"));
    let wire = fixture.wire("web", "one");
    assert_eq!(wire.id(), b"one");
    assert_eq!(wire.glue().1, 1, "its A record, should SRV ever ask");
    assert!(wire.record(RecordKind::A).is_some());
    assert_eq!(
        wire.record(RecordKind::Aaaa),
        None,
        "the template has no AAAA"
    );
    assert_eq!(wire.record(RecordKind::Srv), None);
}

#[test]
fn unchanged_instances_keep_their_buffer_across_recompiles() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A, RecordKind::Srv]);
    fixture.register(&web, "i1", &address("192.0.2.1"));
    fixture.register(&web, "i2", &address("192.0.2.2"));
    let (i1, i2) = (fixture.wire("web", "i1"), fixture.wire("web", "i2"));

    fixture.register(&web, "i3", &address("192.0.2.3"));
    assert!(fixture.wire("web", "i1").shares_buffer(&i1));
    assert!(fixture.wire("web", "i2").shares_buffer(&i2));

    fixture
        .registry
        .set_health(&web.id, "i2", HealthStatus::Unhealthy, false)
        .expect("i2 is registered");
    assert!(
        fixture.wire("web", "i2").shares_buffer(&i2),
        "health changes pools, not records"
    );

    fixture.register(&web, "i1", &address("192.0.2.9"));
    let changed = fixture.wire("web", "i1");
    assert!(
        !changed.shares_buffer(&i1),
        "a new address is a new encoding"
    );
    assert!(
        changed
            .record(RecordKind::A)
            .expect("A")
            .ends_with(&[192, 0, 2, 9])
    );
    assert!(fixture.wire("web", "i2").shares_buffer(&i2));

    fixture
        .registry
        .update_service(
            &web.id,
            ServiceUpdate {
                dns_records: Some(vec![
                    DnsRecord {
                        kind: RecordKind::A,
                        ttl: 30,
                    },
                    DnsRecord {
                        kind: RecordKind::Srv,
                        ttl: 30,
                    },
                ]),
                ..ServiceUpdate::default()
            },
        )
        .expect("the update is valid");
    assert!(
        !fixture.wire("web", "i2").shares_buffer(&i2),
        "new TTLs are a new encoding"
    );
}

#[test]
fn instance_names_answer_whatever_their_case() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A, RecordKind::Srv]);
    for (id, ip) in [
        ("Alpha", "192.0.2.1"),
        ("beta", "192.0.2.2"),
        ("GAMMA-2", "192.0.2.3"),
    ] {
        fixture.register(&web, id, &address(ip));
    }
    for (name, ip) in [
        ("alpha.web.zone.test.", [192, 0, 2, 1]),
        ("ALPHA.web.zone.test.", [192, 0, 2, 1]),
        ("Beta.WEB.zone.test.", [192, 0, 2, 2]),
        ("gamma-2.web.zone.test.", [192, 0, 2, 3]),
    ] {
        let reply = fixture.ask(name, RecordType::A);
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{name}"
        );
        let answers: Vec<_> = reply.answers.iter().map(|record| &record.data).collect();
        assert_eq!(answers, [&RData::A(Ipv4Addr::from(ip).into())], "{name}");
    }
    let reply = fixture.ask("delta.web.zone.test.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn pools_hold_the_healthy_instances_or_all_when_none_is() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A, RecordKind::Aaaa]);
    fixture.register(&web, "both", &address("192.0.2.1 2001:db8::1"));
    fixture.register(&web, "v4", &address("192.0.2.2"));
    let count = |kind| fixture.compiled("web").pool(kind).expect("a pool").len();
    assert_eq!((count(RecordKind::A), count(RecordKind::Aaaa)), (2, 1));

    fixture
        .registry
        .set_health(&web.id, "v4", HealthStatus::Unhealthy, false)
        .expect("v4 is registered");
    assert_eq!((count(RecordKind::A), count(RecordKind::Aaaa)), (1, 1));
    let service = fixture.compiled("web");
    let (a, aaaa) = (
        service.pool(RecordKind::A).expect("A"),
        service.pool(RecordKind::Aaaa).expect("AAAA"),
    );
    let member = |pool: Pool<'_>| pool.get(0).map(|wire| wire.id().to_vec());
    assert_eq!(member(a), Some(b"both".to_vec()), "A: the healthy one");
    assert_eq!(
        member(aaaa),
        Some(b"both".to_vec()),
        "AAAA: the healthy one"
    );

    fixture
        .registry
        .set_health(&web.id, "both", HealthStatus::Unhealthy, false)
        .expect("both is registered");
    assert_eq!((count(RecordKind::A), count(RecordKind::Aaaa)), (2, 1));
}

#[test]
fn a_removed_service_takes_its_name_and_empty_parents_along() {
    let fixture = Fixture::new();
    let ldap = fixture.service("_ldap._tcp", &[RecordKind::Srv]);
    let tcp = fixture.service("_tcp", &[RecordKind::A]);
    fixture.register(&ldap, "dc1", &address("192.0.2.1"));
    let rcode = |name| fixture.ask(name, RecordType::A).metadata.response_code;
    assert_eq!(rcode("_tcp.zone.test."), ResponseCode::NoError);

    fixture
        .registry
        .delete_service(&tcp.id)
        .expect("no instances");
    assert_eq!(
        rcode("_tcp.zone.test."),
        ResponseCode::NoError,
        "still an empty non-terminal"
    );
    fixture
        .registry
        .deregister_instance(&ldap.id, "dc1")
        .expect("registered");
    fixture
        .registry
        .delete_service(&ldap.id)
        .expect("no instances");
    assert_eq!(rcode("_ldap._tcp.zone.test."), ResponseCode::NXDomain);
    assert_eq!(rcode("_tcp.zone.test."), ResponseCode::NXDomain);
}

#[test]
fn large_services_find_instances_through_their_index() {
    // Past the scan limit, lookups and reuse go through the hash index.
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A, RecordKind::Srv]);
    let ids: Vec<String> = (0..40).map(|n| format!("Node-{n}")).collect();
    for (n, id) in ids.iter().enumerate() {
        fixture.register(&web, id, &address(&format!("192.0.2.{n}")));
    }
    assert!(
        fixture.compiled("web").is_indexed(),
        "40 instances are indexed"
    );
    let small = fixture.service("small", &[RecordKind::A]);
    fixture.register(&small, "only", &address("192.0.2.250"));
    assert!(
        !fixture.compiled("small").is_indexed(),
        "one instance is scanned"
    );
    let first = fixture.wire("web", "node-0");
    fixture.register(&web, "late", &address("192.0.2.200"));
    assert!(
        fixture.wire("web", "NODE-0").shares_buffer(&first),
        "the index finds the previous encoding"
    );
    for (n, id) in ids.iter().enumerate() {
        let name = format!("{}.web.zone.test.", id.to_ascii_uppercase());
        let reply = fixture.ask(&name, RecordType::A);
        let answers: Vec<_> = reply.answers.iter().map(|record| &record.data).collect();
        let ip = Ipv4Addr::new(192, 0, 2, n as u8);
        assert_eq!(answers, [&RData::A(ip.into())], "{name}");
    }
    let reply = fixture.ask("node-40.web.zone.test.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn a_denied_client_is_answered_as_if_the_private_zone_were_not_served() {
    // zone.test (public) holds priv.zone.test (private to 10/8), which
    // holds vault.priv.zone.test (private to 10.1/16); lone.test (private
    // to 10/8) has no zone above it.
    const PRIVATE: &str = "priv.zone.test";
    let fixture = Fixture::new();
    let private = fixture.namespace(PRIVATE, Some(&["10.0.0.0/8"]));
    let vault = fixture.namespace("vault.priv.zone.test", Some(&["10.1.0.0/16"]));
    let lone = fixture.namespace("lone.test", Some(&["10.0.0.0/8"]));
    for namespace_id in [&private, &vault, &lone] {
        let web = fixture.service_in(namespace_id, "web", &[RecordKind::A, RecordKind::Srv]);
        fixture.register(&web, "i1", &address("192.0.2.1"));
    }
    let outsider = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let insider = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let vault_insider = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1));
    use RecordType::{A, SOA};
    use ResponseCode::{NXDomain, NoError, Refused};

    // What a client is told: the rcode, how many answers, and the zone
    // whose SOA is in the authority section.
    type Told = (ResponseCode, usize, Option<&'static str>);
    const ANSWERED: Told = (NoError, 1, None);
    const REFUSED: Told = (Refused, 0, None);
    let nxdomain = |zone| (NXDomain, 0, Some(zone));
    let cases: &[(IpAddr, &str, RecordType, Told)] = &[
        // What the outsider would get with no private zone at all.
        (outsider, "nope.zone.test.", A, nxdomain(ZONE)),
        (outsider, "web.priv.zone.test.", A, nxdomain(ZONE)),
        (outsider, "priv.zone.test.", SOA, nxdomain(ZONE)),
        (outsider, "nope.priv.zone.test.", A, nxdomain(ZONE)),
        (outsider, "i1.web.priv.zone.test.", A, nxdomain(ZONE)),
        (outsider, "web.vault.priv.zone.test.", A, nxdomain(ZONE)),
        (outsider, "web.lone.test.", A, REFUSED),
        (outsider, "lone.test.", SOA, REFUSED),
        // Allowed in priv.zone.test but not in the vault inside it.
        (insider, "web.priv.zone.test.", A, ANSWERED),
        (insider, "i1.web.priv.zone.test.", A, ANSWERED),
        (insider, "priv.zone.test.", SOA, ANSWERED),
        (insider, "nope.priv.zone.test.", A, nxdomain(PRIVATE)),
        (insider, "web.vault.priv.zone.test.", A, nxdomain(PRIVATE)),
        (insider, "vault.priv.zone.test.", SOA, nxdomain(PRIVATE)),
        (insider, "web.lone.test.", A, ANSWERED),
        // Allowed everywhere.
        (vault_insider, "web.vault.priv.zone.test.", A, ANSWERED),
        (vault_insider, "vault.priv.zone.test.", SOA, ANSWERED),
    ];
    for &(client, name, qtype, (rcode, answers, soa_of)) in cases {
        let what = format!("{name} {qtype} from {client}");
        let reply = fixture.ask_from(client, name, qtype);
        assert_eq!(reply.metadata.response_code, rcode, "{what}");
        assert_eq!(reply.metadata.authoritative, rcode != Refused, "{what}: AA");
        assert_eq!(reply.answers.len(), answers, "{what}: answers");
        let authority: Vec<_> = reply
            .authorities
            .iter()
            .filter(|record| record.record_type() == RecordType::SOA)
            .map(|record| (record.record_type(), record.name.to_ascii()))
            .collect();
        let expected: Vec<_> = soa_of
            .map(|zone| (RecordType::SOA, format!("{zone}.")))
            .into_iter()
            .collect();
        assert_eq!(authority, expected, "{what}: authority");
    }
}

/// Validation and compilation agree: across the lengths where names stop
/// fitting, every service and instance the registry accepts is compiled and
/// answers, so nothing is acknowledged that DNS then cannot serve.
#[test]
fn whatever_the_registry_accepts_near_the_length_limits_is_compiled() {
    let fixture = Fixture::new();
    // 196 characters: a{63}.b{63}.c{63}.test
    let zone = ["a", "b", "c"].map(|letter| letter.repeat(63)).join(".") + ".test";
    let namespace_id = fixture.namespace(&zone, None);
    let mut accepted_services = 0;
    let mut accepted_instances = 0;
    for service_len in 50..=58 {
        for (kinds, tag) in [
            (&[RecordKind::A, RecordKind::Srv][..], 's'),
            (&[RecordKind::A][..], 'a'),
        ] {
            let name = tag.to_string().repeat(service_len);
            let created = fixture.registry.create_service(NewService {
                region: None,
                namespace_id: namespace_id.clone(),
                name: name.clone(),
                description: None,
                dns: Some(DnsTemplate {
                    routing_policy: RoutingPolicy::Multivalue,
                    records: kinds
                        .iter()
                        .map(|&kind| DnsRecord { kind, ttl: 60 })
                        .collect(),
                }),
                health_check: None,
                custom_health_check: None,
                heartbeat: None,
                creator_request_id: None,
                tags: Tags::new(),
            });
            let Ok(service) = created else { continue };
            accepted_services += 1;
            let wire = ServiceName::new(&name, &zone).expect("an accepted name is a DNS name");
            assert!(
                fixture.table.service_at(&wire.wire).is_some(),
                "{name} compiled"
            );
            for id_len in 1..=5 {
                let id = "i".repeat(id_len);
                let registered = fixture.registry.register_instance(InstanceRegistration {
                    service_id: service.id.clone(),
                    instance_id: id.clone(),
                    attributes: [(ATTR_IPV4, "10.0.0.1"), (ATTR_PORT, "80")]
                        .iter()
                        .map(|(key, value)| (key.to_string(), value.to_string()))
                        .collect(),
                    creator_request_id: None,
                });
                if registered.is_err() {
                    continue;
                }
                accepted_instances += 1;
                let compiled = fixture
                    .table
                    .service_at(&wire.wire)
                    .expect("the service is in the table");
                assert!(
                    compiled.instance(id.as_bytes()).is_some(),
                    "{id} of a {service_len}-character service is compiled"
                );
                let reply = fixture.ask(&format!("{name}.{zone}."), RecordType::A);
                assert_eq!(reply.response_code, ResponseCode::NoError);
            }
        }
    }
    // The sweep crossed the limits on both sides.
    assert!(
        accepted_services > 0 && accepted_services < 18,
        "{accepted_services}"
    );
    assert!(accepted_instances > 0, "{accepted_instances}");
}

/// Answers `name` over UDP with EDNS, as the worker does: the response and
/// what rate limiting is told about it.
fn served_for(
    fixture: &Fixture,
    client: IpAddr,
    name: &str,
    qtype: RecordType,
) -> (Vec<u8>, Served) {
    let mut query = Message::new(9, MessageType::Query, hickory_proto::op::OpCode::Query);
    query.add_query(Query::query(
        Name::from_ascii(name).expect("a valid name"),
        qtype,
    ));
    query.set_edns(hickory_proto::op::Edns::new());
    let query = query.to_vec().expect("the query encodes");
    let (mut buf, mut served) = (Vec::new(), Served::default());
    let table = &fixture.table;
    respond_served(
        table,
        &query,
        client,
        Transport::Udp,
        1232,
        &mut buf,
        &mut served,
    )
    .expect("an answer");
    (buf, served)
}

/// A wire name as text, as it is written in the response.
fn dotted(mut wire: &[u8]) -> String {
    let mut text = String::new();
    while let [len, rest @ ..] = wire
        && *len > 0
    {
        let (label, tail) = rest.split_at(usize::from(*len));
        text.push_str(&String::from_utf8_lossy(label));
        text.push('.');
        wire = tail;
    }
    text
}

#[test]
fn rate_limiting_is_told_the_kind_the_zone_and_the_name_of_each_answer() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A]);
    fixture.register(&web, "i1", &address("192.0.2.1"));
    let private = fixture.namespace("priv.zone.test", Some(&["10.0.0.0/8"]));
    let db = fixture.service_in(&private, "db", &[RecordKind::A]);
    fixture.register(&db, "d1", &address("192.0.2.9"));
    let outsider = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let insider = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    use AnswerKind::{Error, NoData, NxDomain, Positive};
    use RecordType::{A, AAAA};
    // (client, question, kind, from a private zone, the bucket's name)
    let cases: &[(IpAddr, &str, RecordType, AnswerKind, bool, &str)] = &[
        (
            outsider,
            "WEB.zone.test.",
            A,
            Positive,
            false,
            "WEB.zone.test.",
        ),
        (
            outsider,
            "web.zone.test.",
            AAAA,
            NoData,
            false,
            "zone.test.",
        ),
        (
            outsider,
            "nope.Zone.test.",
            A,
            NxDomain,
            false,
            "Zone.test.",
        ),
        (outsider, "elsewhere.test.", A, Error, false, ""),
        // Denied: counted exactly as if the private zone were not served.
        (
            outsider,
            "db.priv.zone.test.",
            A,
            NxDomain,
            false,
            "zone.test.",
        ),
        (
            insider,
            "db.priv.zone.test.",
            A,
            Positive,
            true,
            "db.priv.zone.test.",
        ),
        (
            insider,
            "nope.priv.zone.test.",
            A,
            NxDomain,
            true,
            "priv.zone.test.",
        ),
    ];
    for &(client, name, qtype, kind, private, bucket) in cases {
        let (response, served) = served_for(&fixture, client, name, qtype);
        let what = format!("{name} {qtype} from {client}");
        assert_eq!((served.kind, served.private), (kind, private), "{what}");
        assert_eq!(dotted(&response[served.name.clone()]), bucket, "{what}");
        assert!(served.opt, "{what}: OPT");
    }
}

#[test]
fn a_slipped_answer_is_its_header_and_question_with_tc_and_opt() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A]);
    fixture.register(&web, "i1", &address("192.0.2.1"));
    let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (mut response, served) = served_for(&fixture, client, "web.zone.test.", RecordType::A);
    super::rrl::slip(&mut response, &served);
    let reply = Message::from_vec(&response).expect("a slipped answer decodes");
    assert_eq!(reply.metadata.id, 9);
    assert!(reply.metadata.truncation, "TC");
    assert!(reply.metadata.authoritative, "the header's flags are kept");
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(reply.queries.len(), 1);
    assert_eq!(reply.queries[0].name().to_ascii(), "web.zone.test.");
    assert!(reply.answers.is_empty() && reply.authorities.is_empty());
    assert!(reply.additionals.is_empty());
    assert_eq!(reply.edns.expect("OPT kept").max_payload(), 1232);
}

/// The answer section as `(owner, type, data)` lines, in order.
fn answer_lines(reply: &Message) -> Vec<String> {
    reply
        .answers
        .iter()
        .map(|record| {
            format!(
                "{} {} {}",
                record.name.to_ascii().to_ascii_lowercase(),
                record.record_type(),
                record.data.to_string().to_ascii_lowercase()
            )
        })
        .collect()
}

#[test]
fn cname_chains_are_followed_within_what_cairn_serves() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A, RecordKind::Srv]);
    fixture.register(&web, "w1", &address("192.0.2.1"));
    fixture.alias("alias", "web.zone.test");
    fixture.alias("second", "ALIAS.zone.test");
    fixture.alias("dangling", "nope.zone.test");
    fixture.alias("outside", "example.org");
    fixture.alias("loop-a", "loop-b.zone.test");
    fixture.alias("loop-b", "loop-a.zone.test");
    fixture.alias("instance", "w1.web.zone.test");
    use RecordType::{A, AAAA, CNAME, SRV};
    use ResponseCode::{NXDomain, NoError};

    let cases: &[(&str, RecordType, ResponseCode, &[&str])] = &[
        (
            "alias.zone.test.",
            A,
            NoError,
            &[
                "alias.zone.test. CNAME web.zone.test.",
                "web.zone.test. A 192.0.2.1",
            ],
        ),
        (
            "second.zone.test.",
            A,
            NoError,
            &[
                "second.zone.test. CNAME alias.zone.test.",
                "alias.zone.test. CNAME web.zone.test.",
                "web.zone.test. A 192.0.2.1",
            ],
        ),
        (
            "alias.zone.test.",
            SRV,
            NoError,
            &[
                "alias.zone.test. CNAME web.zone.test.",
                "web.zone.test. SRV 1 1 8080 w1.web.zone.test.",
            ],
        ),
        (
            "instance.zone.test.",
            A,
            NoError,
            &[
                "instance.zone.test. CNAME w1.web.zone.test.",
                "w1.web.zone.test. A 192.0.2.1",
            ],
        ),
        // A CNAME query is answered by the CNAME alone.
        (
            "alias.zone.test.",
            CNAME,
            NoError,
            &["alias.zone.test. CNAME web.zone.test."],
        ),
        // NODATA and NXDOMAIN at the end of the chain are the target's.
        (
            "alias.zone.test.",
            AAAA,
            NoError,
            &["alias.zone.test. CNAME web.zone.test."],
        ),
        (
            "dangling.zone.test.",
            A,
            NXDomain,
            &["dangling.zone.test. CNAME nope.zone.test."],
        ),
        // Left to the client: a target cairn does not serve, and a loop,
        // written up to the name it comes back to.
        (
            "outside.zone.test.",
            A,
            NoError,
            &["outside.zone.test. CNAME example.org."],
        ),
        (
            "loop-a.zone.test.",
            A,
            NoError,
            &[
                "loop-a.zone.test. CNAME loop-b.zone.test.",
                "loop-b.zone.test. CNAME loop-a.zone.test.",
            ],
        ),
    ];
    for &(name, qtype, rcode, expected) in cases {
        let reply = fixture.ask(name, qtype);
        let what = format!("{name} {qtype}");
        assert_eq!(reply.metadata.response_code, rcode, "{what}");
        assert!(reply.metadata.authoritative, "{what}: AA");
        assert_eq!(answer_lines(&reply), expected, "{what}");
        let negative = rcode == NXDomain || (qtype == AAAA && name.starts_with("alias"));
        let soa = reply
            .authorities
            .iter()
            .any(|record| record.record_type() == RecordType::SOA);
        assert_eq!(soa, negative, "{what}: the target zone's SOA");
    }
    let srv = fixture.ask("alias.zone.test.", SRV);
    let glue: Vec<_> = srv
        .additionals
        .iter()
        .map(|record| record.name.to_ascii())
        .collect();
    assert_eq!(glue, ["w1.web.zone.test."], "the target's SRV glue");
}

#[test]
fn a_chain_is_bounded() {
    let fixture = Fixture::new();
    for step in 0..20 {
        fixture.alias(&format!("c{step}"), &format!("c{}.zone.test", step + 1));
    }
    let reply = fixture.ask("c0.zone.test.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        reply.answers.len(),
        1 + super::answer::MAX_CNAME_CHAIN,
        "the question's CNAME and as many more as the bound"
    );
}

#[test]
fn a_chain_enters_a_private_namespace_only_for_its_clients() {
    let fixture = Fixture::new();
    let private = fixture.namespace("priv.test", Some(&["10.0.0.0/8"]));
    let db = fixture.service_in(&private, "db", &[RecordKind::A]);
    fixture.register(&db, "d1", &address("10.9.9.9"));
    fixture.alias("db", "DB.priv.test");
    let insider = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let outsider = IpAddr::V4(Ipv4Addr::LOCALHOST);

    let inside = fixture.ask_from(insider, "db.zone.test.", RecordType::A);
    assert_eq!(
        answer_lines(&inside),
        [
            "db.zone.test. CNAME db.priv.test.",
            "db.priv.test. A 10.9.9.9"
        ]
    );
    let outside = fixture.ask_from(outsider, "db.zone.test.", RecordType::A);
    assert_eq!(outside.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        answer_lines(&outside),
        ["db.zone.test. CNAME db.priv.test."],
        "the client is left to follow it, and is refused there as if asking itself"
    );
    assert!(outside.authorities.is_empty());
}

/// The pinned size of a whole SRV answer: eight targets with 63-character
/// ids, each with A and AAAA glue whose owner is a pointer to its SRV
/// record's target, fit in 1232 bytes with room to spare.
#[test]
fn a_whole_srv_answer_is_compressed_to_a_known_size() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A, RecordKind::Aaaa, RecordKind::Srv]);
    for n in 0..8 {
        let id = format!("{n}{}", "x".repeat(62));
        let addresses = format!("192.0.2.{n} 2001:db8::{n}");
        fixture.register(&web, &id, &address(&addresses));
    }
    let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let bytes = fixture.ask_bytes(
        client,
        "web.zone.test.",
        RecordType::SRV,
        Transport::Udp,
        Some(1232),
    );
    // header 12 + question 19 + 8 SRV × (2 + 10 + 6 + 64 + 15) + 8 × (A 16
    // + AAAA 28) + OPT 11. Without compressing the glue's owners it would
    // be 8 × 2 × 64 bytes more: 2,194, past 1232.
    assert_eq!(bytes.len(), 12 + 19 + 8 * 97 + 8 * (16 + 28) + 11);
    assert_eq!(bytes.len(), 1170);
    let reply = Message::from_vec(&bytes).expect("the answer decodes");
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.answers.len(), 8);
    assert_eq!(reply.additionals.len(), 16, "every target's A and AAAA");
    for glue in &reply.additionals {
        let owner = glue.name.to_ascii().to_ascii_lowercase();
        assert!(
            reply.answers.iter().any(|srv| srv
                .data
                .to_string()
                .to_ascii_lowercase()
                .ends_with(&owner)),
            "{owner} is an SRV target"
        );
    }
    let classic = fixture.ask_bytes(
        client,
        "web.zone.test.",
        RecordType::SRV,
        Transport::Udp,
        None,
    );
    let classic = Message::from_vec(&classic).expect("the answer decodes");
    assert!(
        classic.metadata.truncation,
        "776 bytes of SRV records do not fit in 512"
    );
}

/// The sections of a reply as `owner type data` lines, answer, authority,
/// additional.
fn sections(reply: &Message) -> [Vec<String>; 3] {
    let lines = |records: &[hickory_proto::rr::Record]| {
        records
            .iter()
            .filter(|record| record.record_type() != RecordType::OPT)
            .map(|record| {
                format!(
                    "{} {} {}",
                    record.name.to_ascii().to_ascii_lowercase(),
                    record.record_type(),
                    record.data.to_string().to_ascii_lowercase()
                )
            })
            .collect::<Vec<_>>()
    };
    [
        lines(&reply.answers),
        lines(&reply.authorities),
        lines(&reply.additionals),
    ]
}

#[test]
fn the_default_name_server_resolves_and_comes_with_its_glue() {
    let fixture = Fixture::new();
    let glue = [
        "ns1.zone.test. A 192.0.2.53",
        "ns1.zone.test. AAAA 2001:db8::53",
    ];
    let ns = fixture.ask("zone.test.", RecordType::NS);
    assert_eq!(
        sections(&ns),
        [
            vec!["zone.test. NS ns1.zone.test.".to_string()],
            vec![],
            glue.map(String::from).to_vec()
        ]
    );
    let soa = fixture.ask("zone.test.", RecordType::SOA);
    let [answer, authority, additional] = sections(&soa);
    assert_eq!(answer.len(), 1);
    assert_eq!(authority, ["zone.test. NS ns1.zone.test."], "as NSD");
    assert_eq!(additional, glue);
    let a = fixture.ask("NS1.zone.test.", RecordType::A);
    assert!(a.metadata.authoritative);
    assert_eq!(answer_lines(&a), ["ns1.zone.test. A 192.0.2.53"]);
    let mx = fixture.ask("ns1.zone.test.", RecordType::MX);
    assert_eq!(mx.metadata.response_code, ResponseCode::NoError);
    assert!(mx.answers.is_empty(), "NODATA");
}

#[test]
fn a_namespace_names_its_own_name_servers() {
    let fixture = Fixture::new();
    let soa = SoaSettings {
        name_servers: vec![
            crate::registry::NameServer {
                name: "dns.zone.test".into(),
                addresses: vec![IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))],
            },
            crate::registry::NameServer {
                name: "ns.example.net".into(),
                addresses: Vec::new(),
            },
        ],
        ..SoaSettings::default()
    };
    fixture
        .registry
        .update_namespace(
            &fixture.namespace_id,
            crate::registry::NamespaceUpdate {
                soa: Some(soa),
                ..Default::default()
            },
        )
        .expect("the update is valid");
    let ns = fixture.ask("zone.test.", RecordType::NS);
    let [mut answer, _, additional] = sections(&ns);
    answer.sort();
    assert_eq!(
        answer,
        [
            "zone.test. NS dns.zone.test.",
            "zone.test. NS ns.example.net."
        ]
    );
    assert_eq!(
        additional,
        ["dns.zone.test. A 198.51.100.1"],
        "glue for the in-zone one only"
    );
    let old = fixture.ask("ns1.zone.test.", RecordType::A);
    assert_eq!(
        old.metadata.response_code,
        ResponseCode::NXDomain,
        "the default is gone"
    );

    // A name server's name is not a service's, either way round.
    let refused = fixture.registry.create_service(NewService {
        namespace_id: fixture.namespace_id.clone(),
        name: "DNS".into(),
        description: None,
        dns: Some(DnsTemplate {
            routing_policy: RoutingPolicy::Multivalue,
            records: vec![DnsRecord {
                kind: RecordKind::A,
                ttl: 60,
            }],
        }),
        health_check: None,
        custom_health_check: None,
        heartbeat: None,
        creator_request_id: None,
        tags: Tags::new(),
        region: None,
    });
    let message = refused
        .expect_err("a service at the name server's name")
        .to_string();
    assert!(message.contains("name server"), "{message}");
    fixture.service("api", &[RecordKind::A]);
    let taken = fixture.registry.update_namespace(
        &fixture.namespace_id,
        crate::registry::NamespaceUpdate {
            soa: Some(SoaSettings {
                name_servers: vec![crate::registry::NameServer {
                    name: "api.zone.test".into(),
                    addresses: vec![IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2))],
                }],
                ..SoaSettings::default()
            }),
            ..Default::default()
        },
    );
    assert!(taken.is_err(), "a name server at a service's name");
    let lame = fixture.registry.update_namespace(
        &fixture.namespace_id,
        crate::registry::NamespaceUpdate {
            soa: Some(SoaSettings {
                name_servers: vec![crate::registry::NameServer {
                    name: "ns2.zone.test".into(),
                    addresses: Vec::new(),
                }],
                ..SoaSettings::default()
            }),
            ..Default::default()
        },
    );
    assert!(lame.is_err(), "an in-zone name server without addresses");
}

#[test]
fn any_gets_every_rrset_at_the_name() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A, RecordKind::Aaaa, RecordKind::Srv]);
    fixture.register(&web, "w1", &address("192.0.2.1 2001:db8::1"));
    let mut answers = answer_lines(&fixture.ask("web.zone.test.", RecordType::ANY));
    answers.sort();
    assert_eq!(
        answers,
        [
            "web.zone.test. A 192.0.2.1",
            "web.zone.test. AAAA 2001:db8::1",
            "web.zone.test. SRV 1 1 8080 w1.web.zone.test.",
        ],
        "what JNDI's getAttributes(name, {{SRV, A}}) needs from one query"
    );
    let mut own = answer_lines(&fixture.ask("w1.web.zone.test.", RecordType::ANY));
    own.sort();
    assert_eq!(
        own,
        [
            "w1.web.zone.test. A 192.0.2.1",
            "w1.web.zone.test. AAAA 2001:db8::1"
        ]
    );
    let apex = answer_lines(&fixture.ask("zone.test.", RecordType::ANY));
    assert_eq!(apex.len(), 2, "SOA and NS: {apex:?}");
    fixture.service("empty", &[RecordKind::A]);
    let nodata = fixture.ask("empty.zone.test.", RecordType::ANY);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities.len(), 1, "NODATA with the SOA");
}

mod history;
mod in_place;
mod replacement;
