//! Cloud Map's whole flow with boto3 over TCP and SigV4: namespaces of each
//! kind, GetOperation, a service, registrations (in DNS at once),
//! discovery, paging, health, updates, tags, deregistration and deletion.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use serde_json::json;

use super::{ApiServer, DEFAULT_KEY, KEY_ID, SECRET, python};
use crate::support::rcode;

#[test]
fn boto3_drives_the_whole_flow_over_tcp_with_sigv4() {
    let Some(python) = python() else { return };
    let api = ApiServer::start(&[], &[DEFAULT_KEY], "");
    let state = api.boto3(&python, "setup", (KEY_ID, SECRET), &json!({}));

    let answer = api.server.udp("web.flow.test.", RecordType::A);
    assert_eq!(rcode(&answer), ResponseCode::NoError, "{answer:?}");
    let mut addresses: Vec<String> = answer
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(address) => Some(address.to_string()),
            _ => None,
        })
        .collect();
    addresses.sort();
    assert_eq!(addresses, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    assert!(
        state["service_arn"]
            .as_str()
            .is_some_and(|arn| arn.starts_with("arn:aws:servicediscovery:")),
        "{state}"
    );

    let finished = api.boto3(&python, "finish", (KEY_ID, SECRET), &state);
    assert_eq!(finished["finished"], true);
    let answer = api.server.udp("web.flow.test.", RecordType::A);
    assert!(
        answer.answers.is_empty(),
        "the deleted namespace still answers: {answer:?}"
    );
}
