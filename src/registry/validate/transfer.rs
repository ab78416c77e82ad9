//! A zone's own transfer settings: the one rule for what is stored, from a
//! zones file or the admin API alike. Networks are kept canonical and
//! secondaries once each, in the order first given, so what is shown and
//! compared does not depend on how it was written; the key must be one
//! the server holds, since a zone that names a key no one can sign with
//! could never be transferred.

use super::super::error::{RegistryError, Result};
use super::super::model::{NamespaceType, TransferSettings};
use super::super::networks::canonical;

/// The most networks, and the most secondaries, one zone may list.
pub const MAX_TRANSFER_ENTRIES: usize = 64;

/// `settings` as a namespace of `kind` stores them, when the server holds
/// the keys named `keys` (lower case, no trailing dot).
pub fn transfer(
    kind: NamespaceType,
    settings: TransferSettings,
    keys: &[String],
) -> Result<TransferSettings> {
    if !kind.has_dns() {
        return Err(RegistryError::invalid(
            "an HTTP namespace has no DNS zone to transfer; remove its transfer settings",
        ));
    }
    for (what, count) in [
        ("allow", settings.allow.len()),
        ("notify", settings.notify.len()),
    ] {
        if count > MAX_TRANSFER_ENTRIES {
            return Err(RegistryError::invalid(format!(
                "transfer {what} lists {count} entries; at most {MAX_TRANSFER_ENTRIES} are allowed"
            )));
        }
    }
    let mut notify = Vec::with_capacity(settings.notify.len());
    for secondary in settings.notify {
        if secondary.port() == 0 || secondary.ip().is_unspecified() {
            return Err(RegistryError::invalid(format!(
                "transfer notify: '{secondary}' is not a secondary's address; give its address and port, like \"192.0.2.53:53\""
            )));
        }
        if !notify.contains(&secondary) {
            notify.push(secondary);
        }
    }
    let key = match settings.key {
        Some(key) => {
            let name = key.trim_end_matches('.').to_ascii_lowercase();
            if !keys.contains(&name) {
                return Err(RegistryError::invalid(format!(
                    "transfer key '{key}' is not configured: add it to cairn's config under [[transfer.keys]] (its name and secret_file) first, or name one that is; secrets never travel through the API or zones files"
                )));
            }
            Some(name)
        }
        None => None,
    };
    Ok(TransferSettings {
        allow: canonical(settings.allow),
        notify,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(allow: &[&str], notify: &[&str], key: Option<&str>) -> TransferSettings {
        TransferSettings {
            allow: allow.iter().map(|text| text.parse().unwrap()).collect(),
            notify: notify.iter().map(|text| text.parse().unwrap()).collect(),
            key: key.map(str::to_string),
        }
    }

    #[test]
    fn stored_canonical_with_a_configured_key() {
        let keys = ["xfrkey".to_string()];
        let stored = transfer(
            NamespaceType::DnsPrivate,
            settings(
                &["10.0.0.1/8", "10.1.0.0/8", "127.0.0.2/32"],
                &["127.0.0.1:5300", "127.0.0.1:5300", "[::1]:53"],
                Some("XfrKey."),
            ),
            &keys,
        )
        .unwrap();
        assert_eq!(
            stored,
            settings(
                &["10.0.0.0/8", "127.0.0.2/32"],
                &["127.0.0.1:5300", "[::1]:53"],
                Some("xfrkey")
            )
        );
        assert_eq!(
            transfer(NamespaceType::DnsPublic, TransferSettings::default(), &[]).unwrap(),
            TransferSettings::default(),
            "nothing allowed, no one told, no key: a zone closed to transfers"
        );
    }

    #[test]
    fn an_unknown_key_a_bad_secondary_or_an_http_namespace_is_refused() {
        let keys = ["xfrkey".to_string()];
        let error = transfer(
            NamespaceType::DnsPrivate,
            settings(&[], &[], Some("other")),
            &keys,
        )
        .unwrap_err();
        assert_eq!(error.code(), "InvalidInput");
        assert!(
            error
                .to_string()
                .contains("transfer key 'other' is not configured"),
            "{error}"
        );
        assert!(error.to_string().contains("[[transfer.keys]]"), "{error}");
        for bad in ["127.0.0.1:0", "0.0.0.0:53"] {
            let error =
                transfer(NamespaceType::DnsPublic, settings(&[], &[bad], None), &keys).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("transfer notify: '{bad}'")),
                "{error}"
            );
        }
        let many: Vec<String> = (0..=MAX_TRANSFER_ENTRIES)
            .map(|i| format!("10.0.{i}.0/24"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let error =
            transfer(NamespaceType::DnsPublic, settings(&many, &[], None), &keys).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("transfer allow lists 65 entries"),
            "{error}"
        );
        let error = transfer(NamespaceType::Http, TransferSettings::default(), &keys).unwrap_err();
        assert!(error.to_string().contains("HTTP namespace"), "{error}");
    }
}
