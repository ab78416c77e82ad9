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
            "tcp_max_connections_per_client",
            "tcp_pressure_idle_timeout_secs",
            "tcp_pressure_percent",
            "tcp_write_timeout_secs",
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
        keys("api"),
        [
            "account_id",
            "auth",
            "listen",
            "max_clock_skew_secs",
            "region"
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

#[test]
fn api_keys_name_where_their_secrets_are() {
    let config = Config::parse(
        Path::new(PATH),
        r#"
[api]
listen = ["0.0.0.0:8443"]
max_clock_skew_secs = 60
tls_cert = "api.crt"
tls_key = "api.key"
[[api.keys]]
access_key_id = "AKIDADMIN"
secret_file = "/etc/cairn/admin"
[[api.keys]]
access_key_id = "AKIDREADER"
secret_env = "READER_SECRET"
session_token_env = "READER_TOKEN"
read_only = true
namespaces = ["svc.test"]
"#,
    )
    .unwrap();
    assert_eq!(config.api.listen, vec!["0.0.0.0:8443".parse().unwrap()]);
    assert_eq!(config.api.max_clock_skew, Duration::from_secs(60));
    assert_eq!(
        config.api.tls,
        Some(TlsFiles {
            cert: "api.crt".into(),
            key: "api.key".into()
        })
    );
    assert_eq!(
        config.api.keys[1],
        ApiKeyConfig {
            access_key_id: "AKIDREADER".to_string(),
            secret: SecretSource::Env("READER_SECRET".to_string()),
            session_token: Some(SecretSource::Env("READER_TOKEN".to_string())),
            read_only: true,
            namespaces: Some(vec!["svc.test".to_string()]),
        }
    );
}

#[test]
fn api_misconfigurations_are_named() {
    let key = "[[api.keys]]\naccess_key_id = \"AKID\"\nsecret_env = \"S\"\n";
    assert_mentions(
        &error("[api]\nlisten = [\"0.0.0.0:8787\"]\nauth = \"none\"\n"),
        &["auth = \"none\"", "loopback", "0.0.0.0:8787"],
    );
    assert!(
        Config::parse(
            Path::new(PATH),
            "[api]\nlisten = [\"127.0.0.1:8787\", \"[::1]:8787\"]\nauth = \"none\"\n"
        )
        .is_ok()
    );
    assert_mentions(
        &error("[api]\nlisten = [\"127.0.0.1:8787\"]\n"),
        &["[[api.keys]]"],
    );
    assert_mentions(
        &error("[[api.keys]]\naccess_key_id = \"AKID\"\nsecret = \"hunter2\"\n"),
        &["never read from the config text", "secret_file"],
    );
    assert_mentions(
        &error("[[api.keys]]\naccess_key_id = \"AKID\"\nsecret_file = \"a\"\nsecret_env = \"B\"\n"),
        &["not both"],
    );
    assert_mentions(
        &error("[[api.keys]]\naccess_key_id = \"AKID\"\n"),
        &["no secret"],
    );
    assert_mentions(
        &error("[[api.keys]]\naccess_key_id = \"AK/ID\"\nsecret_env = \"S\"\n"),
        &["access_key_id 'AK/ID'"],
    );
    assert_mentions(&error(&format!("{key}{key}")), &["listed twice"]);
    assert_mentions(
        &error("[api]\ntls_cert = \"a.crt\"\n"),
        &["tls_cert and api.tls_key go together"],
    );
    assert_mentions(
        &error(&format!("{key}namespaces = []\n")),
        &["namespaces is empty"],
    );
}

#[test]
fn the_api_host_is_a_name_with_a_data_twin_and_addresses() {
    let key = "[[api.keys]]\naccess_key_id = \"AKID\"\nsecret_env = \"S\"\n";
    let config = Config::parse(
        Path::new(PATH),
        &format!("[api]\nlisten = [\"127.0.0.1:8787\"]\nhost = \"Cloudmap.svc.internal.\"\n{key}"),
    )
    .unwrap();
    let host = config.api.host.expect("api.host");
    assert_eq!(
        host.names(),
        ["cloudmap.svc.internal", "data-cloudmap.svc.internal"]
    );
    assert_eq!(host.addresses, vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
    let config = Config::parse(
        Path::new(PATH),
        "[api]\nhost = \"api.svc.internal\"\nhost_addresses = [\"10.0.0.5\", \"fd00::5\"]\n",
    )
    .unwrap();
    assert_eq!(config.api.host.expect("api.host").addresses.len(), 2);

    assert_mentions(
        &error("[api]\nhost_addresses = [\"10.0.0.5\"]\n"),
        &["api.host_addresses needs api.host"],
    );
    assert_mentions(
        &error("[api]\nhost = \"api.svc.internal\"\n"),
        &["api.host needs addresses"],
    );
    assert_mentions(
        &error("[api]\nhost = \"a_b.svc\"\n"),
        &["api.host 'a_b.svc'"],
    );
    let long_label = "a".repeat(60);
    assert_mentions(
        &error(&format!(
            "[api]\nhost = \"{long_label}.svc\"\nhost_addresses = [\"10.0.0.5\"]\n"
        )),
        &["data- prefix"],
    );
}

#[test]
fn the_etcd_password_comes_from_one_place_and_never_shows_in_debug() {
    let etcd = "[store]\nbackend = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\n";
    assert_mentions(
        &error(&format!(
            "{etcd}username = \"u\"\npassword = \"p\"\npassword_file = \"/f\"\n"
        )),
        &["one of password, password_file and password_env"],
    );
    assert_mentions(
        &error(&format!("{etcd}password_env = \"P\"\n")),
        &["store.username and a password"],
    );
    assert_mentions(
        &error(&format!("{etcd}username = \"u\"\npassword_env = \"\"\n")),
        &["password_env is empty"],
    );
    let parsed = |extra: &str| {
        Config::parse(Path::new(PATH), &format!("{etcd}username = \"u\"\n{extra}"))
            .unwrap_or_else(|error| panic!("{extra}: {error}"))
    };
    let from_file = parsed("password_file = \"/etc/cairn/etcd-password\"\n");
    let crate::config::StoreConfig::Etcd(store) = &from_file.store else {
        panic!("an etcd store: {:?}", from_file.store)
    };
    assert_eq!(
        store.password,
        Some(crate::config::EtcdPassword::Secret(
            crate::config::SecretSource::File("/etc/cairn/etcd-password".into())
        ))
    );
    let written = parsed("password = \"hunter2\"\n");
    assert!(!format!("{written:?}").contains("hunter2"));
}
