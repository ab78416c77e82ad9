//! A container's `cairn.*` labels, read into what it asks to be: which
//! service, under which instance id, at which address and port, with which
//! attributes. Every mistake is a [`LabelError`] that names the label and
//! the fix; nothing here talks to Docker or cairn.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use crate::admin::api::{Attributes, RecordType};

/// The label that opts a container in: `SERVICE.NAMESPACE`.
pub const SERVICE: &str = "cairn.service";
/// The instance id (default: the container's name).
pub const INSTANCE: &str = "cairn.instance";
/// The port (default: the container's only exposed port).
pub const PORT: &str = "cairn.port";
/// Which network's address, when the container is on several.
pub const NETWORK: &str = "cairn.network";
/// `cairn.attr.<key>=<value>`: an attribute of the instance.
pub const ATTR_PREFIX: &str = "cairn.attr.";
/// The health the instance starts with (`HEALTHY`/`UNHEALTHY`), for a
/// service with a custom health check.
pub const HEALTH: &str = "cairn.health";
/// `cairn.create-service=A+SRV` (record types joined by `+`, optionally
/// `@TTL`): create the service when it does not exist.
pub const CREATE_SERVICE: &str = "cairn.create-service";

/// The attribute naming the host whose agent registered an instance: the
/// agent touches no instance without its own host here.
pub const OWNER_ATTR: &str = "cairn.agent";
/// The attribute naming the container an instance stands for.
pub const CONTAINER_ATTR: &str = "cairn.container";

const KNOWN: &[&str] = &[SERVICE, INSTANCE, PORT, NETWORK, HEALTH, CREATE_SERVICE];

/// What Docker says of a container's HEALTHCHECK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DockerHealth {
    Starting,
    Healthy,
    Unhealthy,
}

/// One network's addresses of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAddress {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}

/// A container as the agent needs it, read from Docker (`docker.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Running and not paused.
    pub running: bool,
    /// `None` when the container has no HEALTHCHECK.
    pub health: Option<DockerHealth>,
    pub networks: BTreeMap<String, NetworkAddress>,
    /// The exposed ports (`80/tcp`), published ones included.
    pub exposed_ports: Vec<String>,
}

impl Container {
    /// The first 12 characters of the id, as `docker ps` shows it.
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }
}

/// A service the agent may create, from `cairn.create-service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTemplate {
    pub records: Vec<RecordType>,
    pub ttl: u32,
}

/// What a container's labels ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// `SERVICE.NAMESPACE` as labelled.
    pub service: String,
    pub instance_id: String,
    pub address: NetworkAddress,
    pub port: Option<u16>,
    /// The `cairn.attr.*` attributes and the initial health.
    pub attributes: Attributes,
    pub create: Option<ServiceTemplate>,
}

impl Desired {
    /// The attributes to register: address, port, the labelled ones, and
    /// the owner marks.
    pub fn registration(&self, host: &str, container: &Container) -> Attributes {
        let mut attributes = self.attributes.clone();
        if let Some(ipv4) = self.address.ipv4 {
            attributes.insert("AWS_INSTANCE_IPV4".to_string(), ipv4.to_string());
        }
        if let Some(ipv6) = self.address.ipv6 {
            attributes.insert("AWS_INSTANCE_IPV6".to_string(), ipv6.to_string());
        }
        if let Some(port) = self.port {
            attributes.insert("AWS_INSTANCE_PORT".to_string(), port.to_string());
        }
        attributes.insert(OWNER_ATTR.to_string(), host.to_string());
        attributes.insert(CONTAINER_ATTR.to_string(), container.short_id().to_string());
        attributes
    }
}

/// Why a container's labels cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LabelError {
    #[error("label {SERVICE}='{0}' is not SERVICE.NAMESPACE (e.g. web.svc.internal)")]
    Service(String),
    #[error("label {PORT}='{0}' is not a port number (1-65535)")]
    Port(String),
    #[error(
        "no {PORT} label, and the container exposes {0} ports; label it {PORT}=<port> (or expose one port)"
    )]
    AmbiguousPort(usize),
    #[error("label {NETWORK}='{0}': the container is not on that network (it is on: {1})")]
    UnknownNetwork(String, String),
    #[error("the container is on networks {0}; label it {NETWORK}=<one of them>")]
    AmbiguousNetwork(String),
    #[error("the container has no IP address on {0} (host or none network?)")]
    NoAddress(String),
    #[error("label {HEALTH}='{0}' is not HEALTHY or UNHEALTHY")]
    Health(String),
    #[error("label {CREATE_SERVICE}='{0}': {1}")]
    Template(String, String),
    #[error("label {ATTR_PREFIX}{0}: {1}")]
    Attribute(String, String),
    #[error("unknown label {0}; the agent reads {known} and {ATTR_PREFIX}<key>", known = KNOWN.join(", "))]
    Unknown(String),
}

/// The container's registration, `None` when it has no `cairn.service`
/// label (not the agent's business).
pub fn parse(container: &Container) -> Result<Option<Desired>, LabelError> {
    let labels = &container.labels;
    let Some(service) = labels.get(SERVICE) else {
        return Ok(None);
    };
    let service = service.trim().trim_end_matches('.');
    let valid_service = service
        .split_once('.')
        .is_some_and(|(name, namespace)| !name.is_empty() && !namespace.is_empty())
        && !service.contains(char::is_whitespace);
    if !valid_service {
        return Err(LabelError::Service(service.to_string()));
    }
    let mut attributes = Attributes::new();
    for (key, value) in labels {
        if let Some(attribute) = key.strip_prefix(ATTR_PREFIX) {
            if attribute.is_empty() {
                return Err(LabelError::Attribute(
                    String::new(),
                    "the attribute name is empty".to_string(),
                ));
            }
            if attribute == OWNER_ATTR || attribute == CONTAINER_ATTR {
                return Err(LabelError::Attribute(
                    attribute.to_string(),
                    "the agent sets this attribute itself".to_string(),
                ));
            }
            attributes.insert(attribute.to_string(), value.clone());
        } else if key.starts_with("cairn.") && !KNOWN.contains(&key.as_str()) {
            return Err(LabelError::Unknown(key.clone()));
        }
    }
    if let Some(health) = labels.get(HEALTH) {
        let health = health.trim().to_ascii_uppercase();
        if health != "HEALTHY" && health != "UNHEALTHY" {
            return Err(LabelError::Health(health));
        }
        attributes.insert("AWS_INIT_HEALTH_STATUS".to_string(), health);
    }
    let instance_id = labels
        .get(INSTANCE)
        .map_or_else(|| container.name.clone(), |id| id.trim().to_string());
    Ok(Some(Desired {
        service: service.to_string(),
        instance_id,
        address: address(container)?,
        port: port(container)?,
        attributes,
        create: labels
            .get(CREATE_SERVICE)
            .map(|t| template(t))
            .transpose()?,
    }))
}

fn address(container: &Container) -> Result<NetworkAddress, LabelError> {
    let names = || {
        container
            .networks
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (name, address) = match container.labels.get(NETWORK) {
        Some(wanted) => container
            .networks
            .get_key_value(wanted.trim())
            .ok_or_else(|| LabelError::UnknownNetwork(wanted.clone(), names()))?,
        None => {
            let mut with_address = container
                .networks
                .iter()
                .filter(|(_, address)| address.ipv4.is_some() || address.ipv6.is_some());
            match (with_address.next(), with_address.next()) {
                (Some(only), None) => only,
                (Some(_), Some(_)) => return Err(LabelError::AmbiguousNetwork(names())),
                (None, _) => {
                    let name = if container.networks.is_empty() {
                        "any network".to_string()
                    } else {
                        names()
                    };
                    return Err(LabelError::NoAddress(name));
                }
            }
        }
    };
    if address.ipv4.is_none() && address.ipv6.is_none() {
        return Err(LabelError::NoAddress(name.clone()));
    }
    Ok(address.clone())
}

fn port(container: &Container) -> Result<Option<u16>, LabelError> {
    if let Some(text) = container.labels.get(PORT) {
        return match text.trim().parse::<u16>() {
            Ok(port) if port > 0 => Ok(Some(port)),
            _ => Err(LabelError::Port(text.clone())),
        };
    }
    match container.exposed_ports.as_slice() {
        [] => Ok(None),
        [only] => {
            let number = only.split('/').next().unwrap_or(only);
            number
                .parse::<u16>()
                .ok()
                .filter(|port| *port > 0)
                .map(Some)
                .ok_or_else(|| LabelError::Port(only.clone()))
        }
        several => Err(LabelError::AmbiguousPort(several.len())),
    }
}

/// `A+SRV`, `A+SRV@30`: record types and a TTL (default 10 s); `true`
/// is `A+SRV`.
fn template(text: &str) -> Result<ServiceTemplate, LabelError> {
    let fail = |why: &str| LabelError::Template(text.to_string(), why.to_string());
    let (types, ttl) = match text.trim().split_once('@') {
        Some((types, ttl)) => (
            types,
            ttl.parse::<u32>()
                .map_err(|_| fail("the TTL after @ is not a number of seconds"))?,
        ),
        None => (text.trim(), 10),
    };
    if types.eq_ignore_ascii_case("true") {
        return Ok(ServiceTemplate {
            records: vec![RecordType::A, RecordType::Srv],
            ttl,
        });
    }
    let mut records = Vec::new();
    for kind in types.split(['+', ',']) {
        let kind = match kind.trim().to_ascii_uppercase().as_str() {
            "A" => RecordType::A,
            "AAAA" => RecordType::Aaaa,
            "SRV" => RecordType::Srv,
            _ => return Err(fail("expected record types A, AAAA, SRV joined by +")),
        };
        if records.contains(&kind) {
            return Err(fail("a record type is named twice"));
        }
        records.push(kind);
    }
    Ok(ServiceTemplate { records, ttl })
}

#[cfg(test)]
mod tests;
