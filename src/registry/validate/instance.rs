//! An instance's id and attributes, and what its service's template needs
//! of them.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::names::check_label;
use super::{dns_name, invalid};
use crate::registry::attributes::{
    ATTR_CNAME, ATTR_INIT_HEALTH, ATTR_IPV4, ATTR_IPV6, ATTR_PORT, ATTR_WEIGHT,
};
use crate::registry::error::Result;
use crate::registry::model::{Endpoint, HealthStatus, RecordKind, Service};

const MAX_INSTANCE_ID: usize = 64;
const MAX_ATTRIBUTE_KEY: usize = 255;
const MAX_ATTRIBUTE_VALUE: usize = 1024;
const MAX_CUSTOM_ATTRIBUTES: usize = 30;
const MAX_ATTRIBUTES_TOTAL: usize = 5000;
const MAX_WEIGHT: u32 = 1_000_000;

const RESERVED: [&str; 7] = [
    ATTR_IPV4,
    ATTR_IPV6,
    ATTR_PORT,
    ATTR_CNAME,
    ATTR_INIT_HEALTH,
    "AWS_ALIAS_DNS_NAME",
    "AWS_EC2_INSTANCE_ID",
];

/// Checks an instance id. Where the id becomes a DNS label (services with SRV
/// records name their targets `<id>.<service>.<namespace>`), it must be one.
pub fn instance_id(id: &str, service: &Service) -> Result<()> {
    if id.is_empty() || id.len() > MAX_INSTANCE_ID {
        return Err(invalid(format!(
            "InstanceId must be 1 to {MAX_INSTANCE_ID} characters"
        )));
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || "_/:.@-".contains(c);
    if let Some(bad) = id.chars().find(|c| !legal(*c)) {
        return Err(invalid(format!(
            "InstanceId '{id}' contains '{bad}'; use letters, digits and _/:.@-"
        )));
    }
    let names_target = service
        .dns
        .as_ref()
        .is_some_and(|dns| dns.has(RecordKind::Srv));
    if names_target {
        check_label(id, false).map_err(|why| {
            invalid(format!(
                "InstanceId '{id}' {why}; in a service with SRV records it names the target host <id>.{}",
                service.name
            ))
        })?;
    }
    Ok(())
}

fn attribute_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_ATTRIBUTE_KEY || !key.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(invalid(format!(
            "attribute key '{key}' must be 1 to {MAX_ATTRIBUTE_KEY} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

fn attribute_value(key: &str, value: &str) -> Result<()> {
    let legal = |c: char| c.is_ascii_graphic() || c == ' ' || c == '\t';
    if value.len() > MAX_ATTRIBUTE_VALUE
        || !value.chars().all(legal)
        || value.starts_with([' ', '\t'])
    {
        return Err(invalid(format!(
            "attribute '{key}' must be at most {MAX_ATTRIBUTE_VALUE} printable ASCII characters, not starting with a space"
        )));
    }
    Ok(())
}

/// Whether `text` is a number written the one way: decimal digits, no
/// sign, no leading zero except in "0" itself. Rust's integer parsers also
/// take "+80" and "080"; Cloud Map stores attributes as sent, so accepting
/// those would store (and GetInstance return) "+80" while DNS serves 80.
fn is_canonical_decimal(text: &str) -> bool {
    match text.as_bytes() {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        digits => digits.iter().all(u8::is_ascii_digit),
    }
}

/// A reserved attribute holding a whole number (the port, the weight),
/// refused unless written in canonical decimal.
fn parse_number<T: std::str::FromStr>(
    attributes: &BTreeMap<String, String>,
    key: &str,
    expected: &str,
) -> Result<Option<T>> {
    match attributes.get(key) {
        Some(value) if !is_canonical_decimal(value) => Err(invalid(format!(
            "{key} '{value}' is not {expected} written in decimal digits, without a sign or leading zeros"
        ))),
        _ => parse_reserved(attributes, key, expected),
    }
}

fn parse_reserved<T: std::str::FromStr>(
    attributes: &BTreeMap<String, String>,
    key: &str,
    expected: &str,
) -> Result<Option<T>> {
    attributes
        .get(key)
        .map(|value| {
            value
                .parse()
                .map_err(|_| invalid(format!("{key} '{value}' is not {expected}")))
        })
        .transpose()
}

/// Checks an instance's attributes against Cloud Map's limits and its
/// service's template, and parses what DNS needs out of them.
pub fn endpoint(attributes: &BTreeMap<String, String>, service: &Service) -> Result<Endpoint> {
    let mut custom = 0;
    let mut total = 0;
    for (key, value) in attributes {
        attribute_key(key)?;
        attribute_value(key, value)?;
        total += key.len() + value.len();
        if !RESERVED.contains(&key.as_str()) {
            custom += 1;
        }
    }
    if custom > MAX_CUSTOM_ATTRIBUTES {
        return Err(invalid(format!(
            "an instance may carry at most {MAX_CUSTOM_ATTRIBUTES} custom attributes, got {custom}"
        )));
    }
    if total > MAX_ATTRIBUTES_TOTAL {
        return Err(invalid(format!(
            "attributes total {total} characters; the limit is {MAX_ATTRIBUTES_TOTAL}"
        )));
    }
    for unsupported in ["AWS_ALIAS_DNS_NAME", "AWS_EC2_INSTANCE_ID"] {
        if attributes.contains_key(unsupported) {
            return Err(invalid(format!(
                "{unsupported} names an AWS resource; cairn does not support it"
            )));
        }
    }
    let ipv4: Option<Ipv4Addr> = parse_reserved(attributes, ATTR_IPV4, "an IPv4 address")?;
    let ipv6: Option<Ipv6Addr> = parse_reserved(attributes, ATTR_IPV6, "an IPv6 address")?;
    let port: Option<u16> = parse_number(attributes, ATTR_PORT, "a port from 0 to 65535")?;
    let cname = attributes
        .get(ATTR_CNAME)
        .map(|name| dns_name(ATTR_CNAME, name, false))
        .transpose()?;
    initial_health(attributes)?;
    let weight = match parse_number::<u32>(attributes, ATTR_WEIGHT, "a whole number")? {
        Some(weight) if weight > MAX_WEIGHT => {
            return Err(invalid(format!(
                "{ATTR_WEIGHT} must be 0 to {MAX_WEIGHT}, got {weight}"
            )));
        }
        Some(weight) => weight,
        None => 1,
    };

    if let Some(dns) = &service.dns {
        let needs = |kind| dns.has(kind);
        // A+AAAA takes either address or both, as Cloud Map does; a single
        // address type needs its own.
        let missing = match (needs(RecordKind::A), needs(RecordKind::Aaaa)) {
            (true, true) if ipv4.is_none() && ipv6.is_none() => Some((
                "A and AAAA",
                format!("{ATTR_IPV4} or {ATTR_IPV6} (or both)"),
            )),
            (true, false) if ipv4.is_none() => Some(("A", ATTR_IPV4.to_string())),
            (false, true) if ipv6.is_none() => Some(("AAAA", ATTR_IPV6.to_string())),
            _ => None,
        };
        if let Some((kinds, attribute)) = missing {
            return Err(invalid(format!(
                "service '{}' has {kinds} records, so the instance needs {attribute}",
                service.name
            )));
        }
        if needs(RecordKind::Srv) {
            if port.is_none() {
                return Err(invalid(format!(
                    "service '{}' has SRV records, so the instance needs {ATTR_PORT}",
                    service.name
                )));
            }
            if ipv4.is_none() && ipv6.is_none() {
                return Err(invalid(format!(
                    "service '{}' has SRV records, so the instance needs {ATTR_IPV4} or {ATTR_IPV6} for its target host",
                    service.name
                )));
            }
        }
        if needs(RecordKind::Cname) && cname.is_none() {
            return Err(invalid(format!(
                "service '{}' has CNAME records, so the instance needs {ATTR_CNAME}",
                service.name
            )));
        }
    }
    if service.health_check.is_some() && port.is_none() {
        return Err(invalid(format!(
            "service '{}' has a health check, so the instance needs {ATTR_PORT} to probe",
            service.name
        )));
    }
    Ok(Endpoint {
        ipv4,
        ipv6,
        port,
        cname: cname.map(String::into_boxed_str),
        weight,
    })
}

/// Parses `AWS_INIT_HEALTH_STATUS`, if given. Only a service with a custom
/// health check starts instances with it (see `Registry::register_instance`);
/// elsewhere instances start UNKNOWN.
pub fn initial_health(attributes: &BTreeMap<String, String>) -> Result<Option<HealthStatus>> {
    match attributes.get(ATTR_INIT_HEALTH).map(String::as_str) {
        None => Ok(None),
        Some("HEALTHY") => Ok(Some(HealthStatus::Healthy)),
        Some("UNHEALTHY") => Ok(Some(HealthStatus::Unhealthy)),
        Some(other) => Err(invalid(format!(
            "{ATTR_INIT_HEALTH} must be HEALTHY or UNHEALTHY, got '{other}'"
        ))),
    }
}
