//! etcd with TLS and client certificates, and etcd with authentication:
//! a node that shows what etcd asks for serves; one that does not refuses
//! to start and says why.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use serde_json::json;

use super::{Etcd, own_address, registration};
use crate::admin::{ZONE, ok, service_id};
use crate::support::{TestServer, base64, pem, spawn_server, wait_for_exit};

/// A CA, etcd's certificate (for 127.0.0.1) and a client's, as PEM files
/// in `dir`: `[ca, server cert, server key, client cert, client key]`.
fn pki(dir: &Path) -> [PathBuf; 5] {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("the CA");
    let issue = |name: &str| {
        let mut params = CertificateParams::new(vec![name.to_string()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &ca).expect("a certificate");
        (
            pem("CERTIFICATE", cert.der()),
            pem("PRIVATE KEY", &key.serialize_der()),
        )
    };
    let (server_cert, server_key) = issue("localhost");
    let (client_cert, client_key) = issue("cairn-node");
    let files = [
        ("ca.pem", pem("CERTIFICATE", ca.der())),
        ("server.pem", server_cert),
        ("server-key.pem", server_key),
        ("client.pem", client_cert),
        ("client-key.pem", client_key),
    ];
    files.map(|(name, text)| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write a PEM file");
        path
    })
}

/// Starts a node that must fail to start; returns its log.
fn refused_start(store: &str) -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("cairn.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n{store}\n[dns]\nlisten = [\"127.0.0.1:{}\"]\n\n[admin]\nsocket = {:?}\n",
            dir.path().join("data").display().to_string(),
            crate::support::free_port(),
            dir.path().join("admin.sock").display().to_string(),
        ),
    )
    .expect("write config");
    let mut child = spawn_server(&config, dir.path());
    let status = wait_for_exit(&mut child, Duration::from_secs(15));
    let log = std::fs::read_to_string(dir.path().join("cairn.log")).unwrap_or_default();
    if status.is_none() {
        let _ = child.kill();
    }
    assert!(
        status.is_some_and(|status| !status.success()),
        "a node etcd should refuse started ({status:?}):\n{log}"
    );
    log
}

#[test]
fn a_node_reaches_etcd_over_tls_with_a_client_certificate() {
    let certs = tempfile::tempdir().expect("temporary directory");
    let [ca, server_cert, server_key, client_cert, client_key] = pki(certs.path());
    let Some(etcd) = Etcd::start_with_tls(Some([server_cert, server_key, ca.clone()])) else {
        return;
    };
    let tls = format!(
        "{}ca_file = {:?}\n",
        etcd.store_config(),
        ca.display().to_string()
    );
    let with_identity = format!(
        "{tls}cert_file = {:?}\nkey_file = {:?}\n",
        client_cert.display().to_string(),
        client_key.display().to_string()
    );
    let a = TestServer::start_with(&[("svc.test.toml", ZONE)], &with_identity);
    let b = TestServer::start_with(&[], &with_identity);
    let web = service_id(&a, "web");
    ok(&a, "RegisterInstance", registration(&web, "t1", "10.2.0.1"));
    crate::support::eventually("B to answer A's registration over TLS", || {
        (own_address(&b, "t1").as_deref() == Some("10.2.0.1")).then_some(())
    });

    // Without a client certificate etcd refuses the node, which says so.
    let log = refused_start(&tls);
    assert!(log.contains("etcd at https://127.0.0.1"), "{log}");
}

#[test]
fn a_node_authenticates_to_etcd_with_a_username_and_password() {
    let Some(etcd) = Etcd::start() else { return };
    for (path, body) in [
        ("/v3/auth/role/add", json!({"name": "root"})),
        (
            "/v3/auth/user/add",
            json!({"name": "root", "password": "s3cret"}),
        ),
        (
            "/v3/auth/user/grant",
            json!({"user": "root", "role": "root"}),
        ),
        ("/v3/auth/enable", json!({})),
    ] {
        let reply = etcd.gateway(path, &body);
        assert!(reply.get("error").is_none(), "{path}: {reply}");
    }
    let store = |password: &str| {
        format!(
            "{}username = \"root\"\npassword = \"{password}\"\n",
            etcd.store_config()
        )
    };
    let a = TestServer::start_with(&[("svc.test.toml", ZONE)], &store("s3cret"));
    let web = service_id(&a, "web");
    ok(&a, "RegisterInstance", registration(&web, "u1", "10.2.1.1"));
    assert_eq!(own_address(&a, "u1").as_deref(), Some("10.2.1.1"));
    // etcd refuses anything without a token now: the data is really
    // behind the password.
    let anonymous = etcd.gateway("/v3/kv/range", &json!({"key": base64(b"/cairn-test/")}));
    assert!(anonymous.get("error").is_some(), "{anonymous}");

    let log = refused_start(&store("wrong"));
    assert!(log.contains("authentication failed"), "{log}");

    // The password from a file only its owner may read, as operators keep
    // it out of the config.
    let secrets = tempfile::tempdir().expect("temporary directory");
    let file = secrets.path().join("etcd-password");
    std::fs::write(&file, "s3cret\n").expect("write the password file");
    let from_file = |mode: u32| {
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .expect("chmod the password file");
        format!(
            "{}username = \"root\"\npassword_file = {:?}\n",
            etcd.store_config(),
            file.display().to_string()
        )
    };
    let b = TestServer::start_with(&[], &from_file(0o600));
    assert_eq!(own_address(&b, "u1").as_deref(), Some("10.2.1.1"));
    let log = refused_start(&from_file(0o644));
    assert!(
        log.contains("has mode 0644") && log.contains("chmod 600"),
        "{log}"
    );
}
