use std::path::Path;

use super::*;

const PATH: &str = "cairn.toml";

fn error(text: &str) -> String {
    match Config::parse(Path::new(PATH), text) {
        Ok(config) => panic!("expected an error, parsed {config:?}"),
        Err(error) => error.to_string(),
    }
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} should mention {part:?}"
        );
    }
}

#[test]
fn the_example_config_sets_every_key_to_its_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cairn.toml");
    let config = Config::load(&path).unwrap();
    assert_eq!(config, Config::default());

    // Every key of the file type appears in the example, uncommented.
    let text = std::fs::read_to_string(&path).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let keys = |section: &str| -> Vec<String> {
        table[section].as_table().unwrap().keys().cloned().collect()
    };
    assert!(table.contains_key("zones_dir") && table.contains_key("data_dir"));
    assert_eq!(
        keys("dns"),
        [
            "listen",
            "max_udp_payload",
            "tcp_idle_timeout_secs",
            "tcp_max_connections",
            "tcp_max_connections_per_client",
            "tcp_pressure_idle_timeout_secs",
            "tcp_pressure_percent",
            "tcp_write_timeout_secs",
            "udp_workers"
        ]
    );
    assert_eq!(
        keys("admin"),
        [
            "body_read_timeout_secs",
            "drain_timeout_secs",
            "header_read_timeout_secs",
            "max_body_bytes",
            "max_connections",
            "socket",
            "socket_mode"
        ]
    );
    assert_eq!(
        keys("health"),
        ["interval_secs", "max_in_flight", "timeout_secs"]
    );
    assert_eq!(keys("log"), ["format", "level"]);
    assert_eq!(keys("private_namespaces"), ["default_networks", "vpcs"]);
}

#[test]
fn private_namespaces_map_vpcs_to_networks_and_refuse_empty_lists() {
    let config = Config::parse(
        Path::new(PATH),
        "[private_namespaces]\ndefault_networks = [\"10.9.0.0/16\", \"fd00::1\"]\n[private_namespaces.vpcs]\n\"vpc-1\" = [\"10.1.0.0/16\"]\n",
    )
    .unwrap();
    let net = |text: &str| text.parse::<ipnet::IpNet>().unwrap();
    assert_eq!(
        config.private_namespaces.default_networks,
        [net("10.9.0.0/16"), net("fd00::1/128")]
    );
    assert_eq!(
        config.private_namespaces.vpcs["vpc-1"],
        [net("10.1.0.0/16")]
    );
    assert_mentions(
        &error("[private_namespaces]\ndefault_networks = []\n"),
        &["private_namespaces.default_networks", "answer nobody"],
    );
    assert_mentions(
        &error("[private_namespaces.vpcs]\n\"vpc-2\" = [\"not-a-net\"]\n"),
        &["private_namespaces.vpcs.\"vpc-2\"", "not-a-net", "CIDR"],
    );
}

#[test]
fn health_intervals_take_fractions_of_a_second_and_refuse_nonsense() {
    let config = Config::parse(
        Path::new(PATH),
        "[health]\ninterval_secs = 0.1\ntimeout_secs = 0.05\nmax_in_flight = 8\n",
    )
    .unwrap();
    assert_eq!(config.health.interval, Duration::from_millis(100));
    assert_eq!(config.health.timeout, Duration::from_millis(50));
    assert_eq!(config.health.max_in_flight, 8);
    assert_mentions(
        &error("[health]\ninterval_secs = 0\n"),
        &[PATH, "health.interval_secs", "0.001 to 86400"],
    );
    assert_mentions(
        &error("[health]\ntimeout_secs = -1\n"),
        &["health.timeout_secs"],
    );
    assert_mentions(
        &error("[health]\nmax_in_flight = 0\n"),
        &["health.max_in_flight must be above 0"],
    );
    assert_mentions(
        &error("[health]\nintervall_secs = 1\n"),
        &["intervall_secs"],
    );
}

#[test]
fn an_empty_file_is_the_default() {
    assert_eq!(
        Config::parse(Path::new(PATH), "").unwrap(),
        Config::default()
    );
}

#[test]
fn keys_set_in_the_file_override_the_defaults() {
    let config = Config::parse(
        Path::new(PATH),
        r#"
[dns]
listen = ["0.0.0.0:53", "[::]:53"]
max_udp_payload = 4096

[admin]
socket = "/run/cairn/admin.sock"
socket_mode = "0o600"

[log]
format = "json"
"#,
    )
    .unwrap();
    assert_eq!(config.dns.listen.len(), 2);
    assert_eq!(config.dns.max_udp_payload, 4096);
    assert_eq!(config.admin.socket, Path::new("/run/cairn/admin.sock"));
    assert_eq!(config.admin.socket_mode, 0o600);
    assert_eq!(config.log_format, LogFormat::Json);
}

#[test]
fn an_unknown_key_names_the_file_and_the_key() {
    assert_mentions(
        &error("[dns]\nlisten_on = [\"127.0.0.1:53\"]\n"),
        &[PATH, "listen_on"],
    );
    assert_mentions(&error("zone_dir = \"./zones\"\n"), &[PATH, "zone_dir"]);
}

#[test]
fn a_bad_listen_address_is_named() {
    assert_mentions(
        &error("[dns]\nlisten = [\"127.0.0.1\"]\n"),
        &[PATH, "dns.listen", "'127.0.0.1'", "127.0.0.1:1053"],
    );
    assert_mentions(
        &error("[dns]\nlisten = []\n"),
        &[PATH, "dns.listen is empty"],
    );
}

#[test]
fn a_socket_mode_must_be_octal() {
    assert_mentions(
        &error("[admin]\nsocket_mode = \"999\"\n"),
        &[PATH, "admin.socket_mode", "'999'", "\"0660\""],
    );
    assert_mentions(
        &error("[admin]\nsocket_mode = \"1777\"\n"),
        &[PATH, "admin.socket_mode"],
    );
}

#[test]
fn max_udp_payload_has_a_range() {
    assert_mentions(
        &error("[dns]\nmax_udp_payload = 100\n"),
        &[PATH, "dns.max_udp_payload is 100", "512 to 4096"],
    );
}

#[test]
fn zero_limits_are_errors() {
    assert_mentions(
        &error("[dns]\ntcp_idle_timeout_secs = 0\n"),
        &[PATH, "tcp_idle_timeout_secs"],
    );
    assert_mentions(
        &error("[admin]\nmax_connections = 0\n"),
        &[PATH, "max_connections"],
    );
    assert_mentions(
        &error("[admin]\nbody_read_timeout_secs = 0\n"),
        &[PATH, "admin.body_read_timeout_secs", "above 0"],
    );
    assert_mentions(
        &error("[admin]\ndrain_timeout_secs = 0\n"),
        &[PATH, "admin.drain_timeout_secs", "above 0"],
    );
}

#[test]
fn tcp_limits_are_checked_against_each_other() {
    let config = Config::parse(
        Path::new(PATH),
        "[dns]\ntcp_max_connections = 100\ntcp_max_connections_per_client = 10\n\
         tcp_write_timeout_secs = 0.25\ntcp_pressure_idle_timeout_secs = 0.5\n\
         tcp_pressure_percent = 80\n",
    )
    .unwrap();
    assert_eq!(config.dns.tcp_max_connections_per_client, 10);
    assert_eq!(config.dns.tcp_write_timeout, Duration::from_millis(250));
    assert_eq!(
        config.dns.tcp_pressure_idle_timeout,
        Duration::from_millis(500)
    );
    assert_eq!(config.dns.tcp_pressure_percent, 80);

    // A small total alone brings the default per-client limit down with it.
    let config = Config::parse(Path::new(PATH), "[dns]\ntcp_max_connections = 8\n").unwrap();
    assert_eq!(config.dns.tcp_max_connections_per_client, 8);

    assert_mentions(
        &error("[dns]\ntcp_max_connections = 8\ntcp_max_connections_per_client = 9\n"),
        &[
            PATH,
            "dns.tcp_max_connections_per_client (9)",
            "dns.tcp_max_connections (8)",
        ],
    );
    assert_mentions(
        &error("[dns]\ntcp_idle_timeout_secs = 1\ntcp_pressure_idle_timeout_secs = 2\n"),
        &[PATH, "dns.tcp_pressure_idle_timeout_secs", "at most"],
    );
    assert_mentions(
        &error("[dns]\ntcp_pressure_percent = 0\n"),
        &[PATH, "dns.tcp_pressure_percent is 0", "1 to 100"],
    );
    assert_mentions(
        &error("[dns]\ntcp_write_timeout_secs = 0\n"),
        &[PATH, "dns.tcp_write_timeout_secs", "0.001 to 86400"],
    );
    assert_mentions(
        &error("[dns]\ntcp_max_connections_per_client = 0\n"),
        &[PATH, "dns.tcp_max_connections_per_client must be above 0"],
    );
}
