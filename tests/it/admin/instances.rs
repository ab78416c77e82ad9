//! Instance actions and custom health.

use serde_json::json;

use super::{a_records, fails, ok, register, service_id, start};

#[test]
fn instances_register_get_list_and_health() {
    let server = start();
    let web = service_id(&server, "web");
    let attrs = json!({"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80", "zone": "a"});
    let first = ok(
        &server,
        "RegisterInstance",
        json!({"ServiceId": web, "InstanceId": "i-1", "CreatorRequestId": "r1", "Attributes": attrs}),
    );
    let retry = ok(
        &server,
        "RegisterInstance",
        json!({"ServiceId": web, "InstanceId": "i-1", "CreatorRequestId": "r1", "Attributes": attrs}),
    );
    assert_eq!(
        first["OperationId"], retry["OperationId"],
        "a retry is idempotent"
    );
    let duplicate = fails(
        &server,
        "RegisterInstance",
        json!({"ServiceId": web, "InstanceId": "i-2", "CreatorRequestId": "r1", "Attributes": attrs}),
        "DuplicateRequest",
    );
    assert_eq!(duplicate.body["DuplicateOperationId"], first["OperationId"]);

    // Re-registering replaces the attributes, and DNS follows.
    ok(
        &server,
        "RegisterInstance",
        json!({"ServiceId": web, "InstanceId": "i-1", "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "80"}}),
    );
    assert_eq!(
        a_records(&server, "i-1.web.svc.test."),
        [std::net::Ipv4Addr::new(10, 0, 0, 2)]
    );

    let cases = [
        json!({"ServiceId": web, "InstanceId": "i-3", "Attributes": {"AWS_INSTANCE_PORT": "80"}}),
        json!({"ServiceId": web, "InstanceId": "i-3", "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.3"}}),
        json!({"ServiceId": web, "InstanceId": "i-3", "Attributes": {"AWS_INSTANCE_IPV4": "300.0.0.1", "AWS_INSTANCE_PORT": "80"}}),
        json!({"ServiceId": web, "InstanceId": "i-3", "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.3", "AWS_INSTANCE_PORT": "99999"}}),
        json!({"ServiceId": web, "InstanceId": "bad id", "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.3", "AWS_INSTANCE_PORT": "80"}}),
        json!({"ServiceId": web, "InstanceId": "x".repeat(65), "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.3", "AWS_INSTANCE_PORT": "80"}}),
        json!({"ServiceId": web, "InstanceId": "i-3"}),
    ];
    for case in cases {
        fails(&server, "RegisterInstance", case, "InvalidInput");
    }
    fails(
        &server,
        "RegisterInstance",
        json!({"ServiceId": "srv-none", "InstanceId": "i", "Attributes": {}}),
        "ServiceNotFound",
    );

    let got = ok(
        &server,
        "GetInstance",
        json!({"ServiceId": web, "InstanceId": "i-1"}),
    );
    assert_eq!(
        got["Instance"]["Attributes"]["AWS_INSTANCE_IPV4"],
        "10.0.0.2"
    );
    fails(
        &server,
        "GetInstance",
        json!({"ServiceId": web, "InstanceId": "i-9"}),
        "InstanceNotFound",
    );
    for n in 2..=5 {
        register(&server, &web, &format!("i-{n}"), &format!("10.0.0.{n}"));
    }
    let page = ok(
        &server,
        "ListInstances",
        json!({"ServiceId": web, "MaxResults": 3}),
    );
    assert_eq!(page["Instances"].as_array().map(Vec::len), Some(3));
    let rest = ok(
        &server,
        "ListInstances",
        json!({"ServiceId": web, "NextToken": page["NextToken"]}),
    );
    assert_eq!(rest["Instances"].as_array().map(Vec::len), Some(2));
    assert!(rest.get("NextToken").is_none());

    // Custom health: stored, reported, and DiscoverInstances follows it.
    let api = service_id(&server, "api");
    ok(
        &server,
        "RegisterInstance",
        json!({"ServiceId": api, "InstanceId": "a-1", "Attributes": {"AWS_INSTANCE_IPV4": "10.1.0.1"}}),
    );
    ok(
        &server,
        "RegisterInstance",
        json!({"ServiceId": api, "InstanceId": "a-2", "Attributes": {"AWS_INSTANCE_IPV4": "10.1.0.2", "AWS_INIT_HEALTH_STATUS": "UNHEALTHY"}}),
    );
    let health = ok(
        &server,
        "GetInstancesHealthStatus",
        json!({"ServiceId": api}),
    );
    assert_eq!(
        health["Status"],
        json!({"a-1": "HEALTHY", "a-2": "UNHEALTHY"})
    );
    assert_eq!(
        ok(
            &server,
            "UpdateInstanceCustomHealthStatus",
            json!({"ServiceId": api, "InstanceId": "a-1", "Status": "UNHEALTHY"})
        ),
        json!({})
    );
    let health = ok(
        &server,
        "GetInstancesHealthStatus",
        json!({"ServiceId": api, "Instances": ["a-1"]}),
    );
    assert_eq!(health["Status"], json!({"a-1": "UNHEALTHY"}));
    fails(
        &server,
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": api, "InstanceId": "a-1", "Status": "UNKNOWN"}),
        "InvalidInput",
    );
    fails(
        &server,
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": web, "InstanceId": "i-1", "Status": "HEALTHY"}),
        "CustomHealthNotFound",
    );
    fails(
        &server,
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": api, "InstanceId": "a-9", "Status": "HEALTHY"}),
        "InstanceNotFound",
    );
    fails(
        &server,
        "GetInstancesHealthStatus",
        json!({"ServiceId": api, "Instances": ["a-9"]}),
        "InstanceNotFound",
    );
    ok(
        &server,
        "UpdateInstanceCustomHealthStatus",
        json!({"ServiceId": api, "InstanceId": "a-2", "Status": "HEALTHY"}),
    );
    let found = ok(
        &server,
        "DiscoverInstances",
        json!({"NamespaceName": "svc.test", "ServiceName": "api"}),
    );
    let ids: Vec<&str> = found["Instances"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|i| i["InstanceId"].as_str())
        .collect();
    assert_eq!(ids, ["a-2"], "HEALTHY by default");
}

#[test]
fn a_port_or_weight_not_in_canonical_decimal_is_refused_so_the_api_and_dns_agree() {
    let server = start();
    let web = service_id(&server, "web");
    for (port, weight) in [("+80", "1"), ("080", "1"), ("80", "+1"), ("80", "01")] {
        let reply = fails(
            &server,
            "RegisterInstance",
            json!({"ServiceId": web, "InstanceId": "i-1",
                   "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": port, "weight": weight}}),
            "InvalidInput",
        );
        assert!(
            reply.message().contains("decimal digits"),
            "{port}/{weight}: {reply:?}"
        );
    }
    fails(
        &server,
        "GetInstance",
        json!({"ServiceId": web, "InstanceId": "i-1"}),
        "InstanceNotFound",
    );

    ok(
        &server,
        "RegisterInstance",
        json!({"ServiceId": web, "InstanceId": "i-1",
               "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}}),
    );
    let got = ok(
        &server,
        "GetInstance",
        json!({"ServiceId": web, "InstanceId": "i-1"}),
    );
    assert_eq!(got["Instance"]["Attributes"]["AWS_INSTANCE_PORT"], "80");
    let srv = server.udp("web.svc.test.", hickory_proto::rr::RecordType::SRV);
    let ports: Vec<u16> = srv
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            hickory_proto::rr::RData::SRV(srv) => Some(srv.port),
            _ => None,
        })
        .collect();
    assert_eq!(ports, [80], "what the API stored is what DNS serves");
}
