//! The AWS CLI over TCP with SigV4, configured as the README says: the
//! endpoint from AWS_ENDPOINT_URL_SERVICEDISCOVERY, the host prefix off
//! with AWS_DISABLE_HOST_PREFIX_INJECTION.

use std::path::Path;
use std::process::Command;

use hickory_proto::rr::RecordType;
use serde_json::Value;

use super::{ApiServer, DEFAULT_KEY, KEY_ID, REGION, SECRET, aws_cli};

fn aws(cli: &Path, api: &ApiServer, args: &[&str]) -> Value {
    let output = Command::new(cli)
        .arg("servicediscovery")
        .args(args)
        .args(["--output", "json"])
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ENDPOINT_URL_SERVICEDISCOVERY", &api.endpoint)
        .env("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run aws");
    assert!(
        output.status.success(),
        "aws servicediscovery {args:?} failed:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        api.server.log()
    );
    let text = String::from_utf8_lossy(&output.stdout);
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"))
    }
}

#[test]
fn the_aws_cli_drives_the_flow_over_tcp_with_sigv4() {
    let Some(cli) = aws_cli() else { return };
    let api = ApiServer::start(&[], &[DEFAULT_KEY], "");
    let created = aws(
        &cli,
        &api,
        &[
            "create-private-dns-namespace",
            "--name",
            "cli.test",
            "--vpc",
            "vpc-1",
        ],
    );
    let operation_id = created["OperationId"].as_str().expect("an OperationId");
    let operation = aws(
        &cli,
        &api,
        &["get-operation", "--operation-id", operation_id],
    );
    assert_eq!(operation["Operation"]["Status"], "SUCCESS");
    let namespace_id = operation["Operation"]["Targets"]["NAMESPACE"]
        .as_str()
        .expect("a namespace id")
        .to_string();
    let service = aws(
        &cli,
        &api,
        &[
            "create-service",
            "--name",
            "api",
            "--namespace-id",
            &namespace_id,
            "--dns-config",
            "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=10}]",
        ],
    );
    let service_id = service["Service"]["Id"]
        .as_str()
        .expect("a service id")
        .to_string();
    aws(
        &cli,
        &api,
        &[
            "register-instance",
            "--service-id",
            &service_id,
            "--instance-id",
            "api-1",
            "--attributes",
            "AWS_INSTANCE_IPV4=10.1.0.1",
        ],
    );
    let answer = api.server.udp("api.cli.test.", RecordType::A);
    assert_eq!(answer.answers.len(), 1, "{answer:?}");
    let found = aws(
        &cli,
        &api,
        &[
            "discover-instances",
            "--namespace-name",
            "cli.test",
            "--service-name",
            "api",
        ],
    );
    assert_eq!(found["Instances"][0]["InstanceId"], "api-1", "{found}");
    let listed = aws(&cli, &api, &["list-instances", "--service-id", &service_id]);
    assert_eq!(listed["Instances"].as_array().map(Vec::len), Some(1));
    aws(
        &cli,
        &api,
        &[
            "deregister-instance",
            "--service-id",
            &service_id,
            "--instance-id",
            "api-1",
        ],
    );
    aws(&cli, &api, &["delete-service", "--id", &service_id]);
    aws(&cli, &api, &["delete-namespace", "--id", &namespace_id]);
    let namespaces = aws(&cli, &api, &["list-namespaces"]);
    assert_eq!(namespaces["Namespaces"], Value::Array(Vec::new()));
}
