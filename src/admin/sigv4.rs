//! AWS Signature Version 4, checked on the server: the signature in a
//! request's `Authorization` header is recomputed from the request as it
//! arrived (method, path, query, the headers the client says it signed —
//! with `Host` as received, since the SDKs sign `data-<host>` for
//! DiscoverInstances — and the SHA-256 of the body) and the caller's secret,
//! and compared in constant time.
//!
//! Pure: no I/O and no clock (the caller passes the time), so it is tested
//! against AWS's published test vectors (`sigv4/vectors/`). It knows nothing
//! of actions, scopes or the registry: it answers "which key signed this,
//! for which region", or why not, in the words AWS's JSON services use.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use hyper::HeaderMap;
use ring::{digest, hmac};
use subtle::ConstantTimeEq;

/// The only algorithm SigV4 names (SigV4a's ECDSA is not accepted).
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// One access key the server accepts.
#[derive(Clone)]
pub struct AccessKey {
    pub access_key_id: String,
    /// Never printed: `Debug` below leaves it out.
    pub secret: String,
    /// When set, every request signed with this key must carry this
    /// `X-Amz-Security-Token` (signed); when unset, a request that carries
    /// one is refused.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("session_token", &self.session_token.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

/// The keys, the service name a credential scope must carry and the
/// allowed clock skew.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: HashMap<String, AccessKey>,
    service: String,
    max_skew: Duration,
}

/// The parts of a request the signature covers, as received.
#[derive(Debug)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as sent on the wire (percent-encoded as the client sent it).
    pub path: &'a str,
    /// The query string without `?`, as sent; empty when there is none.
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Who signed a request that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub access_key_id: String,
    /// The region of the credential scope: what the client believes it
    /// talks to, which cairn puts into the ARNs it creates.
    pub region: String,
}

/// Why a request is not authenticated. Each names the error AWS's JSON
/// services answer with ([`AuthError::code`]) and its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("Missing Authentication Token")]
    Missing,
    /// An `Authorization` header cairn cannot read, or one that leaves out
    /// what a signature must cover.
    #[error("{0}")]
    Incomplete(String),
    /// The access key id is not one of the configured keys, or the session
    /// token does not fit the key.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// The signature does not match, the scope names another service or
    /// day, or the time is outside the allowed skew.
    #[error("{0}")]
    Invalid(String),
}

impl AuthError {
    /// AWS's error name for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "MissingAuthenticationTokenException",
            Self::Incomplete(_) => "IncompleteSignatureException",
            Self::UnknownKey => "UnrecognizedClientException",
            Self::Invalid(_) => "InvalidSignatureException",
        }
    }

    /// AWS's HTTP status for it: 403 for a request that carries no
    /// authentication at all, 400 for the rest (as the JSON services answer).
    pub fn status(&self) -> u16 {
        match self {
            Self::Missing => 403,
            _ => 400,
        }
    }
}

/// The fields of `Authorization: AWS4-HMAC-SHA256 Credential=…,
/// SignedHeaders=…, Signature=…`.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl Verifier {
    /// A verifier for `service` (`servicediscovery` for cairn's API)
    /// accepting `keys` and requests stamped within `max_skew` of the
    /// server's clock.
    pub fn new(keys: Vec<AccessKey>, service: &str, max_skew: Duration) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|key| (key.access_key_id.clone(), key))
                .collect(),
            service: service.to_string(),
            max_skew,
        }
    }

    /// Checks `request`'s signature at `now_unix` (seconds since the epoch).
    pub fn verify(&self, request: &SignedRequest<'_>, now_unix: i64) -> Result<Signer, AuthError> {
        let header = match request.headers.get("authorization") {
            None => return Err(AuthError::Missing),
            Some(value) => value.to_str().map_err(|_| {
                AuthError::Incomplete("the Authorization header is not ASCII text".to_string())
            })?,
        };
        let auth = parse_authorization(header)?;
        if auth.service != self.service {
            return Err(AuthError::Invalid(format!(
                "Credential should be scoped to correct service: '{}'.",
                self.service
            )));
        }
        if !auth.signed_headers.contains(&"host") {
            return Err(AuthError::Incomplete(
                "'Host' must be a 'SignedHeader' in the AWS Authorization.".to_string(),
            ));
        }
        // Every x-amz-* header sent must be signed: X-Amz-Target picks the
        // action, so an unsigned one would let a captured GetService be
        // replayed as DeleteService with the same body.
        for name in request.headers.keys() {
            let name = name.as_str();
            if name.starts_with("x-amz-") && !auth.signed_headers.contains(&name) {
                return Err(AuthError::Incomplete(format!(
                    "'{name}' is sent but is not a 'SignedHeader' in the AWS Authorization; sign every x-amz-* header"
                )));
            }
        }
        let timestamp = header_text(request.headers, "x-amz-date")?.ok_or_else(|| {
            AuthError::Incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header; cairn reads 'X-Amz-Date'."
                    .to_string(),
            )
        })?;
        let stamped = parse_amz_date(timestamp).ok_or_else(|| {
            AuthError::Incomplete(format!(
                "X-Amz-Date '{timestamp}' is not a time like 20150830T123600Z"
            ))
        })?;
        if !timestamp.starts_with(auth.date) || auth.date.len() != 8 {
            return Err(AuthError::Invalid(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{timestamp}'.",
                auth.date,
                timestamp.get(..8).unwrap_or(timestamp)
            )));
        }
        let skew = i64::try_from(self.max_skew.as_secs()).unwrap_or(i64::MAX);
        if stamped < now_unix.saturating_sub(skew) {
            return Err(AuthError::Invalid(format!(
                "Signature expired: {timestamp} is now earlier than {} ({} - {}).",
                format_amz_date(now_unix.saturating_sub(skew)),
                format_amz_date(now_unix),
                describe_skew(self.max_skew)
            )));
        }
        if stamped > now_unix.saturating_add(skew) {
            return Err(AuthError::Invalid(format!(
                "Signature not yet current: {timestamp} is still later than {} ({} + {}).",
                format_amz_date(now_unix.saturating_add(skew)),
                format_amz_date(now_unix),
                describe_skew(self.max_skew)
            )));
        }
        let key = self
            .keys
            .get(auth.access_key_id)
            .ok_or(AuthError::UnknownKey)?;
        let token = header_text(request.headers, "x-amz-security-token")?;
        match (&key.session_token, token) {
            (None, None) => {}
            (Some(expected), Some(sent))
                if bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) => {}
            _ => return Err(AuthError::UnknownKey),
        }
        let payload_hash = hex(digest::digest(&digest::SHA256, request.body).as_ref());
        if let Some(declared) = header_text(request.headers, "x-amz-content-sha256")?
            && declared != payload_hash
        {
            // UNSIGNED-PAYLOAD too: the body picks what is changed, so it
            // must be covered by the signature.
            return Err(AuthError::Invalid(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_string(),
            ));
        }
        let canonical = canonical_request(request, &auth.signed_headers, &payload_hash)?;
        let scope = format!(
            "{}/{}/{}/aws4_request",
            auth.date, auth.region, auth.service
        );
        let string_to_sign = format!(
            "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
            hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
        );
        let signing_key = signing_key(&key.secret, auth.date, auth.region, auth.service);
        let expected = hex(hmac::sign(&signing_key, string_to_sign.as_bytes()).as_ref());
        // Constant time, so the time to refuse says nothing about how many
        // leading characters of a forged signature were right.
        if !bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
            return Err(AuthError::Invalid(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
                    .to_string(),
            ));
        }
        Ok(Signer {
            access_key_id: key.access_key_id.clone(),
            region: auth.region.to_string(),
        })
    }
}

fn describe_skew(skew: Duration) -> String {
    let secs = skew.as_secs();
    if secs.is_multiple_of(60) {
        format!("{} min.", secs / 60)
    } else {
        format!("{secs} s.")
    }
}

/// One header's value as text, `None` when absent.
fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, AuthError> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| AuthError::Incomplete(format!("the {name} header is not ASCII text")))
        })
        .transpose()
}

/// The region of an Authorization header's credential scope, unverified:
/// where the socket, which asks for no signature, learns the caller's
/// region when its client signs anyway.
pub fn scope_region(header: &str) -> Option<&str> {
    parse_authorization(header).ok().map(|auth| auth.region)
}

fn parse_authorization(header: &str) -> Result<Authorization<'_>, AuthError> {
    let incomplete = |what: &str| {
        AuthError::Incomplete(format!(
            "Authorization header {what}; expected '{ALGORITHM} Credential=<key id>/<yyyymmdd>/<region>/<service>/aws4_request, SignedHeaders=<a;b>, Signature=<hex>'"
        ))
    };
    let rest = header
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
        .ok_or_else(|| incomplete("does not start with AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| incomplete(&format!("has '{part}', which is not name=value")))?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(incomplete(&format!("has an unknown field '{name}'"))),
        };
        if slot.replace(value).is_some() {
            return Err(incomplete(&format!("has '{name}' twice")));
        }
    }
    let credential = credential.ok_or_else(|| incomplete("has no Credential"))?;
    let signed = signed.ok_or_else(|| incomplete("has no SignedHeaders"))?;
    let signature = signature.ok_or_else(|| incomplete("has no Signature"))?;
    let mut fields = credential.split('/');
    let (Some(access_key_id), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(incomplete(&format!(
            "has Credential '{credential}', which is not <key id>/<yyyymmdd>/<region>/<service>/aws4_request"
        )));
    };
    if [access_key_id, date, region, service]
        .iter()
        .any(|field| field.is_empty())
    {
        return Err(incomplete(&format!(
            "has Credential '{credential}' with an empty field"
        )));
    }
    let signed_headers: Vec<&str> = signed.split(';').collect();
    // The canonical form lists them sorted, lower case, once each; anything
    // else cannot have come from a SigV4 signer.
    let canonical = signed_headers.windows(2).all(|pair| pair[0] < pair[1])
        && signed_headers.iter().all(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| !b.is_ascii_uppercase() && b.is_ascii_graphic())
        });
    if !canonical {
        return Err(incomplete(&format!(
            "has SignedHeaders '{signed}', which is not a sorted, lower-case list like host;x-amz-date"
        )));
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// The canonical request: method, canonical path, canonical query, the
/// signed headers, their names, the payload hash.
fn canonical_request(
    request: &SignedRequest<'_>,
    signed_headers: &[&str],
    payload_hash: &str,
) -> Result<String, AuthError> {
    let mut text = String::with_capacity(256 + request.path.len());
    text.push_str(request.method);
    text.push('\n');
    text.push_str(&canonical_path(request.path));
    text.push('\n');
    text.push_str(&canonical_query(request.query));
    text.push('\n');
    for name in signed_headers {
        let mut values = request.headers.get_all(*name).iter().peekable();
        if values.peek().is_none() {
            return Err(AuthError::Incomplete(format!(
                "'{name}' is a 'SignedHeader' in the AWS Authorization but is not in the request"
            )));
        }
        text.push_str(name);
        text.push(':');
        for (index, value) in values.enumerate() {
            if index > 0 {
                text.push(',');
            }
            let value = std::str::from_utf8(value.as_bytes()).map_err(|_| {
                AuthError::Incomplete(format!("the signed header {name} is not UTF-8"))
            })?;
            // Trimmed, inner runs of spaces collapsed to one.
            let mut first = true;
            for word in value.split_whitespace() {
                if !first {
                    text.push(' ');
                }
                text.push_str(word);
                first = false;
            }
        }
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&signed_headers.join(";"));
    text.push('\n');
    text.push_str(payload_hash);
    Ok(text)
}

/// The path with `.`/`..` segments and repeated slashes removed (RFC 3986
/// §5.2.4), each byte other than unreserved ones and `/` percent-encoded.
/// The path arrives encoded once already, so an encoded byte is encoded
/// again: AWS's double encoding for every service but S3.
fn canonical_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    out.push('/');
    out.push_str(&segments.join("/"));
    if !segments.is_empty()
        && (path.ends_with('/') || path.ends_with("/.") || path.ends_with("/.."))
    {
        out.push('/');
    }
    let mut encoded = String::with_capacity(out.len());
    for byte in out.bytes() {
        if byte == b'/' {
            encoded.push('/');
        } else {
            encode_byte(&mut encoded, byte);
        }
    }
    encoded
}

/// Each `name=value` decoded, then encoded strictly, sorted by name then
/// value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (encode(&decode(name)), encode(&decode(value)))
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len());
    for (index, (name, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

fn encode_byte(out: &mut String, byte: u8) {
    if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
        out.push(char::from(byte));
    } else {
        let _ = write!(out, "%{byte:02X}");
    }
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for byte in bytes {
        encode_byte(&mut out, *byte);
    }
    out
}

/// Percent-decoding; a `%` not followed by two hex digits stays as it is.
fn decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(value) = bytes
                .get(index + 1..index + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(value);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    out
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let date_key = step(format!("AWS4{secret}").as_bytes(), date);
    let region_key = step(date_key.as_ref(), region);
    let service_key = step(region_key.as_ref(), service);
    let signing = step(service_key.as_ref(), "aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, signing.as_ref())
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// `20150830T123600Z` → seconds since the epoch.
fn parse_amz_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Seconds since the epoch → `20150830T123600Z`, for error messages.
fn format_amz_date(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm), so no date crate is needed for one format.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

mod sign;
pub use sign::{amz_date, authorization};

#[cfg(test)]
mod tests;
