//! Generated identifiers, shaped like Cloud Map's so its users recognise
//! them: `ns-` and `srv-` followed by 16 lowercase letters and digits, and
//! operation ids of 32 + 8 characters.

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn random_text(len: usize) -> String {
    (0..len)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

pub fn namespace_id() -> String {
    format!("ns-{}", random_text(16))
}

pub fn service_id() -> String {
    format!("srv-{}", random_text(16))
}

pub fn operation_id() -> String {
    format!("{}-{}", random_text(32), random_text(8))
}

/// The id inside an ARN (`arn:aws:servicediscovery:<region>:<account>:
/// <kind>/<id>`; the admin API makes them) — every call that takes an id
/// takes an ARN too, or the text itself when it is not an ARN.
pub fn id_from_arn(text: &str) -> &str {
    if text.starts_with("arn:") {
        text.rsplit('/').next().unwrap_or(text)
    } else {
        text
    }
}
