//! Every admin subcommand, one group per test: each starts a server, sets up
//! what it needs through the CLI, then runs its commands with table and
//! JSON output as an operator would.

use serde_json::{Value, json};

use super::{json_of, start, succeeds};
use crate::support::TestServer;

/// `apps.test`: a private namespace with every option `namespace create`
/// takes. Returns the command's JSON.
fn create_apps_namespace(server: &TestServer) -> Value {
    json_of(
        server,
        &[
            "namespace",
            "create",
            "apps.test",
            "--allow",
            "10.0.0.0/8",
            "--soa-ttl",
            "30",
            "--tag",
            "team=infra",
            "--description",
            "apps",
        ],
    )
}

/// `api.apps.test`: A (TTL 15) and SRV (the default TTL), custom health.
/// Returns the command's JSON.
fn create_api_service(server: &TestServer) -> Value {
    json_of(
        server,
        &[
            "service",
            "create",
            "api.apps.test",
            "--record",
            "A:15",
            "--record",
            "SRV",
            "--custom-health",
        ],
    )
}

/// Two instances of `api.apps.test`: api-1 in zone a (with `--output
/// json`, whose JSON is returned) and api-2 in zone b (as a table).
fn register_api_instances(server: &TestServer) -> Value {
    let registered = json_of(
        server,
        &[
            "instance",
            "register",
            "-s",
            "api.apps.test",
            "--id",
            "api-1",
            "--ipv4",
            "10.0.5.1",
            "--port",
            "9000",
            "--attr",
            "zone=a",
        ],
    );
    succeeds(
        server,
        &[
            "instance",
            "register",
            "-s",
            "api.apps.test",
            "--id",
            "api-2",
            "--ipv4",
            "10.0.5.2",
            "--port",
            "9000",
            "--attr",
            "zone=b",
        ],
    );
    registered
}

/// Reports api-1 UNHEALTHY through its custom health check.
fn set_api_1_unhealthy(server: &TestServer) {
    let printed = succeeds(
        server,
        &[
            "health",
            "set",
            "-s",
            "api.apps.test",
            "--id",
            "api-1",
            "UNHEALTHY",
        ],
    );
    // The id as registered, the status as the API spells it.
    assert_eq!(printed.trim(), "api-1: UNHEALTHY");
}

#[test]
fn namespace_commands_in_tables_and_json() {
    let server = start();
    let created = create_apps_namespace(&server);
    assert_eq!(created["Namespace"]["Name"], "apps.test");
    assert_eq!(
        created["Namespace"]["Properties"]["DnsProperties"]["AllowedNetworks"],
        json!(["10.0.0.0/8"])
    );
    let table = succeeds(&server, &["namespace", "list"]);
    assert!(
        table.starts_with("ID") && table.contains("apps.test") && table.contains("svc.internal"),
        "{table}"
    );
    let listed = json_of(&server, &["namespace", "list"]);
    assert_eq!(listed["Namespaces"].as_array().map(Vec::len), Some(2));
    let id = created["Namespace"]["Id"].as_str().expect("id");
    assert_eq!(
        json_of(&server, &["namespace", "get", id])["Namespace"]["Name"],
        "apps.test"
    );
    assert!(succeeds(&server, &["namespace", "get", "apps.test"]).contains("DNS_PRIVATE"));
    json_of(
        &server,
        &["namespace", "create", "public.test", "--type", "public"],
    );
    json_of(&server, &["namespace", "create", "jobs", "--type", "http"]);
}

#[test]
fn service_commands_in_tables_and_json() {
    let server = start();
    create_apps_namespace(&server);
    json_of(&server, &["namespace", "create", "jobs", "--type", "http"]);
    let service = create_api_service(&server);
    assert_eq!(
        service["Service"]["DnsConfig"]["DnsRecords"],
        json!([{"Type": "A", "TTL": 15}, {"Type": "SRV", "TTL": 60}])
    );
    json_of(
        &server,
        &[
            "service",
            "create",
            "cache",
            "--namespace",
            "apps.test",
            "--record",
            "A",
            "--routing",
            "weighted",
            "--health-check",
            "tcp",
        ],
    );
    json_of(
        &server,
        &["service", "create", "worker", "--namespace", "jobs"],
    );
    let table = succeeds(&server, &["service", "list", "--namespace", "apps.test"]);
    assert!(
        table.contains("api") && table.contains("cache") && !table.contains("web"),
        "{table}"
    );
    assert!(
        table.contains("CUSTOM") && table.contains("TCP") && table.contains("WEIGHTED"),
        "{table}"
    );
    // The NAMESPACE column names the namespace, not its id.
    let api_row = table
        .lines()
        .find(|line| line.contains(" api "))
        .unwrap_or_else(|| panic!("no api row: {table}"));
    assert!(
        api_row.contains("apps.test") && !api_row.contains(" ns-"),
        "{api_row}"
    );
    assert_eq!(
        json_of(&server, &["service", "list"])["Services"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    let got = json_of(&server, &["service", "get", "api.apps.test"]);
    let id = got["Service"]["Id"].as_str().expect("id").to_string();
    assert_eq!(
        json_of(&server, &["service", "get", &id])["Service"]["Name"],
        "api"
    );
    let updated = json_of(
        &server,
        &[
            "service",
            "update",
            "cache.apps.test",
            "--record",
            "A:99",
            "--description",
            "hot",
        ],
    );
    assert_eq!(updated["Service"]["DnsConfig"]["DnsRecords"][0]["TTL"], 99);
    assert_eq!(
        updated["Service"]["HealthCheckConfig"]["Type"], "TCP",
        "kept when not named"
    );
    let removed = json_of(
        &server,
        &["service", "update", "cache.apps.test", "--no-health-check"],
    );
    assert!(removed["Service"].get("HealthCheckConfig").is_none());
}

#[test]
fn instance_and_health_commands_in_tables_and_json() {
    let server = start();
    create_apps_namespace(&server);
    let service = create_api_service(&server);
    let id = service["Service"]["Id"].as_str().expect("id");
    let registered = register_api_instances(&server);
    assert_eq!(registered["Instance"]["Attributes"]["zone"], "a");
    let table = succeeds(&server, &["instance", "list", "-s", "api.apps.test"]);
    assert!(
        table.contains("api-1") && table.contains("zone=b") && table.contains("HEALTHY"),
        "{table}"
    );
    let listed = json_of(&server, &["instance", "list", "-s", id]);
    assert_eq!(listed["Instances"].as_array().map(Vec::len), Some(2));
    assert!(
        succeeds(
            &server,
            &["instance", "get", "-s", "api.apps.test", "--id", "api-1"]
        )
        .contains("10.0.5.1")
    );
    set_api_1_unhealthy(&server);
    let health = json_of(&server, &["health", "get", "-s", "api.apps.test"]);
    assert_eq!(
        health["Status"],
        json!({"api-1": "UNHEALTHY", "api-2": "HEALTHY"})
    );
    assert!(
        succeeds(
            &server,
            &["health", "get", "-s", "api.apps.test", "--id", "api-1"]
        )
        .contains("UNHEALTHY")
    );
}

#[test]
fn discover_filters_by_health_and_attributes() {
    let server = start();
    create_apps_namespace(&server);
    create_api_service(&server);
    register_api_instances(&server);
    set_api_1_unhealthy(&server);
    let found = json_of(&server, &["discover", "api.apps.test"]);
    assert_eq!(
        found["Instances"].as_array().map(Vec::len),
        Some(1),
        "HEALTHY by default: {found}"
    );
    let all = json_of(
        &server,
        &[
            "discover",
            "api.apps.test",
            "--health",
            "ALL",
            "--filter",
            "zone=b",
        ],
    );
    assert_eq!(all["Instances"][0]["InstanceId"], "api-2");
    let preferred = json_of(
        &server,
        &[
            "discover",
            "api.apps.test",
            "--health",
            "ALL",
            "--optional",
            "zone=a",
            "--max",
            "5",
        ],
    );
    assert_eq!(preferred["Instances"][0]["InstanceId"], "api-1");
    let table = succeeds(
        &server,
        &[
            "discover",
            "api.apps.test",
            "--health",
            "HEALTHY_OR_ELSE_ALL",
        ],
    );
    assert!(
        table.contains("api-2") && table.contains("revision"),
        "{table}"
    );
}

#[test]
fn deregister_and_delete_in_tables_and_json() {
    let server = start();
    create_apps_namespace(&server);
    create_api_service(&server);
    succeeds(
        &server,
        &[
            "service",
            "create",
            "cache",
            "--namespace",
            "apps.test",
            "--record",
            "A",
        ],
    );
    register_api_instances(&server);
    succeeds(
        &server,
        &[
            "instance",
            "deregister",
            "-s",
            "api.apps.test",
            "--id",
            "api-1",
        ],
    );
    let deregistered = json_of(
        &server,
        &[
            "instance",
            "deregister",
            "-s",
            "api.apps.test",
            "--id",
            "api-2",
        ],
    );
    assert!(deregistered["OperationId"].is_string());
    assert!(succeeds(&server, &["service", "delete", "api.apps.test"]).contains("deleted"));
    succeeds(&server, &["service", "delete", "cache.apps.test"]);
    assert!(json_of(&server, &["namespace", "delete", "apps.test"])["OperationId"].is_string());
}
