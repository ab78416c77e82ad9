//! The declarative `zones/` directory: one TOML file per namespace, its
//! services and their static instances, applied to the registry when
//! `cairn serve` starts.
//!
//! Every file is read and checked first — against the registry's own
//! validation rules, and for names declared twice — so a mistake in any
//! file stops start-up before anything is applied. Applying is idempotent:
//! a namespace, service or instance that exists already (restored from the
//! store, or created by an earlier start) is brought in line with its
//! declaration instead of being created twice, and left alone when it
//! matches; instances registered at run time are never touched. Changes go
//! through the registry's [`Writer`], so they are durable like any other.
//! The registry stays the only judge of what is valid: this module
//! translates TOML into registry calls and asks `registry::validate` ahead
//! of time, it never re-implements a rule.
//!
//! A file is never parsed whole: a tree of it would take ~40 times its size
//! (gigabytes for a million instances). It is outlined, then its services
//! are parsed and checked a batch at a time, and read and parsed again, a
//! batch at a time, to be applied (`outline.rs`, `source.rs`). The TOML
//! shapes are in `schema.rs`; their translation into registry values in
//! `translate.rs`.
//!
//! This module reads files and knows nothing of DNS or sockets.

mod outline;
mod schema;
mod source;
mod translate;

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};

use source::ZoneSource;

use super::ConfigError;
use crate::registry::{
    CustomHealthCheck, DnsTemplate, HealthCheckConfig, Heartbeat, InstanceRegistration, Namespace,
    NamespaceType, NamespaceUpdate, NewNamespace, NewService, RegistryError, Service,
    ServiceUpdate, Tags, Writer,
};

/// What [`load_zones`] applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZonesLoaded {
    /// Zones files read (one namespace each).
    pub files: usize,
    /// Namespaces, services and instances declared (created, updated or
    /// already as declared).
    pub namespaces: usize,
    pub services: usize,
    pub instances: usize,
}

/// One zones file, checked: the namespace it declares and what goes in it,
/// ready to be applied.
#[derive(Debug, Clone)]
pub struct ZoneFile {
    /// Where it came from; named in every error about it.
    pub path: PathBuf,
    pub namespace: NewNamespace,
    pub services: Vec<ZoneService>,
}

/// A service declared in a zones file.
#[derive(Debug, Clone)]
pub struct ZoneService {
    pub name: String,
    pub description: Option<String>,
    /// `None` for an API-only service (HTTP namespaces).
    pub dns: Option<DnsTemplate>,
    pub health_check: Option<HealthCheckConfig>,
    pub custom_health_check: Option<CustomHealthCheck>,
    pub heartbeat: Option<Heartbeat>,
    pub tags: Tags,
    pub instances: Vec<ZoneInstance>,
}

/// A static instance declared in a zones file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInstance {
    pub id: String,
    /// Every attribute, the reserved `AWS_INSTANCE_*` ones included.
    pub attributes: BTreeMap<String, String>,
}

/// Reads and checks one zones file's text; `path` is only named in errors.
/// Everything that can be checked without the other files and the registry
/// is checked here, so a `ZoneFile` fails to apply only when its namespace
/// exists already.
pub fn parse_zone_file(path: &Path, text: &str) -> Result<ZoneFile, ConfigError> {
    let source = ZoneSource::check(path, Cursor::new(text))?;
    let mut services = Vec::new();
    for batch in source.services(Cursor::new(text)) {
        services.extend(batch?.1);
    }
    Ok(ZoneFile {
        path: source.path,
        namespace: source.namespace,
        services,
    })
}

/// Applies every `*.toml` file in `dir` (in file-name order; hidden files are
/// skipped, as a shell glob would) through `writer`. A missing or unreadable
/// directory is an error naming it; whether that matters is the caller's
/// call. Nothing is applied unless every file is valid.
///
/// A file is read three times — outlined, checked, then applied a batch of
/// services at a time — so that memory follows the batch, not the file.
pub async fn load_zones(dir: &Path, writer: &Writer) -> Result<ZonesLoaded, ConfigError> {
    let files = zone_paths(dir)?
        .iter()
        .map(|path| ZoneSource::open(path))
        .collect::<Result<Vec<_>, _>>()?;
    check_unique_namespaces(&files)?;

    let mut loaded = ZonesLoaded {
        files: files.len(),
        ..ZonesLoaded::default()
    };
    for file in &files {
        let namespace = apply_namespace(file, writer).await?;
        loaded.namespaces += 1;
        for batch in file.services(file.reopen()?) {
            let (first, services) = batch?;
            apply_services(file, &namespace, first, services, writer, &mut loaded).await?;
        }
        tracing::debug!(file = %file.path.display(), namespace = %file.namespace.name, "zone file applied");
    }
    Ok(loaded)
}

/// The `*.toml` files directly in `dir`, sorted by file name.
fn zone_paths(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        if name.starts_with('.') || !name.ends_with(".toml") {
            continue;
        }
        // Follows symlinks, so a file linked in from elsewhere counts.
        let is_file = std::fs::metadata(&path)
            .map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?
            .is_file();
        if is_file {
            paths.push(path);
        }
    }
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(paths)
}

/// A namespace may be declared by one file only.
fn check_unique_namespaces(files: &[ZoneSource]) -> Result<(), ConfigError> {
    let mut seen: HashMap<String, &Path> = HashMap::new();
    for file in files {
        let name = &file.namespace.name;
        if let Some(first) = seen.insert(name.to_ascii_lowercase(), &file.path) {
            return Err(ConfigError::invalid(
                &file.path,
                format!(
                    "namespace \"{name}\" is declared twice (also in {}); keep one of the two files",
                    first.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Creates the file's namespace, or brings the one that exists in line.
async fn apply_namespace(file: &ZoneSource, writer: &Writer) -> Result<Namespace, ConfigError> {
    let declared = &file.namespace;
    let refused = |error: RegistryError| {
        ConfigError::invalid(
            &file.path,
            format!("namespace \"{}\": {error}", declared.name),
        )
    };
    let Some(existing) = writer.registry().namespace_by_name(&declared.name) else {
        let (namespace, _) = writer
            .create_namespace(declared.clone())
            .await
            .map_err(refused)?;
        return Ok(namespace);
    };
    if existing.kind != declared.kind {
        return Err(ConfigError::invalid(
            &file.path,
            format!(
                "namespace \"{}\" exists as {} but is declared {}; a namespace's type cannot change (delete it through the API first)",
                declared.name,
                existing.kind.as_str(),
                declared.kind.as_str()
            ),
        ));
    }
    let update = NamespaceUpdate {
        description: declared
            .description
            .clone()
            .filter(|d| existing.description.as_ref() != Some(d)),
        soa: (existing.soa != declared.soa && declared.kind.has_dns())
            .then(|| declared.soa.clone()),
        soa_ttl: None,
        allowed_networks: (declared.kind == NamespaceType::DnsPrivate
            && existing.allowed_networks != declared.allowed_networks)
            .then(|| declared.allowed_networks.clone()),
    };
    if update.description.is_some() || update.soa.is_some() || update.allowed_networks.is_some() {
        writer
            .update_namespace(&existing.id, update)
            .await
            .map_err(refused)?;
    }
    Ok(existing)
}

/// Brings a batch of a file's services and their instances into the
/// registry; `first` is the index of the first in the file. Errors name the
/// file and the entry the registry refused.
async fn apply_services(
    file: &ZoneSource,
    namespace: &Namespace,
    first: usize,
    declared: Vec<ZoneService>,
    writer: &Writer,
    loaded: &mut ZonesLoaded,
) -> Result<(), ConfigError> {
    let refused = |context: String, error: RegistryError| {
        ConfigError::invalid(&file.path, format!("{context}: {error}"))
    };
    let registry = writer.registry();
    // New services and changed instances go in bulk: one commit for many,
    // so a large zones directory does not cost one fsync per entry.
    let mut services = Vec::with_capacity(declared.len());
    let mut created = Vec::new();
    for (index, declared) in (first..).zip(&declared) {
        match registry.service_by_name(&namespace.name, &declared.name) {
            Ok(existing) => {
                reconcile_service(writer, &existing, declared)
                    .await
                    .map_err(|error| {
                        refused(format!("services[{index}] \"{}\"", declared.name), error)
                    })?;
                services.push(Some(existing));
            }
            Err(_) => {
                created.push(NewService {
                    namespace_id: namespace.id.clone(),
                    name: declared.name.clone(),
                    description: declared.description.clone(),
                    dns: declared.dns.clone(),
                    health_check: declared.health_check.clone(),
                    custom_health_check: declared.custom_health_check,
                    heartbeat: declared.heartbeat,
                    creator_request_id: None,
                    tags: declared.tags.clone(),
                });
                services.push(None);
            }
        }
    }
    let mut created = writer
        .create_services(created)
        .await
        .map_err(|error| refused("services".to_string(), error))?
        .into_iter();
    let services: Vec<Service> = services
        .into_iter()
        .map(|existing| existing.or_else(|| created.next()))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            ConfigError::invalid(&file.path, "services: fewer were created than declared")
        })?;
    loaded.services += services.len();

    let mut registrations = Vec::new();
    for (service, declared) in services.iter().zip(declared) {
        for instance in declared.instances {
            loaded.instances += 1;
            let current = registry.get_instance(&service.id, &instance.id);
            if current.is_ok_and(|current| current.attributes == instance.attributes) {
                continue;
            }
            registrations.push(InstanceRegistration {
                service_id: service.id.clone(),
                instance_id: instance.id,
                attributes: instance.attributes,
                creator_request_id: None,
            });
        }
    }
    writer
        .register_instances(registrations)
        .await
        .map_err(|error| refused("instances".to_string(), error))?;
    Ok(())
}

/// Brings an existing service in line with its declaration: TTLs, the
/// description and the health check may change; record types and the custom
/// health check may not (Cloud Map's UpdateService rules).
async fn reconcile_service(
    writer: &Writer,
    existing: &Service,
    declared: &ZoneService,
) -> Result<(), RegistryError> {
    if existing.heartbeat != declared.heartbeat {
        return Err(RegistryError::invalid(
            "the service exists with a different heartbeat, which cannot change; delete the service through the API first",
        ));
    }
    if existing.custom_health_check != declared.custom_health_check {
        return Err(RegistryError::invalid(
            "the service exists with a different custom health check, which cannot change; delete the service through the API first",
        ));
    }
    let records =
        |dns: &Option<crate::registry::DnsTemplate>| dns.as_ref().map(|dns| dns.records.clone());
    let same_policy = existing.dns.as_ref().map(|dns| dns.routing_policy)
        == declared.dns.as_ref().map(|dns| dns.routing_policy);
    if existing.dns.is_some() != declared.dns.is_some() || !same_policy {
        return Err(RegistryError::invalid(
            "the service exists with a different DNS template or routing policy, which cannot change; delete the service through the API first",
        ));
    }
    let unchanged = records(&existing.dns) == records(&declared.dns)
        && existing.health_check == declared.health_check
        && (declared.description.is_none() || existing.description == declared.description);
    if unchanged {
        return Ok(());
    }
    writer
        .update_service(
            &existing.id,
            ServiceUpdate {
                description: declared.description.clone(),
                dns_records: records(&declared.dns),
                health_check: declared.health_check.clone(),
            },
        )
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests;
