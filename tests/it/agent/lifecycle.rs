//! A labelled container's life: in DNS once it runs, out when it stops or
//! is removed; `--once`; the same agent over TCP with SigV4.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use super::{Agent, Containers, DockerHost, instance_ids, instances, web_id};
use crate::admin::{a_records, srv_targets};
use crate::support::{TestServer, eventually, free_port, pem};

const NS: &str = "life.agent.test";

#[test]
fn a_labelled_container_is_in_dns_while_it_runs_and_gone_when_stopped_or_removed() {
    let Some(docker) = DockerHost::get() else {
        return;
    };
    let server = super::server(NS, "");
    let _agent = Agent::start(&server, docker, "host-life", &[]);
    let mut containers = Containers::new(docker, "life");
    let service = format!("web.{NS}");
    let label = format!("cairn.service={service}");

    let invoked = Instant::now();
    let name = containers.run(
        "web",
        &["--label", &label, "--label", "cairn.port=8080"],
        &["sleep", "600"],
    );
    let returned = Instant::now();
    let host = format!("{name}.web.{NS}.");
    eventually("the container's own name in DNS", || {
        (!a_records(&server, &host).is_empty()).then_some(())
    });
    let in_dns = Instant::now();
    eprintln!(
        "start→DNS: {:?} from `docker run` invoked, {:?} from its return",
        in_dns - invoked,
        in_dns - returned
    );
    assert!(
        in_dns - returned < Duration::from_secs(5),
        "the bound: {:?}",
        in_dns - returned
    );
    let ip = containers.ip(&name);
    assert_eq!(a_records(&server, &format!("web.{NS}.")), [ip]);
    assert_eq!(
        srv_targets(&server, &format!("web.{NS}.")),
        std::slice::from_ref(&host)
    );
    let srv = server.udp(&format!("web.{NS}."), RecordType::SRV);
    assert!(
        format!("{srv:?}").contains("port: 8080"),
        "SRV carries the labelled port: {srv:?}"
    );
    let web = web_id(&server, NS);
    let attributes = &instances(&server, &web)[&name];
    assert_eq!(attributes["cairn.agent"], "host-life", "{attributes}");
    assert_eq!(attributes["AWS_INSTANCE_PORT"], "8080", "{attributes}");

    docker.run(&["stop", "-t", "0", &name]);
    eventually("a stopped container out of DNS", || {
        a_records(&server, &host).is_empty().then_some(())
    });
    assert!(a_records(&server, &format!("web.{NS}.")).is_empty());
    assert!(instance_ids(&server, &web).is_empty());

    docker.run(&["start", &name]);
    eventually("a started-again container back in DNS", || {
        (!a_records(&server, &host).is_empty()).then_some(())
    });
    docker.run(&["rm", "-f", &name]);
    eventually("a removed container out of DNS", || {
        a_records(&server, &host).is_empty().then_some(())
    });
    assert!(instance_ids(&server, &web).is_empty());
}

#[test]
fn once_reconciles_and_exits() {
    let Some(docker) = DockerHost::get() else {
        return;
    };
    let ns = "once.agent.test";
    let server = super::server(ns, "");
    let mut containers = Containers::new(docker, "once");
    let label = format!("cairn.service=web.{ns}");
    let name = containers.run(
        "web",
        &["--label", &label, "--expose", "80"],
        &["sleep", "600"],
    );
    let output = Agent::command(&server, docker, "host-once", &["--once"])
        .output()
        .expect("run the agent once");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let web = web_id(&server, ns);
    assert_eq!(instance_ids(&server, &web), std::slice::from_ref(&name));
    assert_eq!(
        a_records(&server, &format!("web.{ns}.")),
        [containers.ip(&name)]
    );

    docker.run(&["stop", "-t", "0", &name]);
    let output = Agent::command(&server, docker, "host-once", &["--once"])
        .output()
        .expect("run the agent once");
    assert!(output.status.success());
    assert!(instance_ids(&server, &web).is_empty());

    // No cairn: --once says so and fails.
    let mut stopped = server;
    stopped.kill();
    let output = Agent::command(&stopped, docker, "host-once", &["--once"])
        .output()
        .expect("run the agent once");
    assert_eq!(output.status.code(), Some(5));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("unreachable"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn over_tcp_the_agent_signs_its_calls() {
    let Some(docker) = DockerHost::get() else {
        return;
    };
    let ns = "tcp.agent.test";
    let secrets = tempfile::tempdir().expect("secrets");
    let secret = secrets.path().join("agent.secret");
    std::fs::write(&secret, "agent-secret/with+symbols").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("mode");
    let port = free_port();
    let server = TestServer::start_with(
        &[("agent.toml", &super::zone(ns, ""))],
        &format!(
            "[api]\nlisten = [\"127.0.0.1:{port}\"]\n[[api.keys]]\naccess_key_id = \"AKIDAGENT\"\nsecret_file = {:?}\n",
            secret.display().to_string()
        ),
    );
    let mut containers = Containers::new(docker, "tcp");
    let label = format!("cairn.service=web.{ns}");
    let name = containers.run(
        "web",
        &["--label", &label, "--expose", "80"],
        &["sleep", "600"],
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let run = |secret: &str| {
        Agent::command(
            &server,
            docker,
            "host-tcp",
            &["--once", "--endpoint", &endpoint],
        )
        .env("AWS_ACCESS_KEY_ID", "AKIDAGENT")
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "eu-west-3")
        .output()
        .expect("run the agent once")
    };
    let web = web_id(&server, ns);
    let refused = run("a-wrong-secret");
    assert_eq!(refused.status.code(), Some(5));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("InvalidSignatureException"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(instance_ids(&server, &web).is_empty());
    let signed = run("agent-secret/with+symbols");
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    assert_eq!(instance_ids(&server, &web), [name]);
}

#[test]
fn over_https_the_agent_verifies_cairns_certificate() {
    let Some(docker) = DockerHost::get() else {
        return;
    };
    let ns = "tls.agent.test";
    let files = tempfile::tempdir().expect("secrets");
    let secret = files.path().join("agent.secret");
    std::fs::write(&secret, "agent-secret").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("mode");
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("a test certificate");
    let cert = files.path().join("api.crt");
    let key = files.path().join("api.key");
    std::fs::write(&cert, pem("CERTIFICATE", issued.cert.der())).expect("write cert");
    std::fs::write(
        &key,
        pem("PRIVATE KEY", &issued.signing_key.serialize_der()),
    )
    .expect("write key");
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("another certificate");
    let untrusted = files.path().join("other.crt");
    std::fs::write(&untrusted, pem("CERTIFICATE", other.cert.der())).expect("write cert");
    let port = free_port();
    let server = TestServer::start_with(
        &[("agent.toml", &super::zone(ns, ""))],
        &format!(
            "[api]\nlisten = [\"127.0.0.1:{port}\"]\ntls_cert = {:?}\ntls_key = {:?}\n[[api.keys]]\naccess_key_id = \"AKIDAGENT\"\nsecret_file = {:?}\n",
            cert.display().to_string(),
            key.display().to_string(),
            secret.display().to_string()
        ),
    );
    let mut containers = Containers::new(docker, "tls");
    let label = format!("cairn.service=web.{ns}");
    let name = containers.run(
        "web",
        &["--label", &label, "--expose", "80"],
        &["sleep", "600"],
    );
    let endpoint = format!("https://localhost:{port}");
    let run = |bundle: &std::path::Path| {
        Agent::command(
            &server,
            docker,
            "host-tls",
            &["--once", "--endpoint", &endpoint],
        )
        .env("AWS_ACCESS_KEY_ID", "AKIDAGENT")
        .env("AWS_SECRET_ACCESS_KEY", "agent-secret")
        .env("AWS_DEFAULT_REGION", "eu-west-3")
        .env("AWS_CA_BUNDLE", bundle)
        .output()
        .expect("run the agent once")
    };
    let web = web_id(&server, ns);
    // A certificate the bundle does not vouch for: nothing is sent.
    let refused = run(&untrusted);
    assert_eq!(refused.status.code(), Some(5), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("TLS"), "{said}");
    assert!(instance_ids(&server, &web).is_empty());
    let trusted = run(&cert);
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert_eq!(instance_ids(&server, &web), [name]);
}
