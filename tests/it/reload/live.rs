//! What a reload changes in running listeners, seen from their clients:
//! rate limiting over UDP, the TCP connection limits, and the API's TLS
//! certificate (a rotated file served to the next TLS client).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use super::reload;
use crate::api::{ApiServer, DEFAULT_KEY};
use crate::rrl::{FLOOD, RATE, flood};
use crate::support::pem;
use crate::support::{DEADLINE, TestServer, query_message};

/// Rewrites the server's config with `edit` and reloads it; the report.
fn reload_with(server: &TestServer, edit: impl Fn(&str) -> String) -> serde_json::Value {
    let config = std::fs::read_to_string(&server.config_path).expect("read the config");
    let changed = edit(&config);
    assert_ne!(changed, config, "the edit changed nothing");
    std::fs::write(&server.config_path, changed).expect("write the config");
    reload(server).unwrap_or_else(|error| panic!("the reload failed: {error}"))
}

#[test]
fn rate_limiting_follows_a_reload_off_and_on_again() {
    let server = crate::rrl::start();
    let (limited, _) = flood(&server, "web.pub.test.");
    assert!(limited.answered < usize::from(FLOOD) / 2, "{limited:?}");

    let rate = format!("responses_per_second = {RATE}\n");
    let report = reload_with(&server, |config| {
        config.replace(&rate, "responses_per_second = 0\n")
    });
    assert_eq!(
        report["Applied"],
        serde_json::json!(["dns.rrl"]),
        "{report:#}"
    );
    assert_eq!(
        report["RestartRequired"],
        serde_json::json!([]),
        "{report:#}"
    );
    let (free, _) = flood(&server, "web.pub.test.");
    assert_eq!(free.answered, usize::from(FLOOD), "{free:?}");

    reload_with(&server, |config| {
        config.replace("responses_per_second = 0\n", &rate)
    });
    let (again, elapsed) = flood(&server, "web.pub.test.");
    let allowed = (f64::from(RATE) * (2.0 + elapsed)).ceil() as usize;
    assert!(again.answered <= allowed, "{again:?} in {elapsed:.3} s");
}

/// A TCP connection from 127.0.0.1 that has been answered once.
fn answered_connection(server: &TestServer) -> TcpStream {
    let mut stream = TcpStream::connect(server.dns).expect("connect over TCP");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let query = query_message("web.tcp.test.", RecordType::A, None)
        .to_vec()
        .expect("encode");
    let mut frame = (query.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&query);
    stream.write_all(&frame).expect("send the query");
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).expect("an answer's length");
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut answer).expect("the answer");
    let answer = Message::from_vec(&answer).expect("the answer decodes");
    assert_eq!(answer.answers.len(), 1, "{answer:?}");
    stream
}

const TCP_ZONE: &str = r#"
[namespace]
name = "tcp.test"
type = "DNS_PUBLIC"

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }]

[[services.instances]]
id = "web-1"
ipv4 = "10.0.0.1"
"#;

#[test]
fn a_lowered_per_client_tcp_limit_applies_to_the_next_connection() {
    let server = TestServer::start(&[("tcp.test.toml", TCP_ZONE)]);
    // Under the default limit (64 per client), three stay open.
    let mut open: Vec<TcpStream> = (0..3).map(|_| answered_connection(&server)).collect();

    let report = reload_with(&server, |config| {
        config.replace("[dns]\n", "[dns]\ntcp_max_connections_per_client = 2\n")
    });
    assert_eq!(
        report["Applied"],
        serde_json::json!(["dns.tcp_*"]),
        "{report:#}"
    );
    // The next one is over the new limit: the client's idlest (the first)
    // is closed to make room, and the new one is answered.
    open.push(answered_connection(&server));
    let mut byte = [0u8; 1];
    match open[0].read(&mut byte) {
        Ok(0) => {}
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the idlest connection was not closed: {other:?}"),
    }
}

/// A TLS handshake with the API on `port`, trusting only `trusted`: the
/// certificate the server presented, or why the handshake failed.
fn handshake(port: u16, trusted: &CertificateDer<'static>) -> Result<Vec<u8>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).expect("a trust anchor");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("a server name");
    let mut client = rustls::ClientConnection::new(Arc::new(config), name).expect("a client");
    let mut stream = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    while client.is_handshaking() {
        client
            .complete_io(&mut stream)
            .map_err(|error| error.to_string())?;
    }
    let presented = client
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or("no certificate presented")?;
    Ok(presented.to_vec())
}

#[test]
fn a_rotated_api_certificate_is_served_to_the_next_tls_client() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cert_path = dir.path().join("api.crt");
    let key_path = dir.path().join("api.key");
    let issue = || {
        let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("a test certificate");
        std::fs::write(&cert_path, pem("CERTIFICATE", issued.cert.der())).expect("write cert");
        std::fs::write(
            &key_path,
            pem("PRIVATE KEY", &issued.signing_key.serialize_der()),
        )
        .expect("write key");
        issued.cert.der().clone()
    };
    let first = issue();
    let api = ApiServer::start(
        &[],
        &[DEFAULT_KEY],
        &format!(
            "tls_cert = {:?}\ntls_key = {:?}\n",
            cert_path.display().to_string(),
            key_path.display().to_string()
        ),
    );
    assert_eq!(handshake(api.port, &first), Ok(first.to_vec()));

    // Rotated in place, as certbot or cert-manager do; the config is the
    // same.
    let second = issue();
    let report = reload(&api.server).expect("the reload succeeds");
    assert_eq!(
        report["Applied"],
        serde_json::json!(["api.tls"]),
        "{report:#}"
    );
    assert_eq!(handshake(api.port, &second), Ok(second.to_vec()));
    let refused = handshake(api.port, &first).expect_err("the old certificate is gone");
    assert!(refused.contains("certificate"), "{refused}");

    // A certificate that does not load refuses the reload, and the one
    // served stays.
    std::fs::write(&cert_path, "not a certificate\n").expect("break the cert");
    let error = reload(&api.server).expect_err("a broken certificate is refused");
    assert!(error.contains("api.crt"), "{error}");
    assert_eq!(handshake(api.port, &second), Ok(second.to_vec()));
}
