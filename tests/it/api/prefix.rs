//! The `data-` host prefix left on: with `api.host` in a namespace cairn
//! serves, cairn answers that name and its `data-` twin with the API's
//! address, so boto3 reaches DiscoverInstances at `data-<host>` when its
//! resolver is cairn.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use serde_json::json;

use super::{ApiServer, DEFAULT_KEY, KEY_ID, SECRET, python};
use crate::admin::{ZONE, call};
use crate::support::rcode;

/// The A records' addresses of an answer.
fn addresses(server: &crate::support::TestServer, name: &str) -> Vec<String> {
    let answer = server.udp(name, RecordType::A);
    assert_eq!(rcode(&answer), ResponseCode::NoError, "{name}: {answer:?}");
    answer
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(address) => Some(address.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_api_host_and_its_data_twin_resolve_through_cairn() {
    let Some(python) = python() else { return };
    let api = ApiServer::start(
        &[("svc.test.toml", ZONE)],
        &[DEFAULT_KEY],
        "host = \"cloudmap.svc.test\"",
    );
    let server = &api.server;
    assert_eq!(addresses(server, "cloudmap.svc.test."), ["127.0.0.1"]);
    assert_eq!(addresses(server, "DATA-cloudmap.svc.test."), ["127.0.0.1"]);
    let aaaa = server.udp("data-cloudmap.svc.test.", RecordType::AAAA);
    assert_eq!(rcode(&aaaa), ResponseCode::NoError, "{aaaa:?}");
    assert!(
        aaaa.answers.is_empty(),
        "no IPv6 listener, no AAAA: {aaaa:?}"
    );
    // Nothing else of the name is invented: the twin's own child is not there.
    let below = server.udp("x.data-cloudmap.svc.test.", RecordType::A);
    assert_eq!(rcode(&below), ResponseCode::NXDomain, "{below:?}");

    let services = call(server, "ListServices", json!({}));
    let web_id = services.body["Services"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["Name"] == "web"))
        .and_then(|s| s["Id"].as_str())
        .expect("the web service")
        .to_string();
    for (id, ip) in [("web-1", "10.1.0.1"), ("web-2", "10.1.0.2")] {
        let registered = call(
            server,
            "RegisterInstance",
            json!({"ServiceId": web_id, "InstanceId": id,
                   "Attributes": {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "80"}}),
        );
        assert_eq!(registered.status, 200, "{registered:?}");
    }

    let by_name = ApiServer {
        endpoint: format!("http://cloudmap.svc.test:{}", api.port),
        ..api
    };
    let found = by_name.boto3(
        &python,
        "prefix",
        (KEY_ID, SECRET),
        &json!({"dns": by_name.server.dns.to_string(), "suffix": ".svc.test",
                "service_id": web_id}),
    );
    assert_eq!(found["instances"], json!(["web-1", "web-2"]), "{found}");
    assert_eq!(found["listed"], json!(["web-1", "web-2"]), "{found}");
    assert!(found["revision"].as_i64().is_some_and(|r| r > 0), "{found}");
    // Discovery went to the data- name and the rest to the host itself,
    // both looked up in cairn.
    assert_eq!(
        found["resolved"],
        json!(["cloudmap.svc.test", "data-cloudmap.svc.test"]),
        "{found}"
    );
}
