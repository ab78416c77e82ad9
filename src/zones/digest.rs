//! What a full apply of zones/ depended on, as one number: the files
//! (names and bytes, in the order they are applied), the build, and the
//! settings the registry judges declarations by. A store records it after a
//! full apply ([`crate::store::Snapshot::zones_unchanged`]); a start that
//! finds the same number with nothing committed since skips applying the
//! files again, which at a million instances is most of a restart (7.4 of
//! 16.2 s, `bench/run --scale`, 2026-12-02).

use std::io::Read;
use std::path::Path;

use crate::config::ConfigError;
use crate::config::zones::zone_paths;

/// The digest of the zones files in `dir` with `context` (what else decides
/// what applying them does), the first 64 bits of a SHA-256: a change
/// detector, not a signature, since whoever can edit the files can apply
/// them anyway.
pub fn digest(dir: &Path, context: &str) -> Result<u64, ConfigError> {
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    // Every part framed by its length, so no two sets of files run together
    // into the same bytes.
    let mut framed = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    framed(env!("CARGO_PKG_VERSION").as_bytes());
    framed(context.as_bytes());
    let mut buffer = vec![0; 1 << 16];
    for path in zone_paths(dir)? {
        let read_error = |source| ConfigError::Read {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::File::open(&path).map_err(read_error)?;
        let length = file.metadata().map_err(read_error)?.len();
        hasher.update(&(path.as_os_str().len() as u64).to_be_bytes());
        hasher.update(path.as_os_str().as_encoded_bytes());
        hasher.update(&length.to_be_bytes());
        let mut left = length;
        while left > 0 {
            let read = file.read(&mut buffer).map_err(read_error)?;
            if read == 0 {
                // Shorter than it was a moment ago: being written to.
                break;
            }
            let taken = read.min(usize::try_from(left).unwrap_or(usize::MAX));
            hasher.update(&buffer[..taken]);
            left -= taken as u64;
        }
    }
    let sum = hasher.finish();
    let mut first = [0; 8];
    first.copy_from_slice(&sum.as_ref()[..8]);
    Ok(u64::from_be_bytes(first))
}
