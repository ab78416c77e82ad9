//! The signing side of SigV4, for cairn's own clients (`cairn agent`
//! talking to a remote server's TCP API): the same canonical request and
//! key derivation the verifier recomputes, so the two cannot drift apart.

use hyper::HeaderMap;
use ring::{digest, hmac};

use super::{
    ALGORITHM, AccessKey, AuthError, SignedRequest, canonical_request, format_amz_date, hex,
    signing_key,
};

/// The `X-Amz-Date` value for `now_unix` (seconds since the epoch).
pub fn amz_date(now_unix: i64) -> String {
    format_amz_date(now_unix)
}

/// The `Authorization` header value for `request`, signed by `key` for
/// `region` and `service` at `timestamp` (an [`amz_date`], which the
/// request must carry as `X-Amz-Date`). Every header in `request.headers`
/// is signed, so they must all be what goes on the wire.
pub fn authorization(
    request: &SignedRequest<'_>,
    key: &AccessKey,
    region: &str,
    service: &str,
    timestamp: &str,
) -> Result<String, AuthError> {
    let date = timestamp.get(..8).ok_or_else(|| {
        AuthError::Incomplete(format!("X-Amz-Date '{timestamp}' is not YYYYMMDDTHHMMSSZ"))
    })?;
    let signed_headers = signed_header_names(request.headers);
    let names: Vec<&str> = signed_headers.iter().map(String::as_str).collect();
    let payload_hash = hex(digest::digest(&digest::SHA256, request.body).as_ref());
    let canonical = canonical_request(request, &names, &payload_hash)?;
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let signing = signing_key(&key.secret, date, region, service);
    let signature = hex(hmac::sign(&signing, string_to_sign.as_bytes()).as_ref());
    Ok(format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        key.access_key_id,
        names.join(";")
    ))
}

/// The header names, lower case, sorted, once each: SigV4's canonical list.
fn signed_header_names(headers: &HeaderMap) -> Vec<String> {
    let mut names: Vec<String> = headers
        .keys()
        .map(|name| name.as_str().to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hyper::header::{HeaderMap, HeaderValue};

    use super::*;
    use crate::admin::sigv4::Verifier;

    fn key(token: Option<&str>) -> AccessKey {
        AccessKey {
            access_key_id: "AKIDSIGNER".to_string(),
            secret: "a/secret+with=symbols".to_string(),
            session_token: token.map(str::to_string),
        }
    }

    fn signed(token: Option<&str>, body: &[u8], now: i64) -> HeaderMap {
        let timestamp = amz_date(now);
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("10.0.0.1:8787"));
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("Route53AutoNaming_v20170314.ListNamespaces"),
        );
        headers.insert(
            "x-amz-date",
            HeaderValue::from_str(&timestamp).expect("ascii"),
        );
        if let Some(token) = token {
            headers.insert(
                "x-amz-security-token",
                HeaderValue::from_str(token).expect("ascii"),
            );
        }
        let request = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        let value = authorization(
            &request,
            &key(token),
            "eu-west-3",
            "servicediscovery",
            &timestamp,
        )
        .expect("sign");
        headers.insert(
            "authorization",
            HeaderValue::from_str(&value).expect("ascii"),
        );
        headers
    }

    fn verify(headers: &HeaderMap, body: &[u8], token: Option<&str>, now: i64) -> bool {
        let verifier = Verifier::new(
            vec![key(token)],
            "servicediscovery",
            Duration::from_secs(300),
        );
        let request = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers,
            body,
        };
        verifier.verify(&request, now).is_ok()
    }

    const NOW: i64 = 1_764_000_000;

    #[test]
    fn what_the_signer_signs_the_verifier_accepts() {
        let headers = signed(None, b"{}", NOW);
        assert!(verify(&headers, b"{}", None, NOW));
        let headers = signed(Some("session-token"), b"{}", NOW);
        assert!(verify(&headers, b"{}", Some("session-token"), NOW));
    }

    #[test]
    fn a_changed_body_or_a_stale_stamp_does_not_verify() {
        let headers = signed(None, b"{}", NOW);
        assert!(!verify(&headers, b"{\"MaxResults\":1}", None, NOW));
        assert!(!verify(&headers, b"{}", None, NOW + 3600));
    }
}
