//! Cloud Map's validation rules: names, limits, record-type combinations and
//! what an instance must carry for its service's template. Each check turns
//! raw input into a value that can no longer be wrong, or an `InvalidInput`
//! that says what is wrong and how to fix it.
//!
//! - `names`: DNS names and labels, and what must fit in one: a service's
//!   full name, its instances' host names, a zone's SOA names.
//! - `service`: a service's template and health checks.
//! - `instance`: an instance's id and attributes.
//! - `transfer`: a zone's own transfer settings.
//!
//! The small checks every kind of resource shares are here.

mod instance;
mod names;
mod service;
mod transfer;

pub use super::attributes::{
    ATTR_CNAME, ATTR_INIT_HEALTH, ATTR_IPV4, ATTR_IPV6, ATTR_PORT, ATTR_WEIGHT,
};
pub use instance::{endpoint, initial_health, instance_id};
pub use names::{
    MAX_NAME_SERVER_ADDRESSES, MAX_NAME_SERVERS, dns_name, instance_host_length, namespace_name,
    service_fqdn_length, service_name, soa_names,
};
pub use service::{
    MAX_DEREGISTER_AFTER_MS, MAX_HEARTBEAT_TTL_MS, MIN_HEARTBEAT_TTL_MS, health_check, heartbeat,
    seconds_to_millis, service, template,
};
pub use transfer::{MAX_TRANSFER_ENTRIES, transfer};

use super::error::{RegistryError, Result};
use super::model::Tags;

const MAX_REQUEST_ID: usize = 64;
const MAX_DESCRIPTION: usize = 1024;
const MAX_TTL: u32 = 2_147_483_647;
const MAX_TAGS: usize = 50;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;
/// Cloud Map's quota of attributes on one service, and the most one
/// Update/DeleteServiceAttributes call may name.
pub const MAX_SERVICE_ATTRIBUTES: usize = 30;
const MAX_SERVICE_ATTRIBUTE_KEY: usize = 255;
const MAX_SERVICE_ATTRIBUTE_VALUE: usize = 1024;
const MAX_REGION: usize = 32;

fn invalid(message: impl Into<String>) -> RegistryError {
    RegistryError::invalid(message)
}

pub fn description(text: Option<&str>) -> Result<()> {
    match text {
        Some(text) if text.len() > MAX_DESCRIPTION => Err(invalid(format!(
            "description is longer than {MAX_DESCRIPTION} characters"
        ))),
        _ => Ok(()),
    }
}

pub fn request_id(what: &str, id: Option<&str>) -> Result<()> {
    match id {
        Some(id) if id.is_empty() || id.len() > MAX_REQUEST_ID => Err(invalid(format!(
            "{what} must be 1 to {MAX_REQUEST_ID} characters"
        ))),
        _ => Ok(()),
    }
}

pub fn ttl(what: &str, ttl: i64) -> Result<u32> {
    u32::try_from(ttl)
        .ok()
        .filter(|ttl| *ttl <= MAX_TTL)
        .ok_or_else(|| invalid(format!("{what} must be 0 to {MAX_TTL}, got {ttl}")))
}

pub fn tags(tags: &Tags) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(RegistryError::TooManyTags(format!(
            "a resource may carry at most {MAX_TAGS} tags"
        )));
    }
    for (key, value) in tags {
        if key.is_empty() || key.len() > MAX_TAG_KEY {
            return Err(invalid(format!(
                "tag key must be 1 to {MAX_TAG_KEY} characters"
            )));
        }
        if value.len() > MAX_TAG_VALUE {
            return Err(invalid(format!(
                "tag '{key}' has a value longer than {MAX_TAG_VALUE} characters"
            )));
        }
    }
    Ok(())
}

/// A region as it goes into an ARN: 1 to 32 lowercase letters, digits and
/// hyphens (`us-east-1`, `eu-central-2`; a test's `local`).
pub fn region(region: Option<&str>) -> Result<()> {
    match region {
        Some(text)
            if text.is_empty()
                || text.len() > MAX_REGION
                || !text
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
        {
            Err(invalid(format!(
                "region '{text}' is not 1 to {MAX_REGION} lowercase letters, digits and hyphens"
            )))
        }
        _ => Ok(()),
    }
}

/// The keys of an Update/DeleteServiceAttributes call: 1 to 30, each 1 to
/// 255 printable ASCII characters without spaces (Cloud Map's pattern
/// `[a-zA-Z0-9!-~]+`).
pub fn service_attribute_keys<'a>(keys: impl ExactSizeIterator<Item = &'a String>) -> Result<()> {
    let count = keys.len();
    if !(1..=MAX_SERVICE_ATTRIBUTES).contains(&count) {
        return Err(invalid(format!(
            "Attributes must name 1 to {MAX_SERVICE_ATTRIBUTES} attributes, not {count}"
        )));
    }
    for key in keys {
        if key.is_empty()
            || key.len() > MAX_SERVICE_ATTRIBUTE_KEY
            || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(invalid(format!(
                "Attributes: key '{key}' must be 1 to {MAX_SERVICE_ATTRIBUTE_KEY} printable ASCII characters without spaces"
            )));
        }
    }
    Ok(())
}

/// A service attribute's value: up to 1024 printable ASCII characters,
/// spaces and tabs allowed inside but not at either end (Cloud Map's
/// pattern).
pub fn service_attribute_value(key: &str, value: &str) -> Result<()> {
    let inner_ok = value
        .bytes()
        .all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\t');
    let ends_ok = value.bytes().next().is_none_or(|b| b.is_ascii_graphic())
        && value.bytes().last().is_none_or(|b| b.is_ascii_graphic());
    if value.len() > MAX_SERVICE_ATTRIBUTE_VALUE || !inner_ok || !ends_ok {
        return Err(invalid(format!(
            "Attributes: the value of '{key}' must be at most {MAX_SERVICE_ATTRIBUTE_VALUE} printable ASCII characters, with spaces or tabs only inside"
        )));
    }
    Ok(())
}
