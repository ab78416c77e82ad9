//! The Cloud Map API on TCP, driven by AWS's own clients — boto3 and the
//! AWS CLI, pinned in tests/it/api/requirements.txt and installed by
//! .ci/run — against a real server, with SigV4 and (in `tls`) HTTPS. The
//! clients are found through `CAIRN_TEST_PYTHON` (a Python with boto3) and
//! `CAIRN_TEST_AWS` (the `aws` executable), else on PATH; without them a
//! test skips, except under CI, where it fails.

mod auth;
mod awscli;
mod flow;
mod prefix;
mod scoped;
mod sequences;
mod tls;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{TestServer, free_port};

/// The key every API test signs with, unless it says otherwise.
pub const KEY_ID: &str = "AKIDCAIRNTEST";
pub const SECRET: &str = "cairn-test-secret/with+symbols";
pub const REGION: &str = "eu-west-3";

/// Fails under CI, else says what is skipped and returns `None`.
fn missing(what: &str) -> Option<PathBuf> {
    assert!(
        !crate::support::under_ci(),
        "{what} is not available, and CI is set: .ci/run installs it (tests/it/api/requirements.txt) and sets CAIRN_TEST_PYTHON and CAIRN_TEST_AWS"
    );
    eprintln!("{what} is not available; skipping (under CI this fails)");
    None
}

/// A Python interpreter that can import boto3.
pub fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("CAIRN_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let works = Command::new(&candidate)
        .args(["-c", "import boto3, botocore"])
        .output()
        .is_ok_and(|output| output.status.success());
    if works {
        Some(candidate)
    } else {
        missing(&format!("boto3 (for {})", candidate.display()))
    }
}

/// The AWS CLI.
pub fn aws_cli() -> Option<PathBuf> {
    let candidate = std::env::var_os("CAIRN_TEST_AWS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("aws"));
    let works = Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if works {
        Some(candidate)
    } else {
        missing(&format!("the AWS CLI ({})", candidate.display()))
    }
}

/// One access key for the config: its id, its secret (written to a file
/// with mode 0600) and any extra lines (`read_only = true`, …).
pub struct Key<'a> {
    pub id: &'a str,
    pub secret: &'a str,
    pub extra: &'a str,
}

pub const DEFAULT_KEY: Key<'static> = Key {
    id: KEY_ID,
    secret: SECRET,
    extra: "",
};

/// A server with the API on a TCP port of 127.0.0.1.
pub struct ApiServer {
    pub server: TestServer,
    pub port: u16,
    /// `http://127.0.0.1:PORT` (or https://localhost:PORT with TLS).
    pub endpoint: String,
    /// Holds the secret files; dropped with the server.
    _secrets: tempfile::TempDir,
}

impl ApiServer {
    pub fn start(zone_files: &[(&str, &str)], keys: &[Key<'_>], api_extra: &str) -> Self {
        let secrets = tempfile::tempdir().expect("a directory for secrets");
        let port = free_port();
        // The VPC ids the clients send, mapped as an operator would, to the
        // networks the tests query DNS from.
        let mut config = format!(
            "[private_namespaces.vpcs]\n\"vpc-1\" = [\"127.0.0.0/8\"]\n\"vpc-0123456789abcdef0\" = [\"127.0.0.0/8\"]\n\n[api]\nlisten = [\"127.0.0.1:{port}\"]\n{api_extra}\n"
        );
        for key in keys {
            let path = write_secret(secrets.path(), key.id, key.secret);
            config.push_str(&format!(
                "[[api.keys]]\naccess_key_id = \"{}\"\nsecret_file = {:?}\n{}\n",
                key.id,
                path.display().to_string(),
                key.extra
            ));
        }
        let server = TestServer::start_with(zone_files, &config);
        let scheme_host = if api_extra.contains("tls_cert") {
            "https://localhost"
        } else {
            "http://127.0.0.1"
        };
        Self {
            server,
            port,
            endpoint: format!("{scheme_host}:{port}"),
            _secrets: secrets,
        }
    }

    /// Runs one step of tests/it/api/boto3_client.py with `key` and returns
    /// what it printed.
    pub fn boto3(&self, python: &Path, step: &str, key: (&str, &str), state: &Value) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/api/boto3_client.py");
        let output = Command::new(python)
            .arg(script)
            .args([step, &self.endpoint, REGION, key.0, key.1])
            .arg(state.to_string())
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "boto3 step {step} failed:\n{}\n{stdout}\nserver log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.server.log()
        );
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|error| panic!("boto3 step {step} printed no JSON ({error}): {stdout}"))
    }
}

/// Writes a secret file only its owner may read, as cairn demands.
pub fn write_secret(dir: &Path, name: &str, secret: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).expect("write the secret");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}
