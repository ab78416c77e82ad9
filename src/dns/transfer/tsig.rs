//! TSIG (RFC 8945) with HMAC-SHA256/384/512: verifying a signed request,
//! signing every reply to it, and chaining the MACs of a transfer's
//! messages (§5.3.1), which hickory-proto does not sign. Hand-written over
//! `ring`'s HMAC (already cairn's crypto, through rustls): the digests are
//! plain concatenations of bytes the message already holds.
//!
//! Transfers, signed queries over TCP and UDP (answered in place of the
//! answer core's BADKEY) and the NOTIFYs cairn sends, whose replies must be
//! signed by the secondary, use this; it reads the clock, which the answer
//! core never does.

use std::path::Path;

use ring::hmac;

use super::request::skip_name;
use crate::dns::wire::{HEADER_LEN, MAX_NAME_LEN, TYPE_TSIG, Tsig, TsigError, read_additional};

/// The class of TSIG records.
const CLASS_ANY: [u8; 2] = [0, 255];

/// The fudge cairn signs with and allows: NSD's and Knot's default.
const FUDGE: u16 = 300;

/// An HMAC TSIG algorithm cairn signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    /// By its name as configs write it (`hmac-sha256`, …).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha256" => Some(Self::HmacSha256),
            "hmac-sha384" => Some(Self::HmacSha384),
            "hmac-sha512" => Some(Self::HmacSha512),
            _ => None,
        }
    }

    /// Its name in wire form, lower case: what a TSIG record carries.
    fn wire(self) -> &'static [u8] {
        match self {
            Self::HmacSha256 => b"\x0bhmac-sha256\x00",
            Self::HmacSha384 => b"\x0bhmac-sha384\x00",
            Self::HmacSha512 => b"\x0bhmac-sha512\x00",
        }
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            Self::HmacSha256 => hmac::HMAC_SHA256,
            Self::HmacSha384 => hmac::HMAC_SHA384,
            Self::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

/// A key whose secret was read.
pub struct Key {
    /// The key's name, lower case, wire form: how requests name it and
    /// what the MAC covers.
    name: Box<[u8]>,
    algorithm: Algorithm,
    secret: hmac::Key,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Why a key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("TSIG key {key}: {message}")]
pub struct KeyError {
    pub key: String,
    pub message: String,
}

impl Key {
    /// Reads the key's secret from its file, refusing a file others may
    /// read, as the API's secrets are.
    pub fn load(name: &str, algorithm: &str, path: &Path) -> Result<Self, KeyError> {
        use base64::Engine as _;
        let fail = |message: String| KeyError {
            key: name.to_string(),
            message,
        };
        let algorithm = Algorithm::from_name(algorithm)
            .ok_or_else(|| fail(format!("unknown algorithm {algorithm}")))?;
        let text = crate::config::SecretSource::File(path.to_path_buf())
            .read("secret")
            .map_err(fail)?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|error| {
                fail(format!(
                    "{} does not hold a base64 secret ({error}); write the secret as `tsig-keygen` or `keymgr -t` prints it",
                    path.display()
                ))
            })?;
        Self::new(name, algorithm, &secret).map_err(fail)
    }

    /// A key from its secret's bytes.
    pub fn new(name: &str, algorithm: Algorithm, secret: &[u8]) -> Result<Self, String> {
        let name = wire_name(name).ok_or_else(|| format!("'{name}' is not a DNS name"))?;
        if secret.is_empty() {
            return Err("the secret is empty".to_string());
        }
        Ok(Self {
            name,
            algorithm,
            secret: hmac::Key::new(algorithm.ring(), secret),
        })
    }

    /// The key's name in wire form.
    pub fn wire_name(&self) -> &[u8] {
        &self.name
    }
}

/// A dotted name in lower-case wire form.
pub fn wire_name(name: &str) -> Option<Box<[u8]>> {
    let mut wire = Vec::with_capacity(name.len() + 2);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        wire.push(label.len() as u8);
        wire.extend(label.bytes().map(|byte| byte.to_ascii_lowercase()));
    }
    wire.push(0);
    (wire.len() <= MAX_NAME_LEN).then(|| wire.into_boxed_slice())
}

/// Signs the replies to one request (or one message of our own, a
/// NOTIFY), each message's MAC chained to the one before.
pub struct Signer<'k> {
    key: &'k Key,
    /// The MAC the next one chains to: the request's, then each message's.
    prior_mac: Vec<u8>,
    original_id: u16,
    /// The first message carries the full TSIG variables; later ones only
    /// the timers (RFC 8945 §5.3.1).
    first: bool,
    now: u64,
}

/// A verified request's signer, or why it failed.
pub type Verdict<'k> = Result<Signer<'k>, Failure<'k>>;

/// A request that did not verify, and the reply it gets (RFC 8945 §5.3.2).
pub enum Failure<'k> {
    /// A MAC longer than the algorithm's, or shorter than the larger of 10
    /// bytes and half of it: RFC 8945 §5.2.2.1 has the message dropped
    /// and FORMERR returned.
    Malformed,
    /// An unknown key (BADKEY) or a MAC that does not verify (BADSIG):
    /// an unsigned error.
    Unsigned(TsigError),
    /// A good MAC at the wrong time (BADTIME): signed, with the server's
    /// time as other data.
    Signed(TsigError, Signer<'k>),
}

impl Failure<'_> {
    /// The TSIG error the reply carries, if it carries a TSIG.
    pub fn error(&self) -> Option<TsigError> {
        match self {
            Self::Malformed => None,
            Self::Unsigned(error) | Self::Signed(error, _) => Some(*error),
        }
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// Whether a MAC of `len` bytes may stand for `algorithm`'s (RFC 8945
/// §5.2.2.1): the whole of it, or its first bytes down to the larger of
/// 10 and half its length.
fn mac_len_allowed(algorithm: Algorithm, len: usize) -> bool {
    let full = algorithm.ring().digest_algorithm().output_len();
    (full / 2).max(10) <= len && len <= full
}

/// Whether `mac` is the first bytes of `expected`, in constant time.
fn mac_matches(expected: &[u8], mac: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    expected
        .get(..mac.len())
        .is_some_and(|prefix| bool::from(prefix.ct_eq(mac)))
}

/// What a message's MAC covers (RFC 8945 §4.3): the prior MAC when there
/// is one (a reply's request), the message as it was before it was signed
/// (the original id, one additional record fewer), and the TSIG variables
/// the record holds. `None` when the record does not hold them.
fn digest(key: &Key, prior_mac: &[u8], message: &[u8], tsig: &Tsig) -> Option<hmac::Tag> {
    let other_len = usize::from(u16_at(message, tsig.mac.end + 4)?);
    let error_and_other = message.get(tsig.mac.end + 2..tsig.mac.end + 6 + other_len)?;
    let unsigned = message.get(..tsig.record_start)?;
    let header = unsigned.get(..12)?;
    let additionals = u16_at(header, 10)?;
    let mut context = hmac::Context::with_key(&key.secret);
    if !prior_mac.is_empty() {
        context.update(&(prior_mac.len() as u16).to_be_bytes());
        context.update(prior_mac);
    }
    context.update(&tsig.original_id.to_be_bytes());
    context.update(&header[2..10]);
    context.update(&additionals.saturating_sub(1).to_be_bytes());
    context.update(&unsigned[12..]);
    context.update(&key.name);
    context.update(&CLASS_ANY);
    context.update(&[0, 0, 0, 0]);
    context.update(key.algorithm.wire());
    context.update(&tsig.time_and_fudge);
    context.update(error_and_other);
    Some(context.sign())
}

/// Whether `signed`'s time (48 bits) and fudge put it within its fudge of
/// `now`.
fn in_time(time_and_fudge: [u8; 8], now: u64) -> bool {
    let [t0, t1, t2, t3, t4, t5, f0, f1] = time_and_fudge;
    let signed = u64::from_be_bytes([0, 0, t0, t1, t2, t3, t4, t5]);
    now.abs_diff(signed) <= u64::from(u16::from_be_bytes([f0, f1]))
}

/// Verifies `query`'s TSIG against `keys` at `now` (seconds since 1970),
/// in RFC 8945 §5.2's order: the key, the MAC (whole or truncated as
/// §5.2.2.1 allows, compared over its length), the time. cairn's own
/// truncation policy is the RFC's floor, so §5.2.4's BADTRUNC (a MAC the
/// RFC allows but local policy finds too short) is never the verdict.
pub fn verify<'k>(keys: &'k [Key], query: &[u8], tsig: &Tsig, now: u64) -> Verdict<'k> {
    let bad_key = || Failure::Unsigned(TsigError::BadKey);
    let mut name = [0u8; MAX_NAME_LEN];
    let name = tsig.key(query, &mut name).ok_or_else(bad_key)?;
    let algorithm = query
        .get(tsig.algorithm.clone())
        .ok_or_else(bad_key)?
        .to_ascii_lowercase();
    let key = keys
        .iter()
        .find(|key| *key.name == *name && key.algorithm.wire() == algorithm.as_slice())
        .ok_or_else(bad_key)?;
    let mac = query.get(tsig.mac.clone()).ok_or(Failure::Malformed)?;
    if !mac_len_allowed(key.algorithm, mac.len()) {
        return Err(Failure::Malformed);
    }
    let expected = digest(key, &[], query, tsig).ok_or(Failure::Malformed)?;
    if !mac_matches(expected.as_ref(), mac) {
        return Err(Failure::Unsigned(TsigError::BadSig));
    }
    // A reply's MAC chains to the request's MAC as it was sent, truncated
    // or not (RFC 8945 §5.3).
    let signer = Signer {
        key,
        prior_mac: mac.to_vec(),
        original_id: tsig.original_id,
        first: true,
        now,
    };
    if !in_time(tsig.time_and_fudge, now) {
        return Err(Failure::Signed(TsigError::BadTime, signer));
    }
    Ok(signer)
}

impl<'k> Signer<'k> {
    /// A signer for a message cairn starts (a NOTIFY): no request MAC.
    pub fn new(key: &'k Key, original_id: u16, now: u64) -> Self {
        Self {
            key,
            prior_mac: Vec::new(),
            original_id,
            first: true,
            now,
        }
    }

    /// Appends a TSIG record to `message` (a whole DNS message) and counts
    /// it; `error` and `other` go in the record (BADTIME's server time).
    pub fn sign(&mut self, message: &mut Vec<u8>, error: Option<TsigError>, other: &[u8]) {
        let time = self.now.to_be_bytes();
        let timers: Vec<u8> = time[2..]
            .iter()
            .copied()
            .chain(FUDGE.to_be_bytes())
            .collect();
        let error = error.map_or(0, |error| error as u16).to_be_bytes();
        let mut context = hmac::Context::with_key(&self.key.secret);
        if !self.prior_mac.is_empty() {
            context.update(&(self.prior_mac.len() as u16).to_be_bytes());
            context.update(&self.prior_mac);
        }
        context.update(message);
        if self.first {
            context.update(&self.key.name);
            context.update(&CLASS_ANY);
            context.update(&[0, 0, 0, 0]);
            context.update(self.key.algorithm.wire());
            context.update(&timers);
            context.update(&error);
            context.update(&(other.len() as u16).to_be_bytes());
            context.update(other);
        } else {
            context.update(&timers);
        }
        let mac = context.sign();
        let mac = mac.as_ref();
        let algorithm = self.key.algorithm.wire();
        let rdata_len = algorithm.len() + 8 + 2 + mac.len() + 2 + 2 + 2 + other.len();
        message.extend_from_slice(&self.key.name);
        message.extend_from_slice(&TYPE_TSIG.to_be_bytes());
        message.extend_from_slice(&CLASS_ANY);
        message.extend_from_slice(&[0, 0, 0, 0]);
        message.extend_from_slice(&(rdata_len as u16).to_be_bytes());
        message.extend_from_slice(algorithm);
        message.extend_from_slice(&timers);
        message.extend_from_slice(&(mac.len() as u16).to_be_bytes());
        message.extend_from_slice(mac);
        message.extend_from_slice(&self.original_id.to_be_bytes());
        message.extend_from_slice(&error);
        message.extend_from_slice(&(other.len() as u16).to_be_bytes());
        message.extend_from_slice(other);
        if let Some(count) = u16_at(message, 10) {
            message[10..12].copy_from_slice(&count.saturating_add(1).to_be_bytes());
        }
        self.prior_mac.clear();
        self.prior_mac.extend_from_slice(mac);
        self.first = false;
    }

    /// How many bytes [`Signer::sign`] adds with `other_len` bytes of
    /// other data: what a reply must leave room for.
    pub fn record_len(&self, other_len: usize) -> usize {
        let mac_len = self.key.algorithm.ring().digest_algorithm().output_len();
        self.key.name.len() + 10 + self.key.algorithm.wire().len() + 8 + 2 + mac_len + 6 + other_len
    }

    /// Verifies `reply`, a reply to the message this signed last, at `now`:
    /// signed with this key, its MAC (whole or truncated as RFC 8945
    /// §5.2.2.1 allows) over this message's MAC, the reply as it was before
    /// it was signed and its TSIG variables (§5.3), within its fudge.
    pub fn verify_reply(&self, reply: &[u8], now: u64) -> Result<(), ReplyError> {
        let tsig = last_tsig(reply)?;
        let mut name = [0u8; MAX_NAME_LEN];
        let name = tsig.key(reply, &mut name).ok_or(ReplyError::Malformed)?;
        let algorithm = reply
            .get(tsig.algorithm.clone())
            .ok_or(ReplyError::Malformed)?;
        if *name != *self.key.name || !algorithm.eq_ignore_ascii_case(self.key.algorithm.wire()) {
            return Err(ReplyError::OtherKey);
        }
        // BADSIG and BADKEY come unsigned (§5.3.2); none is an
        // acknowledgement, signed or not.
        match u16_at(reply, tsig.mac.end + 2).ok_or(ReplyError::Malformed)? {
            0 => {}
            error => return Err(ReplyError::PeerError(error)),
        }
        let mac = reply.get(tsig.mac.clone()).ok_or(ReplyError::Malformed)?;
        if !mac_len_allowed(self.key.algorithm, mac.len()) {
            return Err(ReplyError::BadMac);
        }
        let expected =
            digest(self.key, &self.prior_mac, reply, &tsig).ok_or(ReplyError::Malformed)?;
        if !mac_matches(expected.as_ref(), mac) {
            return Err(ReplyError::BadMac);
        }
        if !in_time(tsig.time_and_fudge, now) {
            return Err(ReplyError::BadTime);
        }
        Ok(())
    }

    /// The key it signs with.
    pub fn key(&self) -> &'k Key {
        self.key
    }

    /// The current time in the 48 bits TSIG carries: BADTIME's other data.
    pub fn server_time(&self) -> [u8; 6] {
        let time = self.now.to_be_bytes();
        [time[2], time[3], time[4], time[5], time[6], time[7]]
    }
}

/// Why a reply to a message cairn signed (a NOTIFY) is not taken as the
/// peer's: RFC 8945 §5.3 has every reply to a signed request signed, its
/// MAC chained to the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("the reply is not signed")]
    Unsigned,
    #[error("the reply's records cannot be read")]
    Malformed,
    #[error("the reply is signed with another key or algorithm")]
    OtherKey,
    #[error(
        "the reply carries TSIG error {0} (16 BADSIG, 17 BADKEY, 18 BADTIME): the peer does not hold this key, or not this secret"
    )]
    PeerError(u16),
    #[error("the reply's MAC does not verify")]
    BadMac,
    #[error("the reply was signed further from this server's clock than its fudge")]
    BadTime,
}

/// The TSIG record of `message`, which must be its last (RFC 8945 §5.1).
fn last_tsig(message: &[u8]) -> Result<Tsig, ReplyError> {
    let count = |at| u16_at(message, at).ok_or(ReplyError::Malformed);
    let (questions, records) = (count(4)?, [count(6)?, count(8)?, count(10)?]);
    let [answers, authorities, additionals] = records;
    let Some(before_last) = additionals.checked_sub(1) else {
        return Err(ReplyError::Unsigned);
    };
    let mut at = HEADER_LEN;
    for _ in 0..questions {
        at = skip_name(message, at).ok_or(ReplyError::Malformed)? + 4;
    }
    let skipped = u32::from(answers) + u32::from(authorities) + u32::from(before_last);
    for _ in 0..skipped {
        let owner_end = skip_name(message, at).ok_or(ReplyError::Malformed)?;
        let rdata_len = usize::from(u16_at(message, owner_end + 8).ok_or(ReplyError::Malformed)?);
        at = owner_end + 10 + rdata_len;
    }
    read_additional(message, at, 1)
        .ok_or(ReplyError::Malformed)?
        .tsig
        .ok_or(ReplyError::Unsigned)
}

/// The most a TSIG record adds to a message: the longest key name,
/// algorithm, MAC (SHA-512) and BADTIME's other data.
pub const MAX_TSIG_LEN: usize = MAX_NAME_LEN + 10 + 13 + 8 + 2 + 64 + 6 + 6;

#[cfg(test)]
mod tests;
