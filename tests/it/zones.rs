//! zones/ files end to end: what a file declares, against the real server,
//! compared with what the admin API does and answers.

use serde_json::{Value, json};

use crate::admin::{namespace_id, ok};
use crate::support::TestServer;

/// The allowed networks the API reports for the namespace named `name`.
fn allowed_networks(server: &TestServer, name: &str) -> Value {
    let id = namespace_id(server, name);
    let namespace = ok(server, "GetNamespace", json!({ "Id": id }));
    namespace["Namespace"]["Properties"]["DnsProperties"]["AllowedNetworks"].clone()
}

fn private_zone(name: &str, networks: Option<&str>) -> String {
    let networks = networks
        .map(|list| format!("allowed_networks = {list}\n"))
        .unwrap_or_default();
    format!("[namespace]\nname = \"{name}\"\ntype = \"DNS_PRIVATE\"\n{networks}")
}

#[test]
fn a_namespace_from_a_file_and_from_the_api_get_the_same_allowed_networks() {
    let with_host_bits = r#"["10.1.2.3/8", "fd00::1/64"]"#;
    let server = TestServer::start(&[
        (
            "given.toml",
            &private_zone("given.internal", Some(with_host_bits)),
        ),
        ("none.toml", &private_zone("none.internal", None)),
    ]);
    ok(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "given.api", "Vpc": "vpc-1",
               "Properties": {"DnsProperties": {"AllowedNetworks": ["10.1.2.3/8", "fd00::1/64"]}}}),
    );
    ok(
        &server,
        "CreatePrivateDnsNamespace",
        json!({"Name": "none.api", "Vpc": "vpc-1"}),
    );

    let given = allowed_networks(&server, "given.internal");
    assert_eq!(given, json!(["10.0.0.0/8", "fd00::/64"]), "canonical form");
    assert_eq!(allowed_networks(&server, "given.api"), given);
    let none = allowed_networks(&server, "none.internal");
    assert_eq!(none, json!(["127.0.0.0/8", "::1/128"]), "loopback only");
    assert_eq!(allowed_networks(&server, "none.api"), none);
    assert!(
        server
            .log()
            .contains("namespace.allowed_networks is not given"),
        "a file that leaves them out is told so:\n{}",
        server.log()
    );
}
