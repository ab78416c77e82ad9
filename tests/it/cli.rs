//! The `cairn` CLI end to end: the real binary against a real server's
//! socket, with DNS queried right after each command.

use std::net::Ipv4Addr;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::admin::{a_records, srv_targets};
use crate::support::{TestServer, cairn_binary};

mod readme;

/// `svc.internal` with `web` as A + SRV, so an IPv4 and a port suffice.
const ZONE: &str = r#"
[namespace]
name = "svc.internal"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.0/8"]

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }, { type = "SRV", ttl = 10 }]
"#;

fn start() -> TestServer {
    TestServer::start(&[("svc.internal.toml", ZONE)])
}

/// Runs `cairn ARGS --socket <server's socket>`.
fn cairn(server: &TestServer, args: &[&str]) -> Output {
    let mut command = Command::new(cairn_binary());
    command
        .args(args)
        .arg("--socket")
        .arg(&server.admin_socket)
        .env_remove("CAIRN_SOCKET")
        .env_remove("CAIRN_CONFIG");
    command.output().expect("run cairn")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
fn succeeds(server: &TestServer, args: &[&str]) -> String {
    let output = cairn(server, args);
    assert!(
        output.status.success(),
        "cairn {args:?} failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// Runs a command with `--output json`; returns the parsed JSON.
fn json_of(server: &TestServer, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["--output", "json"]);
    let text = succeeds(server, &args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cairn {args:?}: not JSON ({e}): {text}"))
}

/// Runs a command that must fail with `code`; returns stderr.
fn exits(server: &TestServer, args: &[&str], code: i32) -> String {
    let output = cairn(server, args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "cairn {args:?}: {}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty(), "errors go to stderr only");
    stderr(&output)
}

#[test]
fn register_then_srv_shows_the_instance_at_once() {
    let server = start();
    let out = succeeds(
        &server,
        &[
            "instance",
            "register",
            "--service",
            "web.svc.internal",
            "--id",
            "web-9",
            "--ipv4",
            "10.0.0.9",
            "--port",
            "8080",
        ],
    );
    // The done-criterion: right after the command, SRV shows web-9.
    assert_eq!(
        srv_targets(&server, "web.svc.internal."),
        ["web-9.web.svc.internal."]
    );
    assert_eq!(
        a_records(&server, "web-9.web.svc.internal."),
        [Ipv4Addr::new(10, 0, 0, 9)]
    );
    assert!(
        out.contains("web-9") && out.contains("10.0.0.9") && out.contains("8080"),
        "{out}"
    );

    succeeds(
        &server,
        &[
            "instance",
            "deregister",
            "--service",
            "web.svc.internal",
            "--id",
            "web-9",
        ],
    );
    assert!(srv_targets(&server, "web.svc.internal.").is_empty());
}

#[test]
fn every_subcommand_in_tables_and_json() {
    let server = start();
    // namespace
    let created = json_of(
        &server,
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
    );
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

    // service
    let service = json_of(
        &server,
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
    );
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
    assert_eq!(
        json_of(&server, &["service", "list"])["Services"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    let got = json_of(&server, &["service", "get", "api.apps.test"]);
    let srv = got["Service"]["Id"].as_str().expect("id").to_string();
    assert_eq!(
        json_of(&server, &["service", "get", &srv])["Service"]["Name"],
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

    // instance and health
    let registered = json_of(
        &server,
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
    assert_eq!(registered["Instance"]["Attributes"]["zone"], "a");
    succeeds(
        &server,
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
    let table = succeeds(&server, &["instance", "list", "-s", "api.apps.test"]);
    assert!(
        table.contains("api-1") && table.contains("zone=b") && table.contains("HEALTHY"),
        "{table}"
    );
    let listed = json_of(&server, &["instance", "list", "-s", &srv]);
    assert_eq!(listed["Instances"].as_array().map(Vec::len), Some(2));
    assert!(
        succeeds(
            &server,
            &["instance", "get", "-s", "api.apps.test", "--id", "api-1"]
        )
        .contains("10.0.5.1")
    );
    succeeds(
        &server,
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

    // discover
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

    // deletes
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

#[test]
fn exit_codes_tell_the_kind_of_failure() {
    let server = start();
    let err = exits(&server, &["service", "get", "nope.svc.internal"], 3);
    assert!(err.starts_with("cairn: ServiceNotFound: "), "{err}");
    let err = exits(&server, &["namespace", "get", "ns-doesnotexist"], 3);
    assert!(err.starts_with("cairn: NamespaceNotFound: "), "{err}");
    exits(
        &server,
        &["instance", "get", "-s", "web.svc.internal", "--id", "ghost"],
        3,
    );
    let err = exits(&server, &["namespace", "delete", "svc.internal"], 4);
    assert!(err.starts_with("cairn: ResourceInUse: "), "{err}");
    let err = exits(
        &server,
        &[
            "instance",
            "register",
            "-s",
            "web.svc.internal",
            "--id",
            "w",
            "--port",
            "80",
        ],
        4,
    );
    assert!(
        err.starts_with("cairn: InvalidInput: ") && err.contains("AWS_INSTANCE_IPV4"),
        "{err}"
    );
    exits(&server, &["namespace", "create", "svc.internal"], 4);
    exits(
        &server,
        &[
            "health",
            "set",
            "-s",
            "web.svc.internal",
            "--id",
            "w",
            "HEALTHY",
        ],
        4,
    );
    exits(&server, &["discover", "web.svc.internal", "--max", "0"], 4);
    // Usage errors are clap's: 2.
    exits(
        &server,
        &[
            "instance",
            "register",
            "-s",
            "web.svc.internal",
            "--id",
            "w",
            "--attr",
            "novalue",
        ],
        2,
    );
    exits(
        &server,
        &["service", "create", "x.svc.internal", "--record", "MX"],
        2,
    );
    exits(
        &server,
        &["discover", "web.svc.internal", "--health", "SOMETIMES"],
        2,
    );
    exits(&server, &["instance", "list"], 2);

    let output = Command::new(cairn_binary())
        .args(["namespace", "list", "--socket"])
        .arg(server.dir.path().join("nothing-here.sock"))
        .output()
        .expect("run cairn");
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("cairn: NoConnection: "),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_socket_comes_from_the_config_and_help_is_complete() {
    let server = start();
    let output = Command::new(cairn_binary())
        .args(["namespace", "list", "--config"])
        .arg(&server.config_path)
        .env_remove("CAIRN_SOCKET")
        .output()
        .expect("run cairn");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("svc.internal"));
    let output = Command::new(cairn_binary())
        .args(["namespace", "list"])
        .env("CAIRN_SOCKET", &server.admin_socket)
        .output()
        .expect("run cairn");
    assert!(output.status.success(), "{}", stderr(&output));

    let help = |args: &[&str]| {
        let output = Command::new(cairn_binary())
            .args(args)
            .arg("--help")
            .output()
            .expect("run cairn");
        assert!(output.status.success());
        stdout(&output)
    };
    let top = help(&[]);
    for word in [
        "namespace",
        "service",
        "instance",
        "discover",
        "health",
        "completions",
        "Exit codes",
        "5  no connection",
    ] {
        assert!(top.contains(word), "top-level help lacks {word}:\n{top}");
    }
    let groups: &[&[&str]] = &[
        &["namespace", "create"],
        &["namespace", "list"],
        &["namespace", "get"],
        &["namespace", "delete"],
        &["service", "create"],
        &["service", "list"],
        &["service", "get"],
        &["service", "update"],
        &["service", "delete"],
        &["instance", "register"],
        &["instance", "deregister"],
        &["instance", "list"],
        &["instance", "get"],
        &["discover"],
        &["health", "set"],
        &["health", "get"],
        &["completions"],
    ];
    for args in groups {
        let text = help(args);
        assert!(text.contains("Usage: cairn"), "{args:?}: {text}");
        if args[0] != "completions" {
            assert!(
                text.contains("--socket") && text.contains("--output"),
                "{args:?}: {text}"
            );
        }
    }
    assert!(help(&["instance"]).contains("Exit codes"));

    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(cairn_binary())
            .args(["completions", shell])
            .output()
            .expect("run cairn");
        assert!(output.status.success());
        let text = stdout(&output);
        assert!(
            text.contains("cairn") && text.contains("register"),
            "{shell}: {text}"
        );
    }
}

/// The issue's done-criterion against the shipped example zone, where `web`
/// is A + AAAA + SRV with three instances: an IPv4-only registration is
/// enough, and SRV shows it at once.
#[test]
fn registering_into_the_shipped_example_shows_in_srv_at_once() {
    let server = TestServer::start(&[(
        "svc.internal.toml",
        include_str!("../../zones/svc.internal.toml"),
    )]);
    succeeds(
        &server,
        &[
            "instance",
            "register",
            "--service",
            "web.svc.internal",
            "--id",
            "web-9",
            "--ipv4",
            "10.0.0.9",
            "--port",
            "8080",
        ],
    );
    let mut targets = srv_targets(&server, "web.svc.internal.");
    targets.sort();
    assert_eq!(
        targets,
        [
            "web-1.web.svc.internal.",
            "web-2.web.svc.internal.",
            "web-3.web.svc.internal.",
            "web-9.web.svc.internal."
        ]
    );
    assert_eq!(
        a_records(&server, "web-9.web.svc.internal."),
        [Ipv4Addr::new(10, 0, 0, 9)]
    );
}
