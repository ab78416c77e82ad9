//! The API over HTTPS with a certificate made for the test: boto3 verifies
//! it against that certificate as its CA bundle, then runs the flow.

use serde_json::json;

use super::{ApiServer, DEFAULT_KEY, KEY_ID, SECRET, python};
use crate::support::pem;

#[test]
fn boto3_drives_the_flow_over_https() {
    let Some(python) = python() else { return };
    let certs = tempfile::tempdir().expect("temp dir");
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("a test certificate");
    let cert = certs.path().join("api.crt");
    let key = certs.path().join("api.key");
    std::fs::write(&cert, pem("CERTIFICATE", issued.cert.der())).expect("write cert");
    std::fs::write(
        &key,
        pem("PRIVATE KEY", &issued.signing_key.serialize_der()),
    )
    .expect("write key");
    let api = ApiServer::start(
        &[],
        &[DEFAULT_KEY],
        &format!(
            "tls_cert = {:?}\ntls_key = {:?}\n",
            cert.display().to_string(),
            key.display().to_string()
        ),
    );
    assert!(api.endpoint.starts_with("https://localhost:"));
    let bundle = json!({"ca_bundle": cert.display().to_string()});
    let mut state = api.boto3(&python, "setup", (KEY_ID, SECRET), &bundle);
    state["ca_bundle"] = bundle["ca_bundle"].clone();
    let finished = api.boto3(&python, "finish", (KEY_ID, SECRET), &state);
    assert_eq!(finished["finished"], true);

    // Plain HTTP to the TLS port gets no answer.
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", api.port)).expect("connect");
    stream
        .set_read_timeout(Some(crate::support::DEADLINE))
        .expect("timeout");
    let _ =
        stream.write_all(b"POST /ListNamespaces HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    assert!(!reply.starts_with(b"HTTP/1.1 200"), "plain HTTP was served");
}
