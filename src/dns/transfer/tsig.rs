//! TSIG (RFC 8945) with HMAC-SHA256/384/512: verifying a signed request,
//! signing every reply to it, and chaining the MACs of a transfer's
//! messages (§5.3.1), which hickory-proto does not sign. Hand-written over
//! `ring`'s HMAC (already cairn's crypto, through rustls): the digests are
//! plain concatenations of bytes the message already holds.
//!
//! Only the TCP side uses this (transfers, and the signed SOA query Knot
//! sends before an IXFR); it reads the clock, which the answer core never
//! does.

use std::path::Path;

use ring::hmac;

use crate::dns::wire::{MAX_NAME_LEN, TYPE_TSIG, Tsig, TsigError};

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

/// A request that did not verify: the error its reply carries and, for
/// BADTIME (a good MAC at the wrong time), the signer that signs it.
pub struct Failure<'k> {
    pub error: TsigError,
    pub signer: Option<Signer<'k>>,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// Verifies `query`'s TSIG against `keys` at `now` (seconds since 1970).
pub fn verify<'k>(keys: &'k [Key], query: &[u8], tsig: &Tsig, now: u64) -> Verdict<'k> {
    let fail = |error| Failure {
        error,
        signer: None,
    };
    let mut name = [0u8; MAX_NAME_LEN];
    let name = tsig.key(query, &mut name).ok_or(fail(TsigError::BadKey))?;
    let algorithm = query
        .get(tsig.algorithm.clone())
        .ok_or(fail(TsigError::BadKey))?
        .to_ascii_lowercase();
    let key = keys
        .iter()
        .find(|key| *key.name == *name && key.algorithm.wire() == algorithm.as_slice())
        .ok_or(fail(TsigError::BadKey))?;
    let mac = query.get(tsig.mac.clone()).ok_or(fail(TsigError::BadSig))?;
    // Error, other length and other data follow the original id.
    let other_len = usize::from(u16_at(query, tsig.mac.end + 4).ok_or(fail(TsigError::BadSig))?);
    let error_and_other = query
        .get(tsig.mac.end + 2..tsig.mac.end + 6 + other_len)
        .ok_or(fail(TsigError::BadSig))?;
    let mut digest = query
        .get(..tsig.record_start)
        .ok_or(fail(TsigError::BadSig))?
        .to_vec();
    let additionals = u16_at(&digest, 10).ok_or(fail(TsigError::BadSig))?;
    digest[..2].copy_from_slice(&tsig.original_id.to_be_bytes());
    digest[10..12].copy_from_slice(&additionals.saturating_sub(1).to_be_bytes());
    digest.extend_from_slice(&key.name);
    digest.extend_from_slice(&CLASS_ANY);
    digest.extend_from_slice(&[0, 0, 0, 0]);
    digest.extend_from_slice(key.algorithm.wire());
    digest.extend_from_slice(&tsig.time_and_fudge);
    digest.extend_from_slice(error_and_other);
    // A truncated MAC (RFC 8945 §5.2.2.1) is not accepted: nothing sends one.
    if hmac::verify(&key.secret, &digest, mac).is_err() {
        return Err(fail(TsigError::BadSig));
    }
    let signer = Signer {
        key,
        prior_mac: mac.to_vec(),
        original_id: tsig.original_id,
        first: true,
        now,
    };
    let [t0, t1, t2, t3, t4, t5, f0, f1] = tsig.time_and_fudge;
    let signed = u64::from_be_bytes([0, 0, t0, t1, t2, t3, t4, t5]);
    let fudge = u64::from(u16::from_be_bytes([f0, f1]));
    if now.abs_diff(signed) > fudge {
        return Err(Failure {
            error: TsigError::BadTime,
            signer: Some(signer),
        });
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

/// The most a TSIG record adds to a message: the longest key name,
/// algorithm, MAC (SHA-512) and BADTIME's other data.
pub const MAX_TSIG_LEN: usize = MAX_NAME_LEN + 10 + 13 + 8 + 2 + 64 + 6 + 6;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_algorithms() {
        assert_eq!(
            Algorithm::from_name("HMAC-SHA256."),
            Some(Algorithm::HmacSha256)
        );
        assert_eq!(Algorithm::from_name("hmac-md5"), None);
        assert_eq!(&*wire_name("XfrKey.").unwrap(), b"\x06xfrkey\x00");
        assert!(wire_name("a..b").is_none());
        assert!(Key::new("k", Algorithm::HmacSha512, b"").is_err());
    }

    #[test]
    fn a_key_file_is_read_only_when_only_its_owner_may_read_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("xfrkey.secret");
        std::fs::write(&path, "c2VjcmV0IGJ5dGVz\n").expect("write the key");
        let load = |mode: u32| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .expect("chmod the key");
            Key::load("xfrkey", "hmac-sha256", &path)
        };
        assert!(load(0o600).is_ok());
        let refused = load(0o644).expect_err("others may read it").to_string();
        assert!(
            refused.contains("xfrkey") && refused.contains("0644") && refused.contains("chmod 600"),
            "{refused}"
        );
        std::fs::write(&path, "not base64!\n").expect("write the key");
        let refused = load(0o600).expect_err("no base64").to_string();
        assert!(refused.contains("base64"), "{refused}");
    }
}
