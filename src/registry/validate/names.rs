//! DNS names: labels, whole names, and the names cairn builds from them.

use super::invalid;
use crate::registry::error::Result;
use crate::registry::model::{NamespaceType, SoaSettings};

pub(super) const MAX_DNS_NAME: usize = 253;
const MAX_LABEL: usize = 63;
const MAX_SERVICE_NAME: usize = 127;
const MAX_HTTP_NAMESPACE_NAME: usize = 1024;

/// Checks one DNS label. `strict` is the hostname rule (letters, digits,
/// hyphens); otherwise underscores are allowed too, as service names like
/// `_web._tcp` need.
pub(super) fn check_label(label: &str, strict: bool) -> std::result::Result<(), String> {
    if label.is_empty() {
        return Err("has an empty label (two dots in a row, or a leading dot)".into());
    }
    if label.len() > MAX_LABEL {
        return Err(format!("has a label longer than {MAX_LABEL} characters"));
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || c == '-' || (!strict && c == '_');
    if let Some(bad) = label.chars().find(|c| !legal(*c)) {
        let allowed = if strict {
            "letters, digits and '-'"
        } else {
            "letters, digits, '-' and '_'"
        };
        return Err(format!("contains '{bad}'; labels may hold only {allowed}"));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label '{label}' starts or ends with '-'"));
    }
    Ok(())
}

/// Checks a dotted DNS name and returns it without a trailing dot.
pub fn dns_name(what: &str, name: &str, strict: bool) -> Result<String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(invalid(format!("{what} must not be empty")));
    }
    if trimmed.len() > MAX_DNS_NAME {
        return Err(invalid(format!(
            "{what} '{name}' is longer than {MAX_DNS_NAME} characters"
        )));
    }
    for label in trimmed.split('.') {
        check_label(label, strict).map_err(|why| invalid(format!("{what} '{name}' {why}")))?;
    }
    Ok(trimmed.to_string())
}

/// Checks a namespace name for its type and returns its canonical spelling.
pub fn namespace_name(kind: NamespaceType, name: &str) -> Result<String> {
    match kind {
        NamespaceType::Http => {
            let printable = |c: char| c.is_ascii_graphic();
            if name.is_empty() || name.len() > MAX_HTTP_NAMESPACE_NAME {
                return Err(invalid(format!(
                    "namespace name must be 1 to {MAX_HTTP_NAMESPACE_NAME} characters"
                )));
            }
            if !name.chars().all(printable) || name.starts_with("arn:") {
                return Err(invalid(format!(
                    "namespace name '{name}' must be printable ASCII without spaces and must not start with 'arn:'"
                )));
            }
            Ok(name.to_string())
        }
        NamespaceType::DnsPublic => dns_name("namespace name", name, true),
        NamespaceType::DnsPrivate => dns_name("namespace name", name, false),
    }
}

/// Checks a service name: dot-separated labels of letters, digits, '-' and
/// '_', at most 127 characters, so `_web._tcp` is legal.
pub fn service_name(name: &str) -> Result<String> {
    if name.is_empty() || name.len() > MAX_SERVICE_NAME {
        return Err(invalid(format!(
            "service name must be 1 to {MAX_SERVICE_NAME} characters, got {}",
            name.len()
        )));
    }
    if name.ends_with('.') {
        return Err(invalid(format!(
            "service name '{name}' must not end with '.'; it is relative to its namespace"
        )));
    }
    dns_name("service name", name, false)
}

/// Checks that a zone's SOA names are DNS names, the defaults built from
/// the zone's own name included: a zone whose name leaves no room for
/// `hostmaster.` could never be served. DNS builds the names with the same
/// [`SoaSettings`] methods, so what passes here compiles there.
pub fn soa_names(zone: &str, soa: &SoaSettings) -> Result<()> {
    for (what, name, default) in [
        ("SOA mname", soa.mname_for(zone), soa.mname.is_none()),
        ("SOA rname", soa.rname_for(zone), soa.rname.is_none()),
    ] {
        dns_name(what, &name, false).map_err(|error| {
            if default {
                invalid(format!(
                    "namespace '{zone}' is too long for its default {what} '{name}' to be a DNS name ({MAX_DNS_NAME} characters at most); choose a shorter name or set the {what}"
                ))
            } else {
                error
            }
        })?;
    }
    name_servers(zone, soa)
}

/// At most this many NS records per zone.
pub const MAX_NAME_SERVERS: usize = 8;
/// At most this many addresses per name server.
pub const MAX_NAME_SERVER_ADDRESSES: usize = 8;

/// Checks a zone's name servers: DNS names, at most
/// [`MAX_NAME_SERVERS`], each in the zone with the addresses cairn answers
/// for it, or outside it with none (its own zone answers for it).
fn name_servers(zone: &str, soa: &SoaSettings) -> Result<()> {
    if soa.name_servers.len() > MAX_NAME_SERVERS {
        return Err(invalid(format!(
            "namespace '{zone}' lists {} name servers; at most {MAX_NAME_SERVERS}",
            soa.name_servers.len()
        )));
    }
    let zone_lower = zone.to_ascii_lowercase();
    for server in &soa.name_servers {
        let name = server.name.trim_end_matches('.');
        dns_name("name server", name, false)?;
        let lower = name.to_ascii_lowercase();
        let in_zone = lower
            .strip_suffix(&zone_lower)
            .is_some_and(|rest| rest.ends_with('.'));
        if lower == zone_lower {
            return Err(invalid(format!(
                "name server '{name}' is the zone's apex; name a host such as 'ns1.{zone}'"
            )));
        }
        if server.addresses.len() > MAX_NAME_SERVER_ADDRESSES {
            return Err(invalid(format!(
                "name server '{name}' has {} addresses; at most {MAX_NAME_SERVER_ADDRESSES}",
                server.addresses.len()
            )));
        }
        match (in_zone, server.addresses.is_empty()) {
            (true, true) => {
                return Err(invalid(format!(
                    "name server '{name}' is in zone '{zone}' but has no addresses, so it would not resolve; give its addresses"
                )));
            }
            (false, false) => {
                return Err(invalid(format!(
                    "name server '{name}' is outside zone '{zone}', whose addresses its own zone answers; remove its addresses"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks that a service's full DNS name `<service>.<zone>` fits in a DNS
/// name. A service whose records name its instances (`<id>.<service>.<zone>`,
/// the targets of SRV records) must leave room for at least a one-character
/// id below it, or it could never serve an instance.
pub fn service_fqdn_length(service: &str, zone: &str, names_instances: bool) -> Result<()> {
    let total = service.len() + 1 + zone.len();
    let room = if names_instances { "a." } else { "" };
    if room.len() + total > MAX_DNS_NAME {
        let why = if names_instances {
            format!(
                "with its instances' host names '<id>.{service}.{zone}', it leaves no room within {MAX_DNS_NAME} characters"
            )
        } else {
            format!("it is longer than {MAX_DNS_NAME} characters")
        };
        return Err(invalid(format!(
            "'{service}.{zone}' cannot be served: {why}; choose a shorter service name"
        )));
    }
    Ok(())
}

/// Checks that an instance's host name `<id>.<service>.<zone>` (the target
/// of its SRV record) fits in a DNS name.
pub fn instance_host_length(id: &str, service: &str, zone: &str) -> Result<()> {
    let total = id.len() + 1 + service.len() + 1 + zone.len();
    if total > MAX_DNS_NAME {
        return Err(invalid(format!(
            "InstanceId '{id}' is too long for this service: its host name '{id}.{service}.{zone}' would be {total} characters, and a DNS name holds at most {MAX_DNS_NAME}; use an id of at most {} characters",
            MAX_DNS_NAME.saturating_sub(service.len() + zone.len() + 2)
        )));
    }
    Ok(())
}
