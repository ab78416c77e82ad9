//! DiscoverInstances semantics, operations and tags.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{fails, namespace_id, ok, register, service_id, start};

fn discovered(server: &crate::support::TestServer, body: Value) -> BTreeSet<String> {
    let found = ok(server, "DiscoverInstances", body);
    found["Instances"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|i| i["InstanceId"].as_str().map(str::to_string))
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

#[test]
fn discover_instances_filters_like_cloud_map() {
    let server = start();
    let web = service_id(&server, "web");
    let revision = |server: &crate::support::TestServer| {
        ok(
            server,
            "DiscoverInstancesRevision",
            json!({"NamespaceName": "svc.test", "ServiceName": "web"}),
        )["InstancesRevision"]
            .as_u64()
            .expect("revision")
    };
    let before = revision(&server);
    for (id, zone, tier) in [
        ("w1", "a", "gold"),
        ("w2", "a", "silver"),
        ("w3", "b", "gold"),
        ("w4", "b", "silver"),
    ] {
        ok(
            &server,
            "RegisterInstance",
            json!({"ServiceId": web, "InstanceId": id,
            "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80", "zone": zone, "tier": tier}}),
        );
    }
    let after = revision(&server);
    assert!(after > before, "the revision grows: {before} -> {after}");
    let base = json!({"NamespaceName": "svc.test", "ServiceName": "web"});
    let with = |extra: Value| {
        let mut body = base.clone();
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };
    let full = ok(&server, "DiscoverInstances", base.clone());
    assert_eq!(full["InstancesRevision"].as_u64(), Some(after));
    let first = &full["Instances"][0];
    assert_eq!(
        (
            first["NamespaceName"].as_str(),
            first["ServiceName"].as_str()
        ),
        (Some("svc.test"), Some("web"))
    );
    assert_eq!(
        first["HealthStatus"], "UNKNOWN",
        "no health check: UNKNOWN, and every instance"
    );
    assert_eq!(discovered(&server, base.clone()).len(), 4);
    // QueryParameters: all must match.
    assert_eq!(
        discovered(&server, with(json!({"QueryParameters": {"zone": "a"}}))),
        set(&["w1", "w2"])
    );
    assert_eq!(
        discovered(
            &server,
            with(json!({"QueryParameters": {"zone": "a", "tier": "gold"}}))
        ),
        set(&["w1"])
    );
    assert!(discovered(&server, with(json!({"QueryParameters": {"zone": "c"}}))).is_empty());
    // OptionalParameters: applied when something matches, ignored otherwise.
    assert_eq!(
        discovered(
            &server,
            with(
                json!({"QueryParameters": {"zone": "a"}, "OptionalParameters": {"tier": "silver"}})
            )
        ),
        set(&["w2"])
    );
    assert_eq!(
        discovered(
            &server,
            with(
                json!({"QueryParameters": {"zone": "a"}, "OptionalParameters": {"tier": "bronze"}})
            )
        ),
        set(&["w1", "w2"])
    );
    // MaxResults.
    assert_eq!(discovered(&server, with(json!({"MaxResults": 2}))).len(), 2);
    fails(
        &server,
        "DiscoverInstances",
        with(json!({"MaxResults": 0})),
        "InvalidInput",
    );
    fails(
        &server,
        "DiscoverInstances",
        with(json!({"MaxResults": 1001})),
        "InvalidInput",
    );
    fails(
        &server,
        "DiscoverInstances",
        with(json!({"HealthStatus": "SOMETIMES"})),
        "InvalidInput",
    );
    for status in ["HEALTHY", "UNHEALTHY", "ALL", "HEALTHY_OR_ELSE_ALL"] {
        assert_eq!(
            discovered(&server, with(json!({"HealthStatus": status}))).len(),
            4,
            "{status} is ignored without a health check"
        );
    }
    fails(
        &server,
        "DiscoverInstances",
        json!({"NamespaceName": "nope.test", "ServiceName": "web"}),
        "NamespaceNotFound",
    );
    fails(
        &server,
        "DiscoverInstances",
        json!({"NamespaceName": "svc.test", "ServiceName": "nope"}),
        "ServiceNotFound",
    );
    fails(
        &server,
        "DiscoverInstancesRevision",
        json!({"NamespaceName": "svc.test", "ServiceName": "nope"}),
        "ServiceNotFound",
    );
    ok(
        &server,
        "DeregisterInstance",
        json!({"ServiceId": web, "InstanceId": "w4"}),
    );
    assert!(revision(&server) > after);
}

#[test]
fn operations_and_tags() {
    let server = start();
    let web = service_id(&server, "web");
    let ns = namespace_id(&server, "svc.test");
    let op = register(&server, &web, "o-1", "10.0.0.1");
    let dereg = ok(
        &server,
        "DeregisterInstance",
        json!({"ServiceId": web, "InstanceId": "o-1"}),
    );
    let ids = |filters: Value| -> BTreeSet<String> {
        let list = ok(&server, "ListOperations", json!({"Filters": filters}));
        list["Operations"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|o| o["Id"].as_str().map(str::to_string))
            .collect()
    };
    let both = BTreeSet::from([
        op.clone(),
        dereg["OperationId"].as_str().unwrap_or("").to_string(),
    ]);
    assert_eq!(ids(json!([{"Name": "SERVICE_ID", "Values": [web]}])), both);
    assert_eq!(
        ids(
            json!([{"Name": "TYPE", "Values": ["REGISTER_INSTANCE"]}, {"Name": "SERVICE_ID", "Values": [web]}])
        ),
        BTreeSet::from([op.clone()])
    );
    assert_eq!(
        ids(
            json!([{"Name": "TYPE", "Condition": "IN", "Values": ["REGISTER_INSTANCE", "DEREGISTER_INSTANCE"]}])
        ),
        both
    );
    assert!(ids(json!([{"Name": "STATUS", "Values": ["SUCCESS"]}])).is_superset(&both));
    assert!(ids(json!([{"Name": "STATUS", "Values": ["FAIL"]}])).is_empty());
    assert!(ids(json!([{"Name": "NAMESPACE_ID", "Values": [ns]}])).is_superset(&both));
    assert!(
        ids(json!([{"Name": "UPDATE_DATE", "Condition": "BETWEEN", "Values": ["0", "1"]}]))
            .is_empty()
    );
    assert!(
        ids(
            json!([{"Name": "UPDATE_DATE", "Condition": "BETWEEN", "Values": ["0", "99999999999"]}])
        )
        .is_superset(&both)
    );
    fails(
        &server,
        "ListOperations",
        json!({"Filters": [{"Name": "UPDATE_DATE", "Condition": "BETWEEN", "Values": ["0"]}]}),
        "InvalidInput",
    );
    fails(
        &server,
        "ListOperations",
        json!({"Filters": [{"Name": "STATUS", "Condition": "BEGINS_WITH", "Values": ["S"]}]}),
        "InvalidInput",
    );
    let first = ok(&server, "ListOperations", json!({"MaxResults": 1}));
    assert!(first["NextToken"].is_string() && first["Operations"][0]["Status"] == "SUCCESS");
    fails(
        &server,
        "GetOperation",
        json!({"OperationId": "nope"}),
        "OperationNotFound",
    );

    let arn = ok(&server, "GetService", json!({"Id": web}))["Service"]["Arn"].clone();
    assert_eq!(
        ok(
            &server,
            "TagResource",
            json!({"ResourceARN": arn, "Tags": [{"Key": "team", "Value": "web"}, {"Key": "tier", "Value": "1"}]})
        ),
        json!({})
    );
    let tags = ok(&server, "ListTagsForResource", json!({"ResourceARN": arn}));
    assert_eq!(
        tags["Tags"],
        json!([{"Key": "team", "Value": "web"}, {"Key": "tier", "Value": "1"}])
    );
    ok(
        &server,
        "UntagResource",
        json!({"ResourceARN": arn, "TagKeys": ["tier"]}),
    );
    assert_eq!(
        ok(&server, "ListTagsForResource", json!({"ResourceARN": arn}))["Tags"],
        json!([{"Key": "team", "Value": "web"}])
    );
    let ns_arn = ok(&server, "GetNamespace", json!({"Id": ns}))["Namespace"]["Arn"].clone();
    ok(
        &server,
        "TagResource",
        json!({"ResourceARN": ns_arn, "Tags": [{"Key": "env", "Value": "test"}]}),
    );
    assert_eq!(
        ok(
            &server,
            "ListTagsForResource",
            json!({"ResourceARN": ns_arn})
        )["Tags"][0]["Key"],
        "env"
    );
    let missing = "arn:aws:servicediscovery:cairn:000000000000:service/srv-nothere";
    fails(
        &server,
        "ListTagsForResource",
        json!({"ResourceARN": missing}),
        "ResourceNotFoundException",
    );
    fails(
        &server,
        "TagResource",
        json!({"ResourceARN": missing, "Tags": []}),
        "ResourceNotFoundException",
    );
    fails(
        &server,
        "TagResource",
        json!({"ResourceARN": arn, "Tags": [{"Key": "", "Value": "x"}]}),
        "InvalidInput",
    );
    // The failed calls changed nothing: the API still answers.
    ok(&server, "ListOperations", json!({}));
}
