//! How the real server takes the signals an operator or a service manager
//! sends. (SIGTERM and its bound are in `admin/limits.rs`, next to the
//! stalled clients that test it.)

use hickory_proto::rr::RecordType;

use crate::support::{TestServer, eventually, rcode, send_signal};

const ZONE: &str = r#"
[namespace]
name = "sig.test"
type = "DNS_PUBLIC"

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }]

[[services.instances]]
id = "web-1"
ipv4 = "10.0.0.1"
"#;

#[test]
fn sighup_is_logged_as_not_supported_and_the_server_keeps_answering() {
    let mut server = TestServer::start(&[("sig.test.toml", ZONE)]);
    if send_signal(server.pid(), "HUP").is_none() {
        return;
    }
    let line = eventually("the SIGHUP warning in the log", || {
        assert!(
            server.try_wait().is_none(),
            "cairn exited on SIGHUP:\n{}",
            server.log()
        );
        server
            .log()
            .lines()
            .find(|line| line.contains("SIGHUP"))
            .map(str::to_string)
    });
    assert!(
        line.contains("WARN") && line.contains("not supported") && line.contains("restart"),
        "{line}"
    );
    let answer = server.udp("web.sig.test.", RecordType::A);
    assert_eq!(
        rcode(&answer),
        hickory_proto::op::ResponseCode::NoError,
        "{answer:?}"
    );
    assert_eq!(answer.answers.len(), 1, "{answer:?}");
    assert!(
        server.try_wait().is_none(),
        "still running:\n{}",
        server.log()
    );
}
