//! Every example of the README's "Admin API and CLI" section, run.

use std::net::Ipv4Addr;
use std::process::Command;

use super::{json_of, succeeds};
use crate::admin::{a_records, post, srv_targets};
use crate::support::{TestServer, cairn_binary};

/// The README's "Admin API and CLI" examples, run as written against the
/// shipped example zone.
#[test]
fn readme_examples_run() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("## Admin API and CLI")
        .nth(1)
        .expect("README has an Admin API and CLI section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in section.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block || line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(start) => pending.push_str(start),
            None => {
                pending.push_str(line);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    assert!(commands.len() >= 15, "{commands:#?}");

    let server = TestServer::start(&[(
        "svc.internal.toml",
        include_str!("../../../zones/svc.internal.toml"),
    )]);
    let mut service_id = String::new();
    for command in &commands {
        let command = command.trim();
        if let Some(rest) = command.strip_prefix("curl ") {
            let body = rest
                .split_once("-d '")
                .and_then(|(_, body)| body.rsplit_once('\''))
                .map(|(body, _)| body.replace("'\"$SERVICE_ID\"'", &service_id))
                .unwrap_or_default();
            let url = rest
                .split_whitespace()
                .find(|w| w.starts_with("http://localhost/"))
                .expect("a URL");
            let path = url.trim_start_matches("http://localhost");
            let target = rest
                .split_once("X-Amz-Target: ")
                .and_then(|(_, t)| t.split_once('\''))
                .map(|(t, _)| format!("X-Amz-Target: {t}\r\n"))
                .unwrap_or_default();
            let reply = post(&server.admin_socket, path, &target, body.as_bytes());
            assert_eq!(reply.status, 200, "{command}: {reply:?}");
        } else if command.starts_with("SERVICE_ID=") {
            let got = json_of(&server, &["service", "get", "web.svc.internal"]);
            service_id = got["Service"]["Id"].as_str().expect("id").to_string();
        } else if command.starts_with("dig ") {
            assert!(
                srv_targets(&server, "web.svc.internal.")
                    .contains(&"web-9.web.svc.internal.".to_string())
            );
        } else if let Some(rest) = command.strip_prefix("cairn ") {
            let args: Vec<&str> = rest
                .split(" > ")
                .next()
                .unwrap_or(rest)
                .split_whitespace()
                .collect();
            if args.first() == Some(&"completions") {
                let output = Command::new(cairn_binary())
                    .args(&args)
                    .output()
                    .expect("run cairn");
                assert!(
                    output.status.success() && !output.stdout.is_empty(),
                    "{command}"
                );
            } else {
                succeeds(&server, &args);
            }
        } else {
            panic!("README example not understood by this test: {command}");
        }
    }
    // The curl registration is in DNS too.
    assert_eq!(
        a_records(&server, "web-8.web.svc.internal."),
        [Ipv4Addr::new(10, 0, 0, 8)]
    );
}
