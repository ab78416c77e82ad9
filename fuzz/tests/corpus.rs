//! Every seed and regression of every target, replayed as a plain test:
//! what the fuzzer once found stays fixed, and the targets build and run
//! without AFL++.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no seed", dir.display());
    files
}

#[test]
fn every_target_passes_its_corpus() {
    for (name, target) in cairn_fuzz::TARGETS {
        for path in corpus(name) {
            let input = std::fs::read(&path).expect("read a seed");
            let outcome = std::panic::catch_unwind(|| target(&input));
            assert!(outcome.is_ok(), "{name}: {} fails", path.display());
        }
    }
}

/// Writes the store target's seeds from the rows of the 0.1.0 fixture
/// (`tests/fixtures/store-v0.1`), each as the target reads it: a selector
/// byte (the table; sealed or not) and the row's JSON. Run by hand when the
/// fixture changes: `cargo test -- --ignored write_store_seeds`.
#[test]
#[ignore]
fn write_store_seeds() {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/store-v0.1/cairn.redb");
    let copy = std::env::temp_dir().join("cairn-fuzz-fixture.redb");
    std::fs::copy(&fixture, &copy).expect("copy the fixture");
    let db = redb::Database::open(&copy).expect("open the fixture");
    let txn = db.begin_read().expect("a read transaction");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/store_row");
    std::fs::create_dir_all(&out).expect("the corpus directory");
    let mut rows: Vec<(u8, Vec<u8>)> = Vec::new();
    for (selector, name) in [(0u8, "namespaces"), (1, "services")] {
        let table = txn
            .open_table(TableDefinition::<&str, &[u8]>::new(name))
            .expect("a table");
        for row in table.iter().expect("rows").take(3) {
            let (_, value) = row.expect("a row");
            rows.push((selector, value.value().to_vec()));
        }
    }
    let instances = txn
        .open_table(TableDefinition::<(&str, &str), &[u8]>::new("instances"))
        .expect("the instances table");
    for row in instances.iter().expect("rows").take(3) {
        rows.push((2, row.expect("a row").1.value().to_vec()));
    }
    let operations = txn
        .open_table(TableDefinition::<u64, &[u8]>::new("operations"))
        .expect("the operations table");
    for row in operations.iter().expect("rows").take(3) {
        rows.push((3, row.expect("a row").1.value().to_vec()));
    }
    for (index, (selector, json)) in rows.into_iter().enumerate() {
        for sealed in [0u8, 0x10] {
            let mut seed = vec![selector | sealed];
            seed.extend_from_slice(&json);
            std::fs::write(out.join(format!("fixture-{index:02}-{sealed:02x}")), seed)
                .expect("write a seed");
        }
    }
}

/// The `tsig` seeds (written by `tsig_seeds.py` with dnspython) reach the
/// paths they are named for, so the fuzzer starts from verified MACs and
/// not only from rejections.
#[test]
fn the_tsig_seeds_are_signed_as_the_target_verifies() {
    use cairn::dns::transfer::tsig::{self, Failure};
    use cairn_fuzz::transfer::{NOW, keys, notify_signer};
    let seed = |name: &str| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("corpus/tsig")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    };
    let verdict = |name: &str| {
        let query = seed(name);
        let record = cairn::dns::wire::read_query(&query)
            .ok()
            .and_then(|question| question.tsig)
            .or_else(|| {
                cairn::dns::transfer::request::read(&query).and_then(|request| request.tsig)
            })
            .unwrap_or_else(|| panic!("{name} is not signed"));
        match tsig::verify(keys(), &query, &record, NOW) {
            Ok(_) => "verified",
            Err(Failure::Malformed) => "malformed",
            Err(Failure::Signed(..)) => "badtime",
            Err(Failure::Unsigned(error)) => match error as u16 {
                16 => "badsig",
                _ => "badkey",
            },
        }
    };
    for (name, expected) in [
        ("request-soa", "verified"),
        ("request-axfr-edns", "verified"),
        ("request-ixfr-sha512", "verified"),
        ("request-mac-16", "verified"),
        ("request-mac-15", "malformed"),
        ("request-stale", "badtime"),
        ("request-wrong-secret", "badsig"),
        ("request-unknown-key", "badkey"),
    ] {
        assert_eq!(verdict(name), expected, "{name}");
    }
    assert_eq!(
        notify_signer().verify_reply(&seed("notify-reply-signed"), NOW),
        Ok(())
    );
    assert_eq!(
        notify_signer().verify_reply(&seed("notify-reply-unsigned"), NOW),
        Err(tsig::ReplyError::Unsigned)
    );
}
