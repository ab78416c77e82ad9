//! The admin API end to end: raw HTTP/1.1 over the real Unix socket of a
//! real server, with DNS queried right after each answer.

mod arns;
mod discovery;
mod instances;
mod large;
mod limits;
mod load;
mod namespaces;
mod services;

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::Path;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use serde_json::{Value, json};

use crate::support::{DEADLINE, TestServer, rcode};

/// A namespace `svc.test` with `web` (A + SRV, MULTIVALUE) and `api`
/// (A only, custom health), both empty.
pub const ZONE: &str = r#"
[namespace]
name = "svc.test"
type = "DNS_PRIVATE"
allowed_networks = ["127.0.0.0/8"]

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }, { type = "SRV", ttl = 10 }]

[[services]]
name = "api"
records = [{ type = "A", ttl = 10 }]
custom_health_check = { failure_threshold = 1 }
"#;

pub fn start() -> TestServer {
    TestServer::start(&[("svc.test.toml", ZONE)])
}

/// One HTTP exchange.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Value,
}

impl Reply {
    /// The error name of an error reply.
    pub fn code(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.body["Message"].as_str().unwrap_or("")
    }
}

/// Sends raw bytes on a new connection and reads the reply to the end.
pub fn exchange(socket: &Path, bytes: &[u8]) -> Reply {
    let mut stream = UnixStream::connect(socket).expect("connect to the admin socket");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    // The server may answer (413) before reading a body it refuses.
    let _ = stream.write_all(bytes);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the reply");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP reply");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("reply body is not JSON ({e}): {body}"))
    };
    Reply {
        status,
        head: head.to_string(),
        body,
    }
}

/// A POST with `extra` header lines (each ending in \r\n).
pub fn post(socket: &Path, path: &str, extra: &str, body: &[u8]) -> Reply {
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    exchange(socket, &bytes)
}

/// `POST /<action>` with a JSON body.
pub fn call(server: &TestServer, action: &str, body: Value) -> Reply {
    post(
        &server.admin_socket,
        &format!("/{action}"),
        "",
        body.to_string().as_bytes(),
    )
}

/// An action that must succeed; returns its JSON.
pub fn ok(server: &TestServer, action: &str, body: Value) -> Value {
    let reply = call(server, action, body);
    assert_eq!(reply.status, 200, "{action} failed: {reply:?}");
    reply.body
}

/// An action that must fail with HTTP 400 and `code`; returns the reply.
pub fn fails(server: &TestServer, action: &str, body: Value, code: &str) -> Reply {
    let reply = call(server, action, body);
    assert_eq!(
        (reply.status, reply.code()),
        (400, code),
        "{action}: {reply:?}"
    );
    assert!(
        !reply.message().is_empty(),
        "{action}: an error needs a message"
    );
    reply
}

/// The id of the service with this name in `svc.test`.
pub fn service_id(server: &TestServer, name: &str) -> String {
    let namespace = namespace_id(server, "svc.test");
    let list = ok(
        server,
        "ListServices",
        json!({"Filters": [{"Name": "NAMESPACE_ID", "Values": [namespace], "Condition": "EQ"}]}),
    );
    list["Services"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["Name"] == name))
        .and_then(|s| s["Id"].as_str())
        .unwrap_or_else(|| panic!("no service {name}: {list}"))
        .to_string()
}

pub fn namespace_id(server: &TestServer, name: &str) -> String {
    let list = ok(
        server,
        "ListNamespaces",
        json!({"Filters": [{"Name": "NAME", "Values": [name]}]}),
    );
    list["Namespaces"][0]["Id"]
        .as_str()
        .unwrap_or_else(|| panic!("no namespace {name}: {list}"))
        .to_string()
}

pub fn register(server: &TestServer, service: &str, id: &str, ip: &str) -> String {
    let reply = ok(
        server,
        "RegisterInstance",
        json!({"ServiceId": service, "InstanceId": id,
               "Attributes": {"AWS_INSTANCE_IPV4": ip, "AWS_INSTANCE_PORT": "8080"}}),
    );
    reply["OperationId"]
        .as_str()
        .expect("an OperationId")
        .to_string()
}

/// The addresses DNS answers for `name` A.
pub fn a_records(server: &TestServer, name: &str) -> Vec<Ipv4Addr> {
    let reply = server.udp(name, RecordType::A);
    addresses(&reply)
}

pub fn addresses(reply: &Message) -> Vec<Ipv4Addr> {
    let mut found: Vec<Ipv4Addr> = reply
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    found.sort();
    found
}

/// The SRV targets DNS answers for `name`.
pub fn srv_targets(server: &TestServer, name: &str) -> Vec<String> {
    let reply = server.udp(name, RecordType::SRV);
    let mut targets: Vec<String> = reply
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) => Some(srv.target.to_ascii()),
            _ => None,
        })
        .collect();
    targets.sort();
    targets
}

#[test]
fn register_is_in_dns_at_once_and_deregister_takes_it_out() {
    let server = start();
    let web = service_id(&server, "web");
    let operation = register(&server, &web, "web-9", "10.0.0.9");
    // No wait: the answer was sent after DNS changed.
    assert_eq!(
        a_records(&server, "web-9.web.svc.test."),
        [Ipv4Addr::new(10, 0, 0, 9)]
    );
    assert_eq!(
        srv_targets(&server, "web.svc.test."),
        ["web-9.web.svc.test."]
    );
    assert_eq!(
        a_records(&server, "web.svc.test."),
        [Ipv4Addr::new(10, 0, 0, 9)]
    );

    let op = ok(&server, "GetOperation", json!({"OperationId": operation}));
    assert_eq!(op["Operation"]["Status"], "SUCCESS");
    assert_eq!(op["Operation"]["Type"], "REGISTER_INSTANCE");
    assert_eq!(op["Operation"]["Targets"]["INSTANCE"], "web-9");
    assert!(
        op["Operation"]["CreateDate"]
            .as_f64()
            .is_some_and(|t| t > 1.5e9)
    );

    ok(
        &server,
        "DeregisterInstance",
        json!({"ServiceId": web, "InstanceId": "web-9"}),
    );
    let gone = server.udp("web-9.web.svc.test.", RecordType::A);
    assert_eq!(rcode(&gone), ResponseCode::NXDomain, "{gone:?}");
    assert!(srv_targets(&server, "web.svc.test.").is_empty());
    fails(
        &server,
        "DeregisterInstance",
        json!({"ServiceId": web, "InstanceId": "web-9"}),
        "InstanceNotFound",
    );
}

#[test]
fn the_sdk_route_with_x_amz_target_works_and_bad_requests_are_refused() {
    let server = start();
    let socket = server.admin_socket.as_path();
    let target = "X-Amz-Target: Route53AutoNaming_v20170314.ListNamespaces\r\n";
    let reply = post(socket, "/", target, b"{}");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["Namespaces"][0]["Name"], "svc.test");
    assert!(
        reply
            .head
            .to_ascii_lowercase()
            .contains("content-type: application/x-amz-json-1.1")
    );
    assert!(
        reply
            .head
            .to_ascii_lowercase()
            .contains("x-amzn-requestid:")
    );
    // Header names are case-insensitive (the JS SDK sends them lower-case).
    let lower = "x-amz-target: Route53AutoNaming_v20170314.ListNamespaces\r\n";
    assert_eq!(
        post(socket, "/", lower, b"").status,
        200,
        "an empty body is {{}}"
    );

    let cases: &[(&str, &str, &[u8], u16, &str)] = &[
        (
            "/",
            "X-Amz-Target: Other_2020.ListNamespaces\r\n",
            b"{}",
            400,
            "UnknownOperationException",
        ),
        (
            "/",
            "X-Amz-Target: Route53AutoNaming_v20170314.Nope\r\n",
            b"{}",
            400,
            "UnknownOperationException",
        ),
        ("/", "", b"{}", 400, "UnknownOperationException"),
        ("/CreateKitten", "", b"{}", 400, "UnknownOperationException"),
        ("/GetNamespace", "", b"{\"Id\": ", 400, "InvalidInput"),
        ("/GetNamespace", "", b"[1, 2]", 400, "InvalidInput"),
        ("/GetNamespace", "", b"{\"Id\": 5}", 400, "InvalidInput"),
        ("/GetNamespace", "", b"{} trailing", 400, "InvalidInput"),
        ("/GetNamespace", "", b"{}", 400, "InvalidInput"),
    ];
    for (path, extra, body, status, code) in cases {
        let reply = post(socket, path, extra, body);
        assert_eq!(
            (reply.status, reply.code()),
            (*status, *code),
            "{path} {extra} {body:?}: {reply:?}"
        );
    }
    let missing = post(socket, "/GetNamespace", "", b"{}");
    assert!(
        missing.message().contains("Id"),
        "names the missing field: {missing:?}"
    );
    let wrong = post(socket, "/CreateService", "", br#"{"Name":"x","NamespaceId":"ns-x","DnsConfig":{"DnsRecords":[{"Type":"A","TTL":"ten"}]}}"#);
    assert!(
        wrong.message().contains("DnsConfig.DnsRecords[0].TTL"),
        "names the path: {wrong:?}"
    );

    let get = exchange(
        socket,
        b"GET /ListNamespaces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(get.status, 405, "{get:?}");

    // Declared too large: refused before the body is read.
    let huge = exchange(
        socket,
        format!(
            "POST /ListNamespaces HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{{",
            1024 * 1024 + 1
        )
        .as_bytes(),
    );
    assert_eq!(
        (huge.status, huge.code()),
        (413, "RequestEntityTooLarge"),
        "{huge:?}"
    );
    assert!(huge.message().contains("max_body_bytes"));
    // The server is still fine.
    ok(&server, "ListNamespaces", json!({}));
}
