//! The call sequences of the Go tools that cannot run here (wave2-facts
//! §C4), replayed with boto3 call for call: Terraform's
//! `aws_service_discovery_*` resources and ExternalDNS's `aws-sd` provider.

use hickory_proto::rr::{RData, RecordType};
use serde_json::json;

use super::{ApiServer, DEFAULT_KEY, KEY_ID, SECRET, python};

const EDNS: &str = r#"
[namespace]
name = "edns.test"
type = "DNS_PRIVATE"
"#;

#[test]
fn terraforms_sequence_creates_reads_updates_and_destroys() {
    let Some(python) = python() else { return };
    let account = "123456789012";
    let api = ApiServer::start(&[], &[DEFAULT_KEY], &format!("account_id = \"{account}\""));
    let key = (KEY_ID, SECRET);
    let state = api.boto3(&python, "terraform", key, &json!({"account_id": account}));
    // The update through RegisterInstance is in DNS.
    let answer = api.server.udp("api.tf.test.", RecordType::A);
    let addresses: Vec<String> = answer
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(address) => Some(address.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(addresses, ["10.1.0.2"], "{answer:?}");
    let mut state = state;
    state["account_id"] = json!(account);
    let destroyed = api.boto3(&python, "terraform_destroy", key, &state);
    assert_eq!(destroyed["namespaces"], 0, "{destroyed}");
}

#[test]
fn externaldns_sequence_sees_at_most_100_instances_without_max_results() {
    let Some(python) = python() else { return };
    let api = ApiServer::start(&[("edns.test.toml", EDNS)], &[DEFAULT_KEY], "");
    let result = api.boto3(&python, "externaldns", (KEY_ID, SECRET), &json!({}));
    assert_eq!(result["left"], json!(["10.2.0.120"]), "{result}");
    assert_eq!(result["ttl"], 60, "{result}");
    let answer = api.server.udp("app.edns.test.", RecordType::A);
    assert_eq!(answer.answers.len(), 1, "{answer:?}");
}
