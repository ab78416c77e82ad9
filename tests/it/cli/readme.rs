//! The README, followed literally: every `sh` block, in order, run by bash
//! against a real server serving the shipped example zone, as a reader on a
//! fresh machine would run them.

use std::net::Ipv4Addr;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use super::json_of;
use crate::admin::{a_records, srv_targets};
use crate::support::{TestServer, cairn_binary, require_tool};

const README: &str = include_str!("../../../README.md");

/// The README's `sh` blocks in order, each with the heading of its section.
fn shell_blocks() -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut heading = String::new();
    let mut block: Option<String> = None;
    for line in README.lines() {
        match &mut block {
            None if line.starts_with("## ") => heading = line.to_string(),
            None if line == "```sh" => block = Some(String::new()),
            None => {}
            Some(_) if line.starts_with("```") => {
                blocks.push((heading.clone(), block.take().unwrap_or_default()));
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    blocks
}

#[test]
fn every_shell_block_of_the_readme_runs_in_order() {
    let tools = ["bash", "curl", "jq", "dig"].map(|tool| (tool, require_tool(tool)));
    if let Some((tool, _)) = tools.iter().find(|(_, found)| found.is_none()) {
        eprintln!("{tool} is not installed; skipping the README's shell blocks");
        return;
    }
    let Some(aws) = crate::api::aws_cli() else {
        return;
    };
    let blocks = shell_blocks();
    let (quick_start, rest) = blocks.split_first().expect("the README has shell blocks");
    // The quick start's two commands are the ones CI runs itself: `cargo
    // test --features etcd` is this suite, and the server it starts is the one below.
    assert_eq!(quick_start.0, "## Quick start");
    let commands: Vec<&str> = quick_start
        .1
        .lines()
        .filter_map(|line| line.split('#').next())
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(
        commands,
        ["cargo run --release -- serve", "cargo test --features etcd"]
    );
    assert!(rest.len() >= 6, "{rest:#?}");

    // The reader's directory: `./cairn.sock` is the server's socket, as it
    // is where `cairn serve` runs on its defaults, and `./admin.secret` the
    // network API's key, as the README's API example has it.
    let reader = tempfile::tempdir().expect("a temp dir");
    const SECRET: &str = "readme-example-secret-0000000000000000000";
    let secret = reader.path().join("admin.secret");
    std::fs::write(&secret, SECRET).expect("write the secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("secret mode");
    let api_port = crate::support::free_port();
    let server = TestServer::start_with(
        &[(
            "svc.internal.toml",
            include_str!("../../../zones/svc.internal.toml"),
        )],
        &format!(
            "[api]\nlisten = [\"127.0.0.1:{api_port}\"]\n[[api.keys]]\naccess_key_id = \"AKIACAIRNADMIN000001\"\nsecret_file = {:?}\n",
            secret.display().to_string()
        ),
    );
    symlink(&server.admin_socket, reader.path().join("cairn.sock")).expect("link the socket");
    let binary_dir = Path::new(cairn_binary())
        .parent()
        .expect("the binary's directory");
    let aws_dir = aws.parent().filter(|dir| !dir.as_os_str().is_empty());
    let path = format!(
        "{}:{}{}",
        binary_dir.display(),
        aws_dir.map_or(String::new(), |dir| format!("{}:", dir.display())),
        std::env::var("PATH").unwrap_or_default()
    );
    // The containers section needs Docker (tests/it/agent/docker.rs): run
    // with it when there is one, skipped otherwise (failed under CI).
    let mut containers = None;
    for (heading, block) in rest {
        // The one change: the README's ports (DNS on the default 1053, the
        // API example's 8787) become the test server's free ports.
        let mut script = block
            .replace("-p 1053", &format!("-p {}", server.dns.port()))
            .replace("127.0.0.1:8787", &format!("127.0.0.1:{api_port}"));
        let mut command = Command::new("bash");
        if heading == "## Containers" {
            let Some(docker) = crate::agent::DockerHost::get() else {
                continue;
            };
            // And the image: busybox, imported here as the tests' image.
            script = script.replace(" busybox httpd", &format!(" {} httpd", crate::agent::IMAGE));
            let guard =
                containers.get_or_insert_with(|| crate::agent::Containers::new(docker, "readme"));
            guard.adopt("app-1");
            command.env("DOCKER_HOST", format!("unix://{}", docker.socket.display()));
        }
        let output = command
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(reader.path())
            .env("PATH", &path)
            .env("HOME", reader.path())
            .env_remove("CAIRN_SOCKET")
            .env_remove("CAIRN_CONFIG")
            .output()
            .expect("run bash");
        assert!(
            output.status.success(),
            "a block of {heading} failed:\n{block}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // What the blocks did is what DNS and the API now say.
    assert!(
        !srv_targets(&server, "web.svc.internal.").contains(&"web-9.web.svc.internal.".into()),
        "web-9 was deregistered again"
    );
    assert_eq!(
        a_records(&server, "web-8.web.svc.internal."),
        [Ipv4Addr::new(10, 0, 0, 8)]
    );
    assert_eq!(
        a_records(&server, "api.apps.internal."),
        [Ipv4Addr::new(10, 0, 5, 1)],
        "UNHEALTHY alone, api-1 is still served rather than nothing"
    );
    let billing = json_of(
        &server,
        &["health", "get", "--service", "billing.apps.internal"],
    );
    assert_eq!(billing["Status"]["billing-1"], "HEALTHY", "{billing}");
    assert_eq!(
        a_records(&server, "cron.apps.internal."),
        [Ipv4Addr::new(10, 0, 6, 2)]
    );
    let completions = reader
        .path()
        .join(".local/share/bash-completion/completions/cairn");
    assert!(
        std::fs::metadata(&completions).is_ok_and(|file| file.len() > 0),
        "the completions file was written"
    );
}
