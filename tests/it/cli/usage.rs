//! Using the CLI itself: exit codes, where it finds the socket, its help
//! and shell completions.

use std::process::Command;

use super::{exits, start, stderr, stdout};
use crate::support::cairn_binary;

#[test]
fn exit_codes_tell_the_kind_of_failure() {
    let server = start();
    let err = exits(&server, &["service", "get", "nope.svc.internal"], 3);
    assert!(err.starts_with("cairn: ServiceNotFound: "), "{err}");
    let err = exits(&server, &["namespace", "get", "ns-doesnotexist"], 3);
    assert!(err.starts_with("cairn: NamespaceNotFound: "), "{err}");
    exits(
        &server,
        &["instance", "get", "-s", "web.svc.internal", "--id", "ghost"],
        3,
    );
    let err = exits(&server, &["namespace", "delete", "svc.internal"], 4);
    assert!(err.starts_with("cairn: ResourceInUse: "), "{err}");
    let err = exits(
        &server,
        &[
            "instance",
            "register",
            "-s",
            "web.svc.internal",
            "--id",
            "w",
            "--port",
            "80",
        ],
        4,
    );
    assert!(
        err.starts_with("cairn: InvalidInput: ") && err.contains("AWS_INSTANCE_IPV4"),
        "{err}"
    );
    exits(&server, &["namespace", "create", "svc.internal"], 4);
    exits(
        &server,
        &[
            "health",
            "set",
            "-s",
            "web.svc.internal",
            "--id",
            "w",
            "HEALTHY",
        ],
        4,
    );
    exits(&server, &["discover", "web.svc.internal", "--max", "0"], 4);
    // Usage errors are clap's: 2.
    exits(
        &server,
        &[
            "instance",
            "register",
            "-s",
            "web.svc.internal",
            "--id",
            "w",
            "--attr",
            "novalue",
        ],
        2,
    );
    exits(
        &server,
        &["service", "create", "x.svc.internal", "--record", "MX"],
        2,
    );
    exits(
        &server,
        &["discover", "web.svc.internal", "--health", "SOMETIMES"],
        2,
    );
    exits(&server, &["instance", "list"], 2);

    let output = Command::new(cairn_binary())
        .args(["namespace", "list", "--socket"])
        .arg(server.dir.path().join("nothing-here.sock"))
        .output()
        .expect("run cairn");
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(
        stderr(&output).starts_with("cairn: NoConnection: "),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_socket_comes_from_the_config_or_the_environment() {
    let server = start();
    let output = Command::new(cairn_binary())
        .args(["namespace", "list", "--config"])
        .arg(&server.config_path)
        .env_remove("CAIRN_SOCKET")
        .env_remove("CAIRN_CONFIG")
        .output()
        .expect("run cairn");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("svc.internal"));
    let output = Command::new(cairn_binary())
        .args(["namespace", "list"])
        .env("CAIRN_SOCKET", &server.admin_socket)
        .env_remove("CAIRN_CONFIG")
        .output()
        .expect("run cairn");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("svc.internal"));
}

/// What `--help` shows, no server needed.
#[test]
fn the_socket_and_output_flags_go_before_or_after_the_subcommand() {
    let server = start();
    let socket = server.admin_socket.to_str().expect("a UTF-8 path");
    for args in [
        vec!["--socket", socket, "--output", "json", "namespace", "list"],
        vec!["namespace", "list", "--socket", socket, "-o", "json"],
    ] {
        let output = Command::new(cairn_binary())
            .args(&args)
            .env_remove("CAIRN_SOCKET")
            .env_remove("CAIRN_CONFIG")
            .output()
            .expect("run cairn");
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        let listed: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("JSON output");
        assert_eq!(listed["Namespaces"][0]["Name"], "svc.internal", "{args:?}");
    }
}

#[test]
fn a_start_up_error_names_its_cause_once_and_logs_carry_no_colour_codes() {
    let server = start();
    // A second server on the first one's DNS port cannot bind it.
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("cairn.toml");
    std::fs::write(
        &config,
        format!(
            "[dns]\nlisten = [\"{}\"]\n[admin]\nsocket = \"{}\"\n",
            server.dns,
            dir.path().join("other.sock").display()
        ),
    )
    .expect("write the config");
    let output = Command::new(cairn_binary())
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env_remove("CAIRN_SOCKET")
        .env_remove("CAIRN_CONFIG")
        .output()
        .expect("run cairn serve");
    assert!(!output.status.success());
    let error = stderr(&output);
    let last = error.lines().last().unwrap_or_default();
    assert!(last.starts_with("cairn: "), "{error}");
    let cause = "Address already in use";
    assert_eq!(last.matches(cause).count(), 1, "said once: {last}");
    // stderr was a pipe, not a terminal: no escape codes anywhere.
    assert!(!error.contains('\u{1b}'), "{error:?}");
    assert!(!server.log().contains('\u{1b}'), "the server's log file");
}

fn help(args: &[&str]) -> String {
    let output = Command::new(cairn_binary())
        .args(args)
        .arg("--help")
        .output()
        .expect("run cairn");
    assert!(output.status.success());
    stdout(&output)
}

#[test]
fn help_names_every_subcommand_and_the_exit_codes() {
    let top = help(&[]);
    for word in [
        "namespace",
        "service",
        "instance",
        "discover",
        "health",
        "completions",
        "Exit codes",
        "5  no connection",
    ] {
        assert!(top.contains(word), "top-level help lacks {word}:\n{top}");
    }
    let groups: &[&[&str]] = &[
        &["namespace", "create"],
        &["namespace", "list"],
        &["namespace", "get"],
        &["namespace", "delete"],
        &["service", "create"],
        &["service", "list"],
        &["service", "get"],
        &["service", "update"],
        &["service", "delete"],
        &["instance", "register"],
        &["instance", "deregister"],
        &["instance", "list"],
        &["instance", "get"],
        &["discover"],
        &["health", "set"],
        &["health", "get"],
        &["completions"],
    ];
    for args in groups {
        let text = help(args);
        assert!(text.contains("Usage: cairn"), "{args:?}: {text}");
        if args[0] != "completions" {
            assert!(
                text.contains("--socket") && text.contains("--output"),
                "{args:?}: {text}"
            );
        }
    }
    assert!(help(&["instance"]).contains("Exit codes"));
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(cairn_binary())
            .args(["completions", shell])
            .output()
            .expect("run cairn");
        assert!(output.status.success());
        let text = stdout(&output);
        assert!(
            text.contains("cairn") && text.contains("register"),
            "{shell}: {text}"
        );
    }
}
