//! A zones file checked from end to end but held only as its namespace and
//! its outline: its services are read from the file again, a batch at a
//! time, when they are applied. So a file of a million instances costs a
//! batch's worth of memory, twice parsed, instead of ~40 times its size.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use super::outline::{self, Batch};
use super::{ZoneService, translate};
use crate::config::ConfigError;
use crate::registry::NewNamespace;

/// A zones file whose every part has been checked (see
/// [`super::parse_zone_file`] for what that covers).
#[derive(Debug)]
pub struct ZoneSource {
    /// Where it came from; named in every error about it.
    pub path: PathBuf,
    pub namespace: NewNamespace,
    /// Services written inline, `services = [...]`; they are in the head,
    /// which is parsed whole anyway.
    inline: Vec<ZoneService>,
    batches: Vec<Batch>,
}

impl ZoneSource {
    /// Reads and checks the file at `path`.
    pub fn open(path: &Path) -> Result<Self, ConfigError> {
        let file = File::open(path).map_err(|source| read_error(path, source))?;
        Self::check(path, file)
    }

    /// Reads and checks `file`, which `path` only names: outlines it, then
    /// parses its head and each batch in turn, keeping only the names that
    /// must be unique across the file.
    pub fn check(path: &Path, mut file: impl Read + Seek) -> Result<Self, ConfigError> {
        let outline = outline::outline(BufReader::new(&mut file))
            .map_err(|source| read_error(path, source))?;
        let mut declared = translate::Declared::new();
        let (namespace, inline) = translate::head(
            path,
            &outline.head,
            !outline.batches.is_empty(),
            &mut declared,
        )?;
        let mut first = inline.len();
        for batch in &outline.batches {
            let document = batch
                .read(&mut file)
                .map_err(|source| read_error(path, source))?;
            translate::batch(path, &document, &namespace, first, Some(&mut declared))?;
            first += batch.services;
        }
        Ok(Self {
            path: path.to_path_buf(),
            namespace,
            inline,
            batches: outline.batches,
        })
    }

    /// The file's services in order, a batch at a time, each with the index
    /// of its first service in the file. `file` is the one checked: a batch
    /// that reads differently now is an error.
    pub fn services<R: Read + Seek>(&self, file: R) -> Services<'_, R> {
        Services {
            source: self,
            file,
            next: None,
            first: 0,
        }
    }

    /// Opens the file again for [`Self::services`].
    pub fn reopen(&self) -> Result<File, ConfigError> {
        File::open(&self.path).map_err(|source| read_error(&self.path, source))
    }
}

/// See [`ZoneSource::services`].
pub struct Services<'a, R> {
    source: &'a ZoneSource,
    file: R,
    /// The batch to read next; `None` before the inline services.
    next: Option<usize>,
    first: usize,
}

impl<R: Read + Seek> Iterator for Services<'_, R> {
    type Item = Result<(usize, Vec<ZoneService>), ConfigError>;

    fn next(&mut self) -> Option<Self::Item> {
        let source = self.source;
        let services = match self.next {
            None => {
                self.next = Some(0);
                if source.inline.is_empty() {
                    return self.next();
                }
                Ok(source.inline.clone())
            }
            Some(index) => {
                let batch = source.batches.get(index)?;
                self.next = Some(index + 1);
                batch
                    .read(&mut self.file)
                    .map_err(|error| read_error(&source.path, error))
                    .and_then(|document| {
                        translate::batch(
                            &source.path,
                            &document,
                            &source.namespace,
                            self.first,
                            None,
                        )
                    })
            }
        };
        let first = self.first;
        Some(services.map(|services| {
            self.first += services.len();
            (first, services)
        }))
    }
}

fn read_error(path: &Path, source: std::io::Error) -> ConfigError {
    ConfigError::Read {
        path: path.to_path_buf(),
        source,
    }
}
