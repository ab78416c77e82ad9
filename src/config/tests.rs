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
            "rrl",
            "tcp_idle_timeout_secs",
            "tcp_max_connections",
            "udp_workers"
        ]
    );
    assert_eq!(
        table["dns"]["rrl"]
            .as_table()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        [
            "exempt",
            "ipv4_prefix_len",
            "ipv6_prefix_len",
            "responses_per_second",
            "slip"
        ]
    );
    assert_eq!(
        keys("admin"),
        [
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
}

#[test]
fn rate_limiting_takes_networks_and_addresses_and_refuses_nonsense() {
    let config = Config::parse(
        Path::new(PATH),
        "[dns.rrl]\nresponses_per_second = 0\nslip = 1\nipv4_prefix_len = 32\nexempt = [\"192.0.2.7\", \"2001:db8::1/48\"]\n",
    )
    .unwrap();
    let rrl = &config.dns.rrl;
    assert_eq!(
        (rrl.responses_per_second, rrl.slip, rrl.ipv4_prefix_len),
        (0, 1, 32)
    );
    assert_eq!(rrl.ipv6_prefix_len, 56, "a key left out keeps its default");
    let exempt: Vec<String> = rrl.exempt.iter().map(ToString::to_string).collect();
    assert_eq!(exempt, ["192.0.2.7/32", "2001:db8::/48"]);
    assert_mentions(
        &error("[dns.rrl]\nexempt = [\"10.0.0.0/33\"]\n"),
        &[PATH, "dns.rrl.exempt", "10.0.0.0/33", "192.0.2.0/24"],
    );
    assert_mentions(
        &error("[dns.rrl]\nslip = 101\n"),
        &["dns.rrl.slip", "0 (drop every limited answer) to 100"],
    );
    assert_mentions(
        &error("[dns.rrl]\nipv6_prefix_len = 129\n"),
        &["dns.rrl.ipv6_prefix_len", "0 to 128"],
    );
    assert_mentions(
        &error("[dns.rrl]\nresponses_per_second = 2000000\n"),
        &["dns.rrl.responses_per_second", "0 (off) to 1000000"],
    );
    assert_mentions(&error("[dns.rrl]\nrate = 5\n"), &["rate"]);
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
}
