//! Every row cairn writes ends in a checksum of its table, its key and its
//! JSON, so that a damaged row is found at start-up instead of loaded as a
//! different value (redb checks none of a value's bytes: one flipped bit in
//! an instance's id silently renamed it).
//!
//! A sealed row is its JSON, a newline and eight lower-case hex digits of
//! CRC-32 (IEEE) over `table NUL key NUL json`; it stays text, readable with
//! any redb tool. Covering the key as well finds a row whose key was damaged,
//! or a row filed under another key or table. Rows written before
//! checksums (cairn 0.1.0, `tests/fixtures/store-v0.1`) end in the `}` of
//! their JSON, which no sealed row does (nor can one flipped bit make a hex
//! digit into `}`): they are read without a check.

/// The separator before the checksum, and the checksum's length in hex.
const SEPARATOR: u8 = b'\n';
const DIGITS: usize = 8;

fn checksum(table: &str, key: &str, json: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(table.as_bytes());
    hasher.update(&[0]);
    hasher.update(key.as_bytes());
    hasher.update(&[0]);
    hasher.update(json);
    hasher.finalize()
}

/// Appends the checksum to a row's `json`, for filing under `key` in `table`.
pub(super) fn seal(table: &str, key: &str, mut json: Vec<u8>) -> Vec<u8> {
    let sum = checksum(table, key, &json);
    json.push(SEPARATOR);
    json.extend_from_slice(format!("{sum:08x}").as_bytes());
    json
}

/// The JSON of a row read from `table` under `key`, once its checksum (if it
/// has one) matches; otherwise what is wrong with it.
pub(super) fn unseal<'v>(table: &str, key: &str, row: &'v [u8]) -> Result<&'v [u8], String> {
    if row.last() == Some(&b'}') {
        return Ok(row);
    }
    let Some(split) = row.len().checked_sub(DIGITS + 1) else {
        return Err("it is neither JSON nor a sealed row (too short)".into());
    };
    let (json, trailer) = row.split_at(split);
    let stored = match trailer.split_first() {
        Some((&SEPARATOR, digits)) => parse_hex(digits),
        _ => None,
    };
    let Some(stored) = stored else {
        return Err("its checksum is unreadable".into());
    };
    let computed = checksum(table, key, json);
    if stored != computed {
        return Err(format!(
            "its checksum does not match (stored {stored:08x}, computed {computed:08x})"
        ));
    }
    Ok(json)
}

/// Eight lower-case hex digits, exactly as `seal` writes them.
fn parse_hex(digits: &[u8]) -> Option<u32> {
    if digits.len() != DIGITS {
        return None;
    }
    digits.iter().try_fold(0u32, |sum, &digit| {
        let value = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        Some(sum << 4 | u32::from(value))
    })
}
