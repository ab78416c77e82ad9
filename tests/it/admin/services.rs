//! Service actions: create, get, list, update, delete, and their validation.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::{Value, json};

use super::{fails, namespace_id, ok, register, start};
use crate::support::rcode;

#[test]
fn services_create_get_list_update_delete() {
    let server = start();
    let ns = namespace_id(&server, "svc.test");
    let body = |name: &str, records: Value| json!({"Name": name, "NamespaceId": ns, "DnsConfig": {"RoutingPolicy": "MULTIVALUE", "DnsRecords": records}});
    let created = ok(&server, "CreateService", {
        let mut b = body("db", json!([{"Type": "A", "TTL": 30}]));
        b["CreatorRequestId"] = json!("svc-token");
        b["Description"] = json!("database");
        b
    });
    let db = created["Service"]["Id"].as_str().expect("Id").to_string();
    assert!(db.starts_with("srv-"));
    assert_eq!(created["Service"]["Type"], "DNS_HTTP");
    assert_eq!(
        created["Service"]["DnsConfig"]["DnsRecords"],
        json!([{"Type": "A", "TTL": 30}])
    );
    // The same token again: the same service.
    let mut retry = body("db", json!([{"Type": "A", "TTL": 30}]));
    retry["CreatorRequestId"] = json!("svc-token");
    assert_eq!(
        ok(&server, "CreateService", retry)["Service"]["Id"],
        db.as_str()
    );
    let exists = fails(
        &server,
        "CreateService",
        body("db", json!([{"Type": "A", "TTL": 30}])),
        "ServiceAlreadyExists",
    );
    assert_eq!(exists.body["ServiceId"], db.as_str());
    assert!(
        exists.body["ServiceArn"]
            .as_str()
            .is_some_and(|arn| arn.ends_with(&db))
    );

    // The deprecated DnsConfig.NamespaceId still works; CNAME defaults to WEIGHTED.
    let alias = ok(
        &server,
        "CreateService",
        json!({"Name": "alias", "DnsConfig": {"NamespaceId": ns, "DnsRecords": [{"Type": "CNAME", "TTL": 5}]}}),
    );
    assert_eq!(alias["Service"]["DnsConfig"]["RoutingPolicy"], "WEIGHTED");
    let api_only = ok(
        &server,
        "CreateService",
        json!({"Name": "jobs", "NamespaceId": ns, "Type": "HTTP"}),
    );
    assert_eq!(api_only["Service"]["Type"], "HTTP");

    // Each validation rule.
    fails(
        &server,
        "CreateService",
        json!({"Name": "x", "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 1}]}}),
        "InvalidInput",
    );
    fails(
        &server,
        "CreateService",
        body("bad name!", json!([{"Type": "A", "TTL": 1}])),
        "InvalidInput",
    );
    fails(
        &server,
        "CreateService",
        body("x", json!([])),
        "InvalidInput",
    );
    fails(
        &server,
        "CreateService",
        body("x", json!([{"Type": "CNAME", "TTL": 1}])),
        "InvalidInput",
    );
    fails(
        &server,
        "CreateService",
        body(
            "x",
            json!([{"Type": "A", "TTL": 1}, {"Type": "CNAME", "TTL": 1}]),
        ),
        "InvalidInput",
    );
    fails(
        &server,
        "CreateService",
        body(
            "x",
            json!([{"Type": "A", "TTL": 1}, {"Type": "A", "TTL": 2}]),
        ),
        "InvalidInput",
    );
    fails(
        &server,
        "CreateService",
        body("x", json!([{"Type": "A", "TTL": -5}])),
        "InvalidInput",
    );
    let kind = fails(
        &server,
        "CreateService",
        body("x", json!([{"Type": "MX", "TTL": 1}])),
        "InvalidInput",
    );
    assert!(
        kind.message().contains("DnsConfig.DnsRecords[0].Type"),
        "{kind:?}"
    );
    fails(
        &server,
        "CreateService",
        json!({"Name": "x", "NamespaceId": ns, "Type": "DNS"}),
        "InvalidInput",
    );
    fails(
        &server,
        "CreateService",
        {
            let mut b = body("x", json!([{"Type": "A", "TTL": 1}]));
            b["HealthCheckConfig"] = json!({"Type": "TCP", "ResourcePath": "/x"});
            b
        },
        "InvalidInput",
    );
    fails(
        &server,
        "CreateService",
        {
            let mut b = body("x", json!([{"Type": "A", "TTL": 1}]));
            b["HealthCheckConfig"] = json!({"Type": "HTTP"});
            b["HealthCheckCustomConfig"] = json!({"FailureThreshold": 1});
            b
        },
        "InvalidInput",
    );
    fails(
        &server,
        "CreateService",
        json!({"Name": "x", "NamespaceId": "ns-nothere"}),
        "NamespaceNotFound",
    );

    let got = ok(&server, "GetService", json!({"Id": db}));
    assert_eq!(got["Service"]["Description"], "database");
    fails(
        &server,
        "GetService",
        json!({"Id": "srv-nothere"}),
        "ServiceNotFound",
    );
    let listed = ok(
        &server,
        "ListServices",
        json!({"Filters": [{"Name": "NAMESPACE_ID", "Values": [ns]}]}),
    );
    assert_eq!(
        listed["Services"].as_array().map(Vec::len),
        Some(5),
        "{listed}"
    );
    let page = ok(&server, "ListServices", json!({"MaxResults": 2}));
    assert!(page["NextToken"].is_string());

    // UpdateService: TTLs change in DNS at once; types cannot change.
    register(&server, &db, "db-1", "10.0.9.1");
    ok(
        &server,
        "UpdateService",
        json!({"Id": db, "Service": {"DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 77}]}}}),
    );
    let answer = server.udp("db.svc.test.", RecordType::A);
    assert_eq!(
        answer.answers.first().map(|r| r.ttl),
        Some(77),
        "{answer:?}"
    );
    fails(
        &server,
        "UpdateService",
        json!({"Id": db, "Service": {"DnsConfig": {"DnsRecords": [{"Type": "AAAA", "TTL": 7}]}}}),
        "InvalidInput",
    );
    fails(
        &server,
        "UpdateService",
        json!({"Id": "srv-nothere", "Service": {}}),
        "ServiceNotFound",
    );

    fails(&server, "DeleteService", json!({"Id": db}), "ResourceInUse");
    ok(
        &server,
        "DeregisterInstance",
        json!({"ServiceId": db, "InstanceId": "db-1"}),
    );
    assert_eq!(ok(&server, "DeleteService", json!({"Id": db})), json!({}));
    fails(
        &server,
        "DeleteService",
        json!({"Id": db}),
        "ServiceNotFound",
    );
    assert_eq!(
        rcode(&server.udp("db.svc.test.", RecordType::A)),
        ResponseCode::NXDomain
    );
}
