//! A zones file's TOML shapes (`schema.rs`) translated into registry
//! values, checked by the registry's own rules. Errors say where in the file
//! the problem is (`services[1] "db": instances[0] "db-1": …`) and how to
//! fix it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use super::outline::Document;
use super::schema::{
    BatchToml, HeadToml, HealthCheckTypeToml, InstanceToml, NamespaceToml, NamespaceTypeToml,
    RecordKindToml, RecordToml, RoutingPolicyToml, ServiceToml, SoaToml, TransferToml,
};
use super::{ZoneInstance, ZoneService};
use crate::config::{ConfigError, transfer};
use crate::registry::validate::{self, ATTR_CNAME, ATTR_IPV4, ATTR_IPV6, ATTR_PORT};
use crate::registry::{
    CustomHealthCheck, DnsRecord, DnsTemplate, HealthCheckConfig, HealthCheckType, Heartbeat,
    NameServer, NamespaceType, NewNamespace, RecordKind, RegistryError, RoutingPolicy, Service,
    SoaSettings, TransferSettings,
};

/// Lower-cased service names already declared in a file, with the index of
/// their declaration.
pub(super) type Declared = HashMap<String, usize>;

/// Parses and checks a file's head. `has_tables` says whether the file also
/// has `[[services]]` tables, which cannot be mixed with inline services.
pub(super) fn head(
    path: &Path,
    document: &Document,
    has_tables: bool,
    declared: &mut Declared,
) -> Result<(NewNamespace, Vec<ZoneService>), ConfigError> {
    let toml: HeadToml = toml::from_str(&document.text)
        .map_err(|error| ConfigError::invalid(path, document.explain(&error)))?;
    let namespace =
        namespace(toml.namespace).map_err(|message| ConfigError::invalid(path, message))?;
    let inline = match toml.services {
        Some(_) if has_tables => {
            return Err(ConfigError::invalid(
                path,
                "services are given both inline (services = [...]) and as [[services]] tables; TOML allows one form only, so write them all as [[services]] tables",
            ));
        }
        inline => inline.unwrap_or_default(),
    };
    let services = services(path, &namespace, inline, 0, Some(declared))?;
    Ok((namespace, services))
}

/// Parses and checks a batch of `[[services]]` tables, the first of which is
/// the file's `services[first]`. With `declared`, a name declared twice in
/// the file is an error; without, the batch was checked before.
pub(super) fn batch(
    path: &Path,
    document: &Document,
    namespace: &NewNamespace,
    first: usize,
    declared: Option<&mut Declared>,
) -> Result<Vec<ZoneService>, ConfigError> {
    let toml: BatchToml = toml::from_str(&document.text)
        .map_err(|error| ConfigError::invalid(path, document.explain(&error)))?;
    services(path, namespace, toml.services, first, declared)
}

fn services(
    path: &Path,
    namespace: &NewNamespace,
    toml: Vec<ServiceToml>,
    first: usize,
    mut declared: Option<&mut Declared>,
) -> Result<Vec<ZoneService>, ConfigError> {
    let fail = |message: String| ConfigError::invalid(path, message);
    let mut services = Vec::with_capacity(toml.len());
    for (index, service_toml) in (first..).zip(toml) {
        let context = format!("services[{index}] \"{}\"", service_toml.name);
        if let Some(declared) = declared.as_deref_mut()
            && let Some(earlier) = declared.insert(service_toml.name.to_ascii_lowercase(), index)
        {
            return Err(fail(format!(
                "{context} is declared twice in namespace \"{}\" (also services[{earlier}]); merge the two",
                namespace.name
            )));
        }
        let service = service(namespace, service_toml)
            .map_err(|message| fail(format!("{context}: {message}")))?;
        services.push(service);
    }
    Ok(services)
}

/// The whole file parsed as one TOML document, as it was before files were
/// read in batches: what the batches must add up to.
#[cfg(test)]
pub(super) fn parse_whole(path: &Path, text: &str) -> Result<super::ZoneFile, ConfigError> {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ZoneToml {
        namespace: NamespaceToml,
        #[serde(default)]
        services: Vec<ServiceToml>,
    }
    let toml: ZoneToml =
        toml::from_str(text).map_err(|error| ConfigError::invalid(path, error.to_string()))?;
    let namespace =
        namespace(toml.namespace).map_err(|message| ConfigError::invalid(path, message))?;
    let services = services(
        path,
        &namespace,
        toml.services,
        0,
        Some(&mut Declared::new()),
    )?;
    Ok(super::ZoneFile {
        path: path.to_path_buf(),
        namespace,
        services,
    })
}

fn namespace(toml: NamespaceToml) -> Result<NewNamespace, String> {
    let kind = match toml.kind {
        NamespaceTypeToml::DnsPrivate => NamespaceType::DnsPrivate,
        NamespaceTypeToml::DnsPublic => NamespaceType::DnsPublic,
        NamespaceTypeToml::Http => NamespaceType::Http,
    };
    let name = validate::namespace_name(kind, &toml.name).map_err(|error| error.to_string())?;
    let context = format!("namespace \"{name}\"");
    let refused = |error: RegistryError| format!("{context}: {error}");
    validate::description(toml.description.as_deref()).map_err(refused)?;
    validate::tags(&toml.tags).map_err(refused)?;

    // Passed as written: the registry decides what is stored (canonical
    // form; loopback only when a private namespace is given none).
    let allowed_networks = match (kind, toml.allowed_networks) {
        (NamespaceType::DnsPrivate, Some(networks)) => networks
            .iter()
            .enumerate()
            .map(|(index, text)| network(index, text))
            .collect::<Result<Vec<_>, _>>()?,
        (NamespaceType::DnsPrivate, None) => Vec::new(),
        (_, Some(networks)) if !networks.is_empty() => {
            return Err(format!(
                "{context} is {}, which answers everyone; namespace.allowed_networks is only for DNS_PRIVATE namespaces, so remove it or change the type",
                kind.as_str()
            ));
        }
        _ => Vec::new(),
    };

    let soa = match toml.soa {
        Some(_) if kind == NamespaceType::Http => {
            return Err(format!(
                "{context} is an HTTP namespace, which has no DNS zone; remove [namespace.soa]"
            ));
        }
        Some(soa) => soa_settings(soa).map_err(refused)?,
        None => SoaSettings::default(),
    };
    let soa = match toml.name_servers {
        Some(_) if kind == NamespaceType::Http => {
            return Err(format!(
                "{context} is an HTTP namespace, which has no DNS zone; remove namespace.name_servers"
            ));
        }
        Some(servers) => {
            let soa = SoaSettings {
                name_servers: servers
                    .into_iter()
                    .map(|server| NameServer {
                        name: server.name,
                        addresses: server.addresses,
                    })
                    .collect(),
                ..soa
            };
            validate::soa_names(&name, &soa)
                .map_err(|error| format!("{context}: namespace.name_servers: {error}"))?;
            soa
        }
        None => soa,
    };

    let transfer = match toml.transfer {
        Some(_) if kind == NamespaceType::Http => {
            return Err(format!(
                "{context} is an HTTP namespace, which has no DNS zone to transfer; remove [namespace.transfer]"
            ));
        }
        Some(transfer) => transfer_settings(transfer)?,
        None => None,
    };

    Ok(NewNamespace {
        region: None,
        name,
        kind,
        description: toml.description,
        soa,
        allowed_networks,
        transfer,
        creator_request_id: None,
        tags: toml.tags,
    })
}

/// `[namespace.transfer]` as the registry takes it: `None` when nothing is
/// in it. The registry checks the rest (the key is one the server holds).
fn transfer_settings(toml: TransferToml) -> Result<Option<TransferSettings>, String> {
    let (allow, notify) = (toml.allow.as_deref(), toml.notify.as_deref());
    transfer::zone_settings(allow, notify, toml.key).map_err(|bad| match bad {
        transfer::BadEntry::Allow(index, text) => format!(
            "namespace.transfer.allow[{index}]: '{text}' is not an address or network; write \"192.0.2.53\" or \"10.0.0.0/8\""
        ),
        transfer::BadEntry::Notify(index, text) => format!(
            "namespace.transfer.notify[{index}]: '{text}' is not an address; write \"192.0.2.53\", \"192.0.2.53:5300\" or \"[2001:db8::53]:53\""
        ),
    })
}

/// One entry of `allowed_networks`: a CIDR, or a bare address for one host.
fn network(index: usize, text: &str) -> Result<IpNet, String> {
    if let Ok(network) = text.parse::<IpNet>() {
        return Ok(network);
    }
    if let Ok(address) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(address));
    }
    Err(format!(
        "namespace.allowed_networks[{index}]: '{text}' is not a network; write it in CIDR form, like \"10.0.0.0/8\" or \"fd00::/8\""
    ))
}

fn soa_settings(toml: SoaToml) -> Result<SoaSettings, RegistryError> {
    let defaults = SoaSettings::default();
    let soa = SoaSettings {
        ttl: toml.ttl.unwrap_or(defaults.ttl),
        mname: toml.mname,
        name_servers: Vec::new(),
        rname: toml.rname,
        refresh: toml.refresh.unwrap_or(defaults.refresh),
        retry: toml.retry.unwrap_or(defaults.retry),
        expire: toml.expire.unwrap_or(defaults.expire),
        minimum: toml.minimum.unwrap_or(defaults.minimum),
    };
    validate::ttl("namespace.soa.ttl", i64::from(soa.ttl))?;
    if let Some(mname) = &soa.mname {
        validate::dns_name("namespace.soa.mname", mname, false)?;
    }
    if let Some(rname) = &soa.rname {
        validate::dns_name("namespace.soa.rname", rname, false)?;
    }
    Ok(soa)
}

fn service(namespace: &NewNamespace, toml: ServiceToml) -> Result<ZoneService, String> {
    let name = validate::service_name(&toml.name).map_err(|error| error.to_string())?;
    let dns = template(namespace, toml.routing_policy, &toml.records)?;
    if namespace.kind.has_dns() {
        let names_instances = dns.as_ref().is_some_and(|dns| dns.has(RecordKind::Srv));
        validate::service_fqdn_length(&name, &namespace.name, names_instances)
            .map_err(|error| error.to_string())?;
    }
    let health_check = toml.health_check.map(|check| HealthCheckConfig {
        kind: match check.kind {
            HealthCheckTypeToml::Http => HealthCheckType::Http,
            HealthCheckTypeToml::Https => HealthCheckType::Https,
            HealthCheckTypeToml::Tcp => HealthCheckType::Tcp,
        },
        resource_path: check.path,
        failure_threshold: check.failure_threshold,
    });
    let custom_health_check = toml.custom_health_check.map(|custom| CustomHealthCheck {
        failure_threshold: custom.failure_threshold,
    });

    let heartbeat = toml
        .heartbeat
        .map(|config| -> Result<Heartbeat, String> {
            Ok(Heartbeat {
                ttl_ms: validate::seconds_to_millis("heartbeat.ttl_secs", config.ttl_secs)
                    .map_err(|error| error.to_string())?,
                deregister_after_ms: config
                    .deregister_after_secs
                    .map(|secs| {
                        validate::seconds_to_millis("heartbeat.deregister_after_secs", secs)
                    })
                    .transpose()
                    .map_err(|error| error.to_string())?,
            })
        })
        .transpose()?;

    // The value the registry will hold, so its own checks can run now.
    let checked = Service {
        region: None,
        attributes: Default::default(),
        id: String::new(),
        namespace_id: String::new(),
        name,
        description: toml.description,
        dns,
        health_check,
        custom_health_check,
        heartbeat,
        creator_request_id: None,
        created_at: 0,
        tags: toml.tags,
        revision: 0,
        instance_count: 0,
    };
    validate::service(&checked).map_err(|error| error.to_string())?;

    let mut instances = Vec::with_capacity(toml.instances.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, declared) in toml.instances.into_iter().enumerate() {
        let context = format!("instances[{index}] \"{}\"", declared.id);
        if let Some(first) = seen.insert(declared.id.to_ascii_lowercase(), index) {
            return Err(format!(
                "{context} is declared twice (also instances[{first}]); instance ids are unique within a service, ignoring case"
            ));
        }
        let instance =
            instance(&checked, declared).map_err(|message| format!("{context}: {message}"))?;
        instances.push(instance);
    }

    Ok(ZoneService {
        name: checked.name,
        description: checked.description,
        dns: checked.dns,
        health_check: checked.health_check,
        custom_health_check: checked.custom_health_check,
        heartbeat: checked.heartbeat,
        tags: checked.tags,
        instances,
    })
}

/// The service's DNS template: none for an API-only service, which only an
/// HTTP namespace may have (and all it may have).
fn template(
    namespace: &NewNamespace,
    policy: Option<RoutingPolicyToml>,
    records: &[RecordToml],
) -> Result<Option<DnsTemplate>, String> {
    if !namespace.kind.has_dns() {
        if !records.is_empty() || policy.is_some() {
            return Err(format!(
                "namespace \"{}\" is HTTP, so its services are found through the API only; remove records and routing_policy",
                namespace.name
            ));
        }
        return Ok(None);
    }
    if records.is_empty() {
        return Err(format!(
            "namespace \"{}\" is {}, so the service needs DNS records, e.g. records = [{{ type = \"A\", ttl = 60 }}]",
            namespace.name,
            namespace.kind.as_str()
        ));
    }
    let records: Vec<DnsRecord> = records
        .iter()
        .map(|record| DnsRecord {
            kind: match record.kind {
                RecordKindToml::A => RecordKind::A,
                RecordKindToml::Aaaa => RecordKind::Aaaa,
                RecordKindToml::Srv => RecordKind::Srv,
                RecordKindToml::Cname => RecordKind::Cname,
            },
            ttl: record.ttl,
        })
        .collect();
    // A CNAME service may only be WEIGHTED, so that is its default.
    let cname_only = matches!(
        records.as_slice(),
        [DnsRecord {
            kind: RecordKind::Cname,
            ..
        }]
    );
    let routing_policy = match policy {
        Some(RoutingPolicyToml::Multivalue) => RoutingPolicy::Multivalue,
        Some(RoutingPolicyToml::Weighted) => RoutingPolicy::Weighted,
        None if cname_only => RoutingPolicy::Weighted,
        None => RoutingPolicy::Multivalue,
    };
    Ok(Some(DnsTemplate {
        routing_policy,
        records,
    }))
}

/// The zones file's names for the reserved attributes.
const RESERVED_KEYS: [(&str, &str); 4] = [
    ("ipv4", ATTR_IPV4),
    ("ipv6", ATTR_IPV6),
    ("port", ATTR_PORT),
    ("cname", ATTR_CNAME),
];

fn instance(service: &Service, toml: InstanceToml) -> Result<ZoneInstance, String> {
    let mut attributes = toml.attributes;
    let given = [
        toml.ipv4.map(|address| address.to_string()),
        toml.ipv6.map(|address| address.to_string()),
        toml.port.map(|port| port.to_string()),
        toml.cname,
    ];
    for ((key, attribute), value) in RESERVED_KEYS.into_iter().zip(given) {
        let Some(value) = value else { continue };
        if attributes.contains_key(attribute) {
            return Err(format!(
                "{attribute} is given twice, as `{key}` and in attributes; keep `{key}`"
            ));
        }
        attributes.insert(attribute.to_string(), value);
    }
    validate::instance_id(&toml.id, service).map_err(|error| error.to_string())?;
    validate::endpoint(&attributes, service).map_err(|error| with_key_hint(error.to_string()))?;
    Ok(ZoneInstance {
        id: toml.id,
        attributes,
    })
}

/// The registry speaks of `AWS_INSTANCE_IPV4`; a zones file calls it `ipv4`.
/// Says so when the registry asks for one of them.
fn with_key_hint(message: String) -> String {
    let Some((_, needed)) = message.split_once(" needs ") else {
        return message;
    };
    let keys: Vec<String> = RESERVED_KEYS
        .iter()
        .filter(|(_, attribute)| needed.contains(attribute))
        .map(|(key, _)| format!("`{key}`"))
        .collect();
    if keys.is_empty() {
        return message;
    }
    format!("{message}; set the instance's {}", keys.join(" or "))
}
