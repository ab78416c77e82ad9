//! Reading the declarative `zones/` directory: one TOML file per
//! namespace, its services and their static instances, parsed and checked
//! into registry values. Applying them to the registry is
//! [`crate::zones`]'s work; this module never touches the registry's state.
//!
//! Every file is read and checked first — against the registry's own
//! validation rules, and for names declared twice — so a mistake in any
//! file stops start-up before anything is applied. The registry stays the
//! only judge of what is valid: this module translates TOML into registry
//! values and asks `registry::validate` ahead of time, it never
//! re-implements a rule.
//!
//! A file is never parsed whole: a tree of it would take ~40 times its size
//! (gigabytes for a million instances). It is outlined, then its services
//! are parsed and checked a batch at a time, and read and parsed again, a
//! batch at a time, when they are applied (`outline.rs`, `source.rs`). The
//! TOML shapes are in `schema.rs`; their translation into registry values in
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

pub use source::{Services, ZoneSource};

use super::ConfigError;
use crate::registry::{
    CustomHealthCheck, DnsTemplate, HealthCheckConfig, Heartbeat, NewNamespace, Tags,
};

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

/// Reads and checks every `*.toml` file in `dir`, in file-name order
/// (hidden files are skipped, as a shell glob would). A missing or
/// unreadable directory is an error naming it; whether that matters is the
/// caller's call. Each file is outlined and checked here, and read again, a
/// batch of services at a time, by whoever applies it
/// ([`ZoneSource::services`]), so that memory follows the batch, not the
/// file.
pub fn read_dir(dir: &Path) -> Result<Vec<ZoneSource>, ConfigError> {
    let files = zone_paths(dir)?
        .iter()
        .map(|path| ZoneSource::open(path))
        .collect::<Result<Vec<_>, _>>()?;
    check_unique_namespaces(&files)?;
    Ok(files)
}

/// The `*.toml` files directly in `dir`, sorted by file name.
pub(crate) fn zone_paths(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
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

#[cfg(test)]
pub(crate) mod tests;
