//! Every way a request can fail SigV4, sent by botocore's own signer and
//! then changed: each refused with AWS's error and status, and nothing
//! created.

use serde_json::{Value, json};

use super::{ApiServer, DEFAULT_KEY, KEY_ID, SECRET, python};

#[test]
fn bad_signatures_are_refused_with_aws_errors_and_change_nothing() {
    let Some(python) = python() else { return };
    let api = ApiServer::start(&[], &[DEFAULT_KEY], "");
    let results = api.boto3(&python, "auth", (KEY_ID, SECRET), &json!({}));
    let expect = |case: &str, status: u64, code: &str| {
        assert_eq!(
            results[case],
            json!([status, code]),
            "{case}: {results:#}\n{}",
            api.server.log()
        );
    };
    assert_eq!(results["good"], json!([200, Value::Null]), "{results:#}");
    expect("wrong_secret", 400, "InvalidSignatureException");
    expect("unknown_key", 400, "UnrecognizedClientException");
    expect("expired", 400, "InvalidSignatureException");
    expect("future", 400, "InvalidSignatureException");
    expect("tampered_body", 400, "InvalidSignatureException");
    expect("tampered_target", 400, "InvalidSignatureException");
    expect("tampered_host", 400, "InvalidSignatureException");
    expect("missing_header", 403, "MissingAuthenticationTokenException");
    expect("malformed_header", 400, "IncompleteSignatureException");
    assert_eq!(results["boto3_wrong_secret"], "InvalidSignatureException");
    assert_eq!(results["boto3_unknown_key"], "UnrecognizedClientException");
    assert_eq!(
        results["namespaces_after"],
        json!([]),
        "a refused request changed state"
    );
}

#[test]
fn a_group_readable_secret_file_stops_the_server_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = super::write_secret(dir.path(), "wide", "s3cret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let port = crate::support::free_port();
    let config_path = dir.path().join("cairn.toml");
    std::fs::write(
        &config_path,
        format!(
            "data_dir = {:?}\n[dns]\nlisten = [\"127.0.0.1:{}\"]\n[admin]\nsocket = {:?}\n[api]\nlisten = [\"127.0.0.1:{port}\"]\n[[api.keys]]\naccess_key_id = \"AKIDWIDE\"\nsecret_file = {:?}\n",
            dir.path().join("data").display().to_string(),
            crate::support::free_port(),
            dir.path().join("admin.sock").display().to_string(),
            secret.display().to_string(),
        ),
    )
    .expect("write config");
    let mut child = crate::support::spawn_server(&config_path, dir.path());
    let status = crate::support::wait_for_exit(&mut child, crate::support::DEADLINE);
    let log = std::fs::read_to_string(dir.path().join("cairn.log")).unwrap_or_default();
    let Some(status) = status else {
        let _ = child.kill();
        panic!("cairn started with a group-readable secret:\n{log}");
    };
    assert!(!status.success());
    assert!(
        log.contains("AKIDWIDE") && log.contains("0640") && log.contains("chmod 600"),
        "{log}"
    );
}
