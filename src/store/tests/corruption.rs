//! Damaged files: whatever a store file holds, opening and loading it is
//! either the load of what was written or a clear error, never a panic
//! (redb's B-tree code asserts on pages it cannot make sense of).

use std::io::{Seek, SeekFrom, Write};

use super::fixture::{fixture_copy, fixture_snapshot};
use crate::store::{Store, StoreError};

/// redb's page size.
const PAGE: u64 = 4096;

/// Opens and loads `dir`, as start-up does.
fn start(dir: &std::path::Path) -> Result<super::Snapshot, StoreError> {
    Store::open_and_load(dir).map(|(_, snapshot)| snapshot)
}

#[test]
fn random_pages_overwritten_load_what_was_written_or_fail_cleanly() {
    let mut rng = fastrand::Rng::with_seed(0x5eed_ca1e);
    let expected = fixture_snapshot();
    let (mut loaded, mut refused) = (0, 0);
    for trial in 0..200 {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = fixture_copy(dir.path());
        let pages = std::fs::metadata(&path).expect("the copy").len() / PAGE;
        let page = rng.u64(0..pages);
        let mut garbage = vec![0u8; PAGE as usize];
        rng.fill(&mut garbage);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("the copy opens");
        file.seek(SeekFrom::Start(page * PAGE)).expect("seek");
        file.write_all(&garbage).expect("overwrite");
        drop(file);

        match start(dir.path()) {
            Ok(snapshot) => {
                assert_eq!(
                    snapshot, expected,
                    "trial {trial} (page {page}) loaded wrong"
                );
                loaded += 1;
            }
            Err(err) => {
                let message = err.to_string();
                assert!(
                    message.contains(&path.display().to_string())
                        && message.contains("restore it from a backup"),
                    "trial {trial} (page {page}): {message}"
                );
                refused += 1;
            }
        }
    }
    // Both outcomes occur: the file has free pages as well as live ones.
    assert!(
        loaded > 0 && refused > 0,
        "{loaded} loaded, {refused} refused"
    );
}
