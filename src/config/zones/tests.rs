//! Reading and checking zones files; applying them is tested in
//! `crate::zones`, which shares the fixtures below.

use std::path::Path;

use super::*;
use crate::registry::RoutingPolicy;

const PATH: &str = "zones/test.toml";

/// A minimal valid file: one private namespace, one A service, one instance.
pub(crate) const VALID: &str = r#"
[namespace]
name = "svc.internal"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.0/8"]

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }]

[[services.instances]]
id = "web-1"
ipv4 = "10.0.1.1"
"#;

fn parse(text: &str) -> Result<ZoneFile, ConfigError> {
    parse_zone_file(Path::new(PATH), text)
}

/// The error a file's text gives, as the operator sees it.
fn error(text: &str) -> String {
    match parse(text) {
        Ok(file) => panic!("expected an error, parsed {file:?}"),
        Err(error) => error.to_string(),
    }
}

pub(crate) fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} should mention {part:?}"
        );
    }
}

/// A file of `count` services, large enough to be read in several batches,
/// written with what TOML allows: sub-tables, a namespace table between
/// services, quoted keys, strings that look like headers.
pub(crate) fn many_services(count: usize) -> String {
    let mut text = String::from(
        "[namespace]\nname = \"big.internal\"\ntype = \"DNS_PRIVATE\"\nallowed_networks = [\n  \"10.0.0.0/8\",\n]\n",
    );
    for n in 0..count {
        if n == count / 2 {
            text.push_str("\n[namespace.soa]\nttl = 30\n");
        }
        let header = if n % 7 == 0 {
            "[[\"services\"]]"
        } else {
            "[[services]]"
        };
        text.push_str(&format!(
            "\n{header}\nname = \"s{n}\"\ndescription = \"\"\"\n[[services]]\nname = \"fake\"\"\"\"\nrecords = [\n  {{ type = \"A\", ttl = 60 }},\n  {{ type = \"SRV\", ttl = 60 }},\n]\n"
        ));
        if n % 5 == 0 {
            text.push_str("[services.tags]\nteam = \"infra\"\n");
        }
        for k in 0..3 {
            text.push_str(&format!(
                "[[services.instances]]\nid = \"i{k}\"\nipv4 = \"10.0.{}.{k}\"\nport = 80\nattributes = {{ zone = \"z{k}\" }}\n",
                n % 250
            ));
        }
    }
    text
}

#[test]
fn a_file_maps_onto_registry_values() {
    let file = parse(
        r#"
[namespace]
name = "svc.internal."
type = "DNS_PRIVATE"
description = "d"
allowed_networks = ["10.1.2.3/8", "192.168.1.1"]
tags = { team = "infra" }

[namespace.soa]
ttl = 30
rname = "admin.example.org"

[[services]]
name = "_web._tcp"
records = [{ type = "SRV", ttl = 5 }, { type = "AAAA", ttl = 5 }]
health_check = { type = "HTTP", path = "/health", failure_threshold = 3 }

[[services.instances]]
id = "web-1"
ipv6 = "fd00::1"
port = 80
attributes = { zone = "a" }
"#,
    )
    .unwrap();
    let namespace = &file.namespace;
    assert_eq!(namespace.name, "svc.internal");
    let networks: Vec<String> = namespace
        .allowed_networks
        .iter()
        .map(ToString::to_string)
        .collect();
    // As written; the registry clears host bits (`registry::networks`).
    assert_eq!(networks, ["10.1.2.3/8", "192.168.1.1/32"]);
    assert_eq!(namespace.soa.ttl, 30);
    assert_eq!(namespace.soa.rname.as_deref(), Some("admin.example.org"));
    assert_eq!(
        namespace.soa.refresh,
        crate::registry::SoaSettings::default().refresh
    );
    assert_eq!(
        namespace.tags.get("team").map(String::as_str),
        Some("infra")
    );

    let service = &file.services[0];
    assert_eq!(
        service.dns.as_ref().unwrap().routing_policy,
        RoutingPolicy::Multivalue
    );
    let check = service.health_check.as_ref().unwrap();
    assert_eq!(check.resource_path.as_deref(), Some("/health"));
    assert_eq!(check.failure_threshold, 3);
    let attributes = &service.instances[0].attributes;
    assert_eq!(
        attributes.get("AWS_INSTANCE_IPV6").map(String::as_str),
        Some("fd00::1")
    );
    assert_eq!(
        attributes.get("AWS_INSTANCE_PORT").map(String::as_str),
        Some("80")
    );
    assert_eq!(attributes.get("zone").map(String::as_str), Some("a"));
    assert_eq!(attributes.len(), 3);
}

#[test]
fn a_cname_only_service_defaults_to_weighted() {
    let file = parse(
        r#"
[namespace]
name = "example.org"
type = "DNS_PUBLIC"

[[services]]
name = "www"
records = [{ type = "CNAME", ttl = 300 }]

[[services.instances]]
id = "www"
cname = "web.example.net"
"#,
    )
    .unwrap();
    let template = file.services[0].dns.as_ref().unwrap();
    assert_eq!(template.routing_policy, RoutingPolicy::Weighted);
}

#[test]
fn an_http_namespace_holds_api_only_services() {
    let text = r#"
[namespace]
name = "apps"
type = "HTTP"

[[services]]
name = "billing"
custom_health_check = {}

[[services.instances]]
id = "billing-1"
attributes = { url = "http://10.0.0.9:8000" }
"#;
    let file = parse(text).unwrap();
    assert!(file.services[0].dns.is_none());
    assert_eq!(
        file.services[0]
            .custom_health_check
            .unwrap()
            .failure_threshold,
        1
    );

    let with_records = text.replace(
        "custom_health_check = {}",
        "records = [{ type = \"A\", ttl = 1 }]",
    );
    assert_mentions(
        &error(&with_records),
        &[PATH, "services[0] \"billing\"", "HTTP", "remove records"],
    );
}

#[test]
fn a_dns_service_without_records_is_an_error() {
    let text = VALID.replace("records = [{ type = \"A\", ttl = 10 }]", "");
    assert_mentions(
        &error(&text),
        &[PATH, "services[0] \"web\"", "needs DNS records"],
    );
}

#[test]
fn unknown_keys_name_the_file_and_the_key() {
    let text = VALID.replace(
        "ipv4 = \"10.0.1.1\"",
        "ipv4 = \"10.0.1.1\"\naddress = \"10.0.1.1\"",
    );
    assert_mentions(&error(&text), &[PATH, "address"]);
    let text = VALID.replace("[namespace]", "[namespace]\nttl = 5");
    assert_mentions(&error(&text), &[PATH, "ttl"]);
}

#[test]
fn an_instance_that_breaks_its_template_names_file_service_and_instance() {
    let text = VALID.replace("ipv4 = \"10.0.1.1\"", "ipv6 = \"fd00::1\"");
    assert_mentions(
        &error(&text),
        &[
            PATH,
            "services[0] \"web\": instances[0] \"web-1\"",
            "needs AWS_INSTANCE_IPV4",
            "`ipv4`",
        ],
    );
}

#[test]
fn names_declared_twice_in_a_file_are_errors() {
    let service_twice =
        format!("{VALID}\n[[services]]\nname = \"WEB\"\nrecords = [{{ type = \"A\", ttl = 1 }}]\n");
    assert_mentions(
        &error(&service_twice),
        &[PATH, "services[1] \"WEB\"", "also services[0]"],
    );

    let instance_twice =
        format!("{VALID}\n[[services.instances]]\nid = \"web-1\"\nipv4 = \"10.0.1.2\"\n");
    assert_mentions(
        &error(&instance_twice),
        &[
            PATH,
            "services[0] \"web\": instances[1] \"web-1\"",
            "also instances[0]",
        ],
    );
}

#[test]
fn a_reserved_attribute_given_both_ways_is_an_error() {
    let text = VALID.replace(
        "ipv4 = \"10.0.1.1\"",
        "ipv4 = \"10.0.1.1\"\nattributes = { AWS_INSTANCE_IPV4 = \"10.0.1.2\" }",
    );
    assert_mentions(
        &error(&text),
        &[PATH, "instances[0] \"web-1\"", "AWS_INSTANCE_IPV4", "twice"],
    );
}

#[test]
fn allowed_networks_are_passed_on_as_written() {
    // What is stored (canonical form, loopback when none) is the registry's
    // call, the same as for the API: see `registry::networks`.
    let without = VALID.replace("allowed_networks = [\"127.0.0.0/8\"]", "");
    assert_eq!(parse(&without).unwrap().namespace.allowed_networks, []);
    let host_bits = VALID.replace("127.0.0.0/8", "127.0.0.1/8");
    let written: Vec<String> = parse(&host_bits)
        .unwrap()
        .namespace
        .allowed_networks
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(written, ["127.0.0.1/8"]);

    let public = VALID.replace("DNS_PRIVATE", "DNS_PUBLIC");
    assert_mentions(&error(&public), &[PATH, "only for DNS_PRIVATE"]);
}

#[test]
fn a_bad_cidr_is_named() {
    let text = VALID.replace("\"127.0.0.0/8\"", "\"127.0.0.0/8\", \"10.0.0.0/33\"");
    assert_mentions(
        &error(&text),
        &[PATH, "allowed_networks[1]", "'10.0.0.0/33'", "CIDR"],
    );
}

#[test]
fn registry_rules_apply_before_anything_is_created() {
    let bad_name = VALID.replace("name = \"web\"", "name = \"web!\"");
    assert_mentions(&error(&bad_name), &[PATH, "services[0] \"web!\"", "'!'"]);
    let bad_combination = VALID.replace(
        "records = [{ type = \"A\", ttl = 10 }]",
        "records = [{ type = \"A\", ttl = 10 }, { type = \"CNAME\", ttl = 10 }]",
    );
    assert_mentions(&error(&bad_combination), &[PATH, "CNAME"]);
    let bad_threshold = VALID.replace(
        "records = [{ type = \"A\", ttl = 10 }]",
        "records = [{ type = \"A\", ttl = 10 }]\nhealth_check = { type = \"TCP\", failure_threshold = 11 }",
    );
    assert_mentions(&error(&bad_threshold), &[PATH, "FailureThreshold"]);
}

#[test]
fn a_file_read_in_batches_is_the_file_read_whole() {
    let text = many_services(600);
    assert!(text.len() > 10 * 16 * 1024, "several batches");
    let batched = parse(&text).unwrap();
    let whole = translate::parse_whole(Path::new(PATH), &text).unwrap();
    assert_eq!(batched.services.len(), 600);
    assert_eq!(format!("{batched:?}"), format!("{whole:?}"));
    assert_eq!(batched.namespace.soa.ttl, 30);
    assert_eq!(
        batched.services[595].tags.get("team").map(String::as_str),
        Some("infra")
    );
}

#[test]
fn errors_in_a_later_batch_read_as_for_the_whole_file() {
    let text = many_services(600);
    let broken = [
        // A TOML error: the line and column are the file's.
        text.replace("name = \"s599\"\n", "name = \"s599\"\nname = \"again\"\n"),
        // An unknown key, found by the deserializer.
        text.replace("id = \"i2\"\nipv4 = \"10.0.99.2\"", "id = \"i2\"\nip = \"10.0.99.2\""),
        // A value of the wrong type.
        text.replace("name = \"s500\"", "name = 2500"),
        // A service declared twice, far apart.
        text.replace("name = \"s598\"", "name = \"S1\""),
        // A bad instance.
        text.replace("ipv4 = \"10.0.98.1\"", "ipv4 = \"10.0.248\""),
        text.replace("port = 80\nattributes = { zone = \"z0\" }\n[[services.instances]]\nid = \"i1\"\nipv4 = \"10.0.97.1\"", "port = 80\nattributes = { zone = \"z0\" }\n[[services.instances]]\nid = \"i1\"\nport = 80"),
    ];
    for text in broken {
        let batched = error(&text);
        let whole = translate::parse_whole(Path::new(PATH), &text)
            .unwrap_err()
            .to_string();
        assert_eq!(batched, whole);
    }
    let line = error(&broken_at_line(&text, "name = \"s599\""));
    let expected = text.lines().position(|l| l == "name = \"s599\"").unwrap() + 2;
    assert!(line.contains(&format!("line {expected}, column")), "{line}");
}

/// `text` with a key given twice just after `line`.
fn broken_at_line(text: &str, line: &str) -> String {
    text.replace(&format!("{line}\n"), &format!("{line}\n{line}\n"))
}

#[test]
fn errors_in_the_head_name_the_file_line_after_services() {
    let text = format!("{VALID}\n[namespace.soa]\nttl = \"sixty\"\n");
    let batched = error(&text);
    let whole = translate::parse_whole(Path::new(PATH), &text)
        .unwrap_err()
        .to_string();
    assert_eq!(batched, whole);
    assert_mentions(&batched, &[PATH, "line 16, column 7"]);

    // With no head at all, there is no line of it to show.
    let missing = error("[[services]]\nname = \"web\"\n");
    assert_mentions(
        &missing,
        &[PATH, "line 1, column 1", "missing field `namespace`"],
    );
}

#[test]
fn services_may_be_written_inline_but_not_in_both_forms() {
    let inline = r#"
services = [
  { name = "web", records = [{ type = "A", ttl = 10 }], instances = [{ id = "web-1", ipv4 = "10.0.1.1" }] },
  { name = "db", records = [{ type = "A", ttl = 10 }] },
]

[namespace]
name = "svc.internal"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.0/8"]
"#;
    let file = parse(inline).unwrap();
    let names: Vec<&str> = file.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web", "db"]);
    assert_eq!(file.services[0].instances[0].id, "web-1");

    let both = format!(
        "{inline}\n[[services]]\nname = \"web2\"\nrecords = [{{ type = \"A\", ttl = 1 }}]\n"
    );
    assert!(translate::parse_whole(Path::new(PATH), &both).is_err());
    assert_mentions(&error(&both), &[PATH, "both inline", "[[services]]"]);

    let twice = inline.replace("name = \"db\"", "name = \"Web\"");
    assert_mentions(&error(&twice), &["services[1] \"Web\"", "also services[0]"]);
}

#[test]
fn a_zones_own_transfer_settings_are_read_and_bad_ones_named() {
    let with = VALID.replace(
        "allowed_networks = [\"127.0.0.0/8\"]\n",
        "allowed_networks = [\"127.0.0.0/8\"]\ntransfer = { allow = [\"127.0.0.2\"], notify = [\"127.0.0.1:5300\", \"::1\"], key = \"xfrkey\" }\n",
    );
    let transfer = parse(&with).unwrap().namespace.transfer.expect("its own");
    assert_eq!(
        transfer.allow,
        ["127.0.0.2/32".parse::<ipnet::IpNet>().unwrap()]
    );
    assert_eq!(
        transfer.notify,
        [
            "127.0.0.1:5300".parse::<std::net::SocketAddr>().unwrap(),
            "[::1]:53".parse().unwrap()
        ]
    );
    assert_eq!(transfer.key.as_deref(), Some("xfrkey"));
    assert_eq!(parse(VALID).unwrap().namespace.transfer, None);
    let empty = format!("{VALID}\n[namespace.transfer]\n");
    assert_eq!(
        parse(&empty).unwrap().namespace.transfer,
        None,
        "nothing in it: the server's [transfer]"
    );
    let closed = format!("{VALID}\n[namespace.transfer]\nallow = []\n");
    assert_eq!(
        parse(&closed).unwrap().namespace.transfer,
        Some(crate::registry::TransferSettings::default()),
        "an empty allow list: nobody"
    );
    assert_mentions(
        &error(&format!(
            "{VALID}\n[namespace.transfer]\nallow = [\"ten\"]\n"
        )),
        &[PATH, "namespace.transfer.allow[0]: 'ten'"],
    );
    assert_mentions(
        &error(&format!(
            "{VALID}\n[namespace.transfer]\nnotify = [\"ns1:53\"]\n"
        )),
        &[PATH, "namespace.transfer.notify[0]: 'ns1:53'"],
    );
    assert_mentions(
        &error(&format!(
            "{VALID}\n[namespace.transfer]\nsecret = \"c2VjcmV0\"\n"
        )),
        &[PATH, "secret"],
    );
}
