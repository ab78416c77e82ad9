//! Namespace actions: create (all three types), get, list, update, delete.

use std::collections::BTreeSet;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::{Value, json};

use super::{ZONE, fails, namespace_id, ok, start};
use crate::cli::cairn;
use crate::support::{TestServer, rcode};

#[test]
fn namespaces_create_get_list_update_delete() {
    let server = start();
    let created = ok(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "private.test", "CreatorRequestId": "token-1",
               "Tags": [{"Key": "team", "Value": "infra"}]}),
    );
    let operation = created["OperationId"]
        .as_str()
        .expect("OperationId")
        .to_string();
    // Idempotent retry: same token, same operation, nothing new.
    let retry = ok(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "private.test", "CreatorRequestId": "token-1"}),
    );
    assert_eq!(retry["OperationId"], operation.as_str());
    let op = ok(&server, "GetOperation", json!({"OperationId": operation}));
    assert_eq!(op["Operation"]["Type"], "CREATE_NAMESPACE");
    let id = op["Operation"]["Targets"]["NAMESPACE"]
        .as_str()
        .expect("target")
        .to_string();
    let again = fails(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "private.test", "CreatorRequestId": "token-2"}),
        "NamespaceAlreadyExists",
    );
    assert_eq!(again.body["NamespaceId"], id.as_str());
    assert_eq!(again.body["CreatorRequestId"], "token-1");

    let got = ok(&server, "GetNamespace", json!({"Id": id}));
    let ns = &got["Namespace"];
    assert_eq!(
        (ns["Name"].as_str(), ns["Type"].as_str()),
        (Some("private.test"), Some("DNS_PRIVATE"))
    );
    assert_eq!(
        ns["Properties"]["HttpProperties"]["HttpName"],
        "private.test"
    );
    // No AllowedNetworks given: loopback only.
    assert_eq!(
        ns["Properties"]["DnsProperties"]["AllowedNetworks"],
        json!(["127.0.0.0/8", "::1/128"])
    );
    assert!(
        ns["Arn"]
            .as_str()
            .is_some_and(|arn| arn.ends_with(&format!("namespace/{id}")))
    );
    // Served at once, and ARNs work wherever ids do.
    let soa = server.udp("private.test.", RecordType::SOA);
    assert_eq!(rcode(&soa), ResponseCode::NoError, "{soa:?}");
    ok(&server, "GetNamespace", json!({"Id": ns["Arn"]}));

    ok(
        &server,
        "CreatePublicDnsNamespace",
        json!({"Name": "public.test", "Properties": {"DnsProperties": {"SOA": {"TTL": 30}}}}),
    );
    ok(
        &server,
        "CreateHttpNamespace",
        json!({"Name": "http-only", "Description": "api"}),
    );
    ok(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "lan.test", "Properties": {"DnsProperties": {"AllowedNetworks": ["10.0.0.0/8", "fd00::/8"]}}}),
    );
    fails(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "bad.test", "Properties": {"DnsProperties": {"AllowedNetworks": ["10.0.0.0/33"]}}}),
        "InvalidInput",
    );
    fails(
        &server,
        "CreatePublicDnsNamespace",
        json!({"Name": "under_score.test"}),
        "InvalidInput",
    );
    fails(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "ttl.test", "Properties": {"DnsProperties": {"SOA": {"TTL": -1}}}}),
        "InvalidInput",
    );
    fails(
        &server,
        "CreateHttpNamespace",
        json!({"Name": "h2", "Properties": {"DnsProperties": {"SOA": {"TTL": 5}}}}),
        "InvalidInput",
    );
    fails(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Description": "no name"}),
        "InvalidInput",
    );

    let names = |filters: Value| -> BTreeSet<String> {
        let list = ok(&server, "ListNamespaces", json!({"Filters": filters}));
        list["Namespaces"]
            .as_array()
            .expect("list")
            .iter()
            .map(|n| n["Name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        names(json!([{"Name": "TYPE", "Values": ["HTTP"]}])),
        BTreeSet::from(["http-only".to_string()])
    );
    assert_eq!(
        names(json!([{"Name": "NAME", "Values": ["p"], "Condition": "BEGINS_WITH"}])),
        BTreeSet::from(["private.test".to_string(), "public.test".to_string()])
    );
    assert_eq!(names(json!([{"Name": "TYPE", "Values": ["DNS_PUBLIC"]}, {"Name": "NAME", "Values": ["public.test"]}])).len(), 1);
    fails(
        &server,
        "ListNamespaces",
        json!({"Filters": [{"Name": "COLOUR", "Values": ["red"]}]}),
        "InvalidInput",
    );
    fails(
        &server,
        "ListNamespaces",
        json!({"Filters": [{"Name": "TYPE", "Values": ["HTTP"], "Condition": "BETWEEN"}]}),
        "InvalidInput",
    );

    // Paging one at a time visits every namespace once.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"MaxResults": 1});
        if let Some(token) = &token {
            body["NextToken"] = json!(token);
        }
        let page = ok(&server, "ListNamespaces", body);
        assert_eq!(page["Namespaces"].as_array().map(Vec::len), Some(1));
        seen.push(
            page["Namespaces"][0]["Id"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
        match page["NextToken"].as_str() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 5);
    fails(
        &server,
        "ListNamespaces",
        json!({"NextToken": "garbage"}),
        "InvalidInput",
    );
    fails(
        &server,
        "ListNamespaces",
        json!({"MaxResults": 0}),
        "InvalidInput",
    );
    fails(
        &server,
        "ListNamespaces",
        json!({"MaxResults": 101}),
        "InvalidInput",
    );

    let update = ok(
        &server,
        "UpdatePrivateDnsNamespace",
        json!({"Id": id, "UpdaterRequestId": "u1",
        "Namespace": {"Description": "changed", "Properties": {"DnsProperties": {"SOA": {"TTL": 5}}}}}),
    );
    assert!(update["OperationId"].is_string());
    let got = ok(&server, "GetNamespace", json!({"Id": id}));
    assert_eq!(got["Namespace"]["Description"], "changed");
    assert_eq!(
        got["Namespace"]["Properties"]["DnsProperties"]["SOA"]["TTL"],
        5
    );
    fails(
        &server,
        "UpdateHttpNamespace",
        json!({"Id": id, "Namespace": {"Description": "x"}}),
        "InvalidInput",
    );
    let http = namespace_id(&server, "http-only");
    ok(
        &server,
        "UpdateHttpNamespace",
        json!({"Id": http, "Namespace": {"Description": "x"}}),
    );
    fails(
        &server,
        "UpdatePublicDnsNamespace",
        json!({"Id": "ns-missing", "Namespace": {}}),
        "NamespaceNotFound",
    );

    let svc_test = namespace_id(&server, "svc.test");
    fails(
        &server,
        "DeleteNamespace",
        json!({"Id": svc_test}),
        "ResourceInUse",
    );
    let deleted = ok(&server, "DeleteNamespace", json!({"Id": id}));
    let op = ok(
        &server,
        "GetOperation",
        json!({"OperationId": deleted["OperationId"]}),
    );
    assert_eq!(op["Operation"]["Type"], "DELETE_NAMESPACE");
    fails(
        &server,
        "GetNamespace",
        json!({"Id": id}),
        "NamespaceNotFound",
    );
    let refused = server.udp("private.test.", RecordType::SOA);
    assert_eq!(
        rcode(&refused),
        ResponseCode::Refused,
        "a deleted zone is not served"
    );
}

/// What AWS's own tools send: a `Vpc` with CreatePrivateDnsNamespace, never
/// cairn's `AllowedNetworks`. A mapped VPC stands for its networks, an
/// unmapped one is refused, and none at all gets the configured default.
#[test]
fn a_private_namespace_created_with_a_vpc_answers_the_networks_it_is_mapped_to() {
    let server = TestServer::start_with(
        &[("svc.test.toml", ZONE)],
        "[private_namespaces]\ndefault_networks = [\"10.99.0.0/16\"]\n[private_namespaces.vpcs]\n\"vpc-0123456789abcdef0\" = [\"127.0.0.0/8\", \"fd00:10::/48\"]\n",
    );
    ok(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "mapped.test", "Vpc": "vpc-0123456789abcdef0"}),
    );
    let mapped = namespace_id(&server, "mapped.test");
    let got = ok(&server, "GetNamespace", json!({"Id": mapped}));
    assert_eq!(
        got["Namespace"]["Properties"]["DnsProperties"]["AllowedNetworks"],
        json!(["127.0.0.0/8", "fd00:10::/48"])
    );
    assert_eq!(
        rcode(&server.udp("mapped.test.", RecordType::SOA)),
        ResponseCode::NoError,
        "loopback is in the VPC's networks"
    );

    let refused = fails(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "unmapped.test", "Vpc": "vpc-unknown"}),
        "InvalidInput",
    );
    assert!(
        refused.message().contains("[private_namespaces.vpcs]"),
        "{refused:?}"
    );
    assert_eq!(
        rcode(&server.udp("unmapped.test.", RecordType::SOA)),
        ResponseCode::Refused,
        "nothing was created"
    );

    // No Vpc, no AllowedNetworks: the configured default, which loopback is
    // not in; then the CLI opens it to loopback.
    ok(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "default.test"}),
    );
    assert_eq!(
        rcode(&server.udp("default.test.", RecordType::SOA)),
        ResponseCode::Refused
    );
    let updated = cairn(
        &server,
        &[
            "namespace",
            "update",
            "default.test",
            "--allow",
            "127.0.0.1/8",
            "-o",
            "json",
        ],
    );
    assert!(updated.status.success(), "{updated:?}");
    let shown: Value = serde_json::from_slice(&updated.stdout).expect("JSON");
    assert_eq!(
        shown["Namespace"]["Properties"]["DnsProperties"]["AllowedNetworks"],
        json!(["127.0.0.0/8"])
    );
    assert_eq!(
        rcode(&server.udp("default.test.", RecordType::SOA)),
        ResponseCode::NoError
    );
}
