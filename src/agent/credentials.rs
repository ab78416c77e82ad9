//! The key the agent signs with on TCP, found where the AWS tools look:
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`),
//! else the profile (`AWS_PROFILE`, default `default`) of the shared
//! credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default
//! `~/.aws/credentials`); the region from `AWS_REGION`,
//! `AWS_DEFAULT_REGION` or the profile in `~/.aws/config`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::client::Credentials;
use crate::admin::sigv4::AccessKey;

/// The region named when none is configured; cairn accepts any.
const DEFAULT_REGION: &str = "us-east-1";

/// Reads the credentials from `env` (a lookup, so tests need not touch the
/// process environment).
pub fn find(env: impl Fn(&str) -> Option<String>) -> Result<Credentials, String> {
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".to_string());
    let home = env("HOME").map(PathBuf::from);
    let key = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => AccessKey {
            access_key_id: id,
            secret,
            session_token: env("AWS_SESSION_TOKEN"),
        },
        (Some(_), None) | (None, Some(_)) => {
            return Err(
                "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither".to_string(),
            );
        }
        (None, None) => {
            let path = env("AWS_SHARED_CREDENTIALS_FILE")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|home| home.join(".aws/credentials")))
                .ok_or("no AWS_ACCESS_KEY_ID, and no HOME to find ~/.aws/credentials")?;
            let section = read_section(&path, &profile)?.ok_or_else(|| {
                format!(
                    "no AWS_ACCESS_KEY_ID, and {} has no [{profile}] profile",
                    path.display()
                )
            })?;
            let field = |name: &str| {
                section
                    .get(name)
                    .cloned()
                    .ok_or_else(|| format!("{} [{profile}] has no {name}", path.display()))
            };
            AccessKey {
                access_key_id: field("aws_access_key_id")?,
                secret: field("aws_secret_access_key")?,
                session_token: section.get("aws_session_token").cloned(),
            }
        }
    };
    let from_config = || -> Result<Option<String>, String> {
        let Some(path) = env("AWS_CONFIG_FILE")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|home| home.join(".aws/config")))
        else {
            return Ok(None);
        };
        let name = if profile == "default" {
            profile.clone()
        } else {
            format!("profile {profile}")
        };
        Ok(read_section(&path, &name)?.and_then(|section| section.get("region").cloned()))
    };
    let region = match env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        Some(region) => region,
        None => from_config()?.unwrap_or_else(|| DEFAULT_REGION.to_string()),
    };
    Ok(Credentials { key, region })
}

/// One `[section]` of an INI file as the AWS tools write them; `None` when
/// the file or the section is missing.
fn read_section(path: &Path, wanted: &str) -> Result<Option<HashMap<String, String>>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    };
    Ok(section(&text, wanted))
}

fn section(text: &str, wanted: &str) -> Option<HashMap<String, String>> {
    let mut current: Option<&str> = None;
    let mut found: Option<HashMap<String, String>> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim());
            if current == Some(wanted) {
                found.get_or_insert_with(HashMap::new);
            }
            continue;
        }
        if current == Some(wanted)
            && let Some((key, value)) = line.split_once('=')
            && let Some(found) = found.as_mut()
        {
            found.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_environment_comes_first() {
        let found = find(env(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "s3cret"),
            ("AWS_DEFAULT_REGION", "eu-west-3"),
        ]))
        .expect("found");
        assert_eq!(found.key.access_key_id, "AKID");
        assert_eq!(found.key.secret, "s3cret");
        assert_eq!(found.region, "eu-west-3");
        assert!(find(env(&[("AWS_ACCESS_KEY_ID", "AKID")])).is_err());
    }

    #[test]
    fn else_the_profile_of_the_shared_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join(".aws")).expect("mkdir");
        std::fs::write(
            dir.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = D\naws_secret_access_key = d\n\n[ops]\naws_access_key_id = O\naws_secret_access_key = o\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join(".aws/config"),
            "[profile ops]\nregion = ap-south-1\n",
        )
        .expect("write");
        let home = dir.path().display().to_string();
        let found = find(env(&[("HOME", &home), ("AWS_PROFILE", "ops")])).expect("found");
        assert_eq!(
            (found.key.access_key_id.as_str(), found.region.as_str()),
            ("O", "ap-south-1")
        );
        let found = find(env(&[("HOME", &home)])).expect("found");
        assert_eq!(
            (found.key.access_key_id.as_str(), found.region.as_str()),
            ("D", DEFAULT_REGION)
        );
        assert!(find(env(&[("HOME", &home), ("AWS_PROFILE", "nope")])).is_err());
    }
}
