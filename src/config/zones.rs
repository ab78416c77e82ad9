//! The declarative `zones/` directory: one TOML file per namespace, its
//! services and their static instances, applied to the registry when
//! `cairn serve` starts.
//!
//! Loading is all or nothing. Every file is read and checked first —
//! against the registry's own validation rules, and for names declared
//! twice — so a mistake in any file stops start-up before anything is
//! applied; if the registry still refuses something while applying, what
//! this load created is removed again. The registry stays the only judge of
//! what is valid: this module translates TOML into registry calls and asks
//! `registry::validate` ahead of time, it never re-implements a rule.
//!
//! This module reads files and knows nothing of DNS or sockets.

mod file;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::ConfigError;
use crate::registry::{
    CustomHealthCheck, DnsTemplate, HealthCheckConfig, InstanceRegistration, NewNamespace,
    NewService, Registry, Tags,
};

/// What [`load_zones`] applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZonesLoaded {
    /// Zones files read (one namespace each).
    pub files: usize,
    /// Namespaces, services and instances created.
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
    file::parse(path, text)
}

/// Applies every `*.toml` file in `dir` (in file-name order; hidden files are
/// skipped, as a shell glob would) to `registry`. A missing or unreadable
/// directory is an error naming it; whether that matters is the caller's
/// call.
///
/// Nothing is applied unless every file is valid, and a namespace that
/// exists in the registry already is an error (zones files create, they do
/// not update).
pub fn load_zones(dir: &Path, registry: &Registry) -> Result<ZonesLoaded, ConfigError> {
    let paths = zone_paths(dir)?;
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        files.push(parse_zone_file(&path, &text)?);
    }
    check_unique_namespaces(&files, registry)?;

    let mut applied = Applied::default();
    for file in &files {
        if let Err(error) = apply(file, registry, &mut applied) {
            applied.undo(registry);
            return Err(error);
        }
        tracing::debug!(file = %file.path.display(), namespace = %file.namespace.name, "zone file applied");
    }
    Ok(ZonesLoaded {
        files: files.len(),
        namespaces: applied.namespaces.len(),
        services: applied.services.len(),
        instances: applied.instances.len(),
    })
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

/// A namespace may be declared by one file only, and must not exist yet.
fn check_unique_namespaces(files: &[ZoneFile], registry: &Registry) -> Result<(), ConfigError> {
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
        if let Some(existing) = registry.namespace_by_name(name) {
            return Err(ConfigError::invalid(
                &file.path,
                format!(
                    "namespace \"{name}\" exists already in the registry ({}); zones files only create namespaces",
                    existing.id
                ),
            ));
        }
    }
    Ok(())
}

/// What one load created, so it can be removed again if a later step fails.
#[derive(Default)]
struct Applied {
    namespaces: Vec<String>,
    services: Vec<String>,
    /// (service id, instance id)
    instances: Vec<(String, String)>,
}

impl Applied {
    /// Removes everything recorded, newest first. Best effort: these calls
    /// fail only if something else changed the registry meanwhile.
    fn undo(&self, registry: &Registry) {
        for (service_id, instance_id) in self.instances.iter().rev() {
            if let Err(error) = registry.deregister_instance(service_id, instance_id) {
                tracing::warn!(%service_id, %instance_id, %error, "could not undo a zones instance");
            }
        }
        for service_id in self.services.iter().rev() {
            if let Err(error) = registry.delete_service(service_id) {
                tracing::warn!(%service_id, %error, "could not undo a zones service");
            }
        }
        for namespace_id in self.namespaces.iter().rev() {
            if let Err(error) = registry.delete_namespace(namespace_id) {
                tracing::warn!(%namespace_id, %error, "could not undo a zones namespace");
            }
        }
    }
}

/// Creates one file's namespace, services and instances, recording each in
/// `applied`. Errors name the file and the entry the registry refused.
fn apply(file: &ZoneFile, registry: &Registry, applied: &mut Applied) -> Result<(), ConfigError> {
    let refused = |context: String, error: crate::registry::RegistryError| {
        ConfigError::invalid(&file.path, format!("{context}: {error}"))
    };
    let (namespace, _) = registry
        .create_namespace(file.namespace.clone())
        .map_err(|error| refused(format!("namespace \"{}\"", file.namespace.name), error))?;
    applied.namespaces.push(namespace.id.clone());

    for (index, declared) in file.services.iter().enumerate() {
        let context = format!("services[{index}] \"{}\"", declared.name);
        let service = registry
            .create_service(NewService {
                namespace_id: namespace.id.clone(),
                name: declared.name.clone(),
                description: declared.description.clone(),
                dns: declared.dns.clone(),
                health_check: declared.health_check.clone(),
                custom_health_check: declared.custom_health_check,
                creator_request_id: None,
                tags: declared.tags.clone(),
            })
            .map_err(|error| refused(context.clone(), error))?;
        applied.services.push(service.id.clone());

        for (position, instance) in declared.instances.iter().enumerate() {
            registry
                .register_instance(InstanceRegistration {
                    service_id: service.id.clone(),
                    instance_id: instance.id.clone(),
                    attributes: instance.attributes.clone(),
                    creator_request_id: None,
                })
                .map_err(|error| {
                    refused(
                        format!("{context}: instances[{position}] \"{}\"", instance.id),
                        error,
                    )
                })?;
            applied
                .instances
                .push((service.id.clone(), instance.id.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
