//! ARNs on the socket: the configured account, the region a resource was
//! created in (the request's credential scope if it carries one, else
//! `api.region`), kept across restarts; every id parameter takes an ARN.

use serde_json::json;

use super::{ok, post};
use crate::support::TestServer;

#[test]
fn socket_arns_name_the_account_and_the_region_created_in() {
    let config = "[api]\naccount_id = \"111122223333\"\nregion = \"ap-south-1\"\n";
    let mut server = TestServer::start_with(&[], config);
    let created = ok(&server, "CreateHttpNamespace", json!({"Name": "plain"}));
    let operation = ok(
        &server,
        "GetOperation",
        json!({"OperationId": created["OperationId"]}),
    );
    let plain = operation["Operation"]["Targets"]["NAMESPACE"].clone();
    // A client that signs anyway: its scope's region is taken, unverified.
    let signed = post(
        &server.admin_socket,
        "/CreateHttpNamespace",
        "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-north-1/servicediscovery/aws4_request, SignedHeaders=host, Signature=00\r\n",
        br#"{"Name": "signed"}"#,
    );
    assert_eq!(signed.status, 200, "{signed:?}");

    let arns = |server: &TestServer| -> Vec<(String, String)> {
        let list = ok(server, "ListNamespaces", json!({}));
        let mut arns: Vec<(String, String)> = list["Namespaces"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|n| (n["Name"].to_string(), n["Arn"].to_string()))
                    .collect()
            })
            .unwrap_or_default();
        arns.sort();
        arns
    };
    let plain_id = plain.as_str().unwrap_or_default().to_string();
    let before = arns(&server);
    assert_eq!(before.len(), 2, "{before:?}");
    assert_eq!(
        before[0].1,
        format!("\"arn:aws:servicediscovery:ap-south-1:111122223333:namespace/{plain_id}\"")
    );
    assert!(
        before[1]
            .1
            .starts_with("\"arn:aws:servicediscovery:eu-north-1:111122223333:namespace/ns-"),
        "{before:?}"
    );
    // By ARN as by id.
    let arn = before[0].1.trim_matches('"').to_string();
    let by_arn = ok(&server, "GetNamespace", json!({"Id": arn}));
    assert_eq!(by_arn["Namespace"]["Id"], plain);
    assert_eq!(by_arn["Namespace"]["ResourceOwner"], "111122223333");

    // The region is stored with each namespace: a restart keeps it.
    server.restart();
    assert_eq!(arns(&server), before);
}
