//! The server's log as a collector reads it: `cairn serve --log-format
//! json` writes one JSON object a line, each with its level, message and
//! fields, and the span it was logged in; colour codes never, in JSON even
//! on a terminal, and in text only there.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    cairn_binary, eventually, exchange_udp, free_port, query_message, require_tool, send_signal,
    wait_for_exit,
};

const ZONE: &str = r#"
[namespace]
name = "log.test"
type = "DNS_PUBLIC"

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }]
"#;

/// A config in `dir` that asks for text logs (the flag must win), with a
/// zones directory; returns it and the DNS port.
fn config(dir: &Path) -> (PathBuf, u16) {
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).expect("zones dir");
    std::fs::write(zones.join("log.test.toml"), ZONE).expect("zone file");
    let port = free_port();
    let path = dir.join("cairn.toml");
    std::fs::write(
        &path,
        format!(
            "zones_dir = {:?}\ndata_dir = {:?}\n[log]\nlevel = \"info\"\nformat = \"text\"\n[dns]\nlisten = [\"127.0.0.1:{port}\"]\n[admin]\nsocket = {:?}\n",
            zones.display().to_string(),
            dir.join("data").display().to_string(),
            dir.join("admin.sock").display().to_string(),
        ),
    )
    .expect("config");
    (path, port)
}

fn wait_until_answering(child: &mut Child, port: u16) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let probe = query_message("web.log.test.", hickory_proto::rr::RecordType::A, None);
    eventually("cairn to answer DNS", || {
        assert!(child.try_wait().ok().flatten().is_none(), "cairn exited");
        exchange_udp(addr, &probe, None, Duration::from_millis(100))
            .ok()
            .map(drop)
    });
}

#[test]
fn every_line_of_the_json_log_is_an_object_with_level_message_fields_and_span() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (config, port) = config(dir.path());
    let log_path = dir.path().join("cairn.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(cairn_binary())
        .args(["serve", "--log-format", "json", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start cairn");
    wait_until_answering(&mut child, port);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // A reload: its lines carry its span; the file's `format = "text"`
    // must not win over the flag at the reload either.
    if send_signal(child.id(), "HUP").is_none() {
        let _ = child.kill();
        return;
    }
    eventually("the reload in the log", || {
        log()
            .lines()
            .any(|line| line.contains("\"reloaded\""))
            .then_some(())
    });
    send_signal(child.id(), "TERM");
    assert!(
        wait_for_exit(&mut child, Duration::from_secs(10)).is_some(),
        "cairn did not stop on SIGTERM"
    );

    let text = log();
    assert!(!text.contains('\u{1b}'), "colour in the JSON log:\n{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"))
        })
        .collect();
    for line in &lines {
        let level = line["level"].as_str().unwrap_or_default();
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
            "no level: {line}"
        );
        assert!(
            line["fields"]["message"]
                .as_str()
                .is_some_and(|message| !message.is_empty()),
            "no message: {line}"
        );
        assert!(line["target"].is_string(), "no target: {line}");
        assert!(line["timestamp"].is_string(), "no timestamp: {line}");
    }
    let find = |message: &str| {
        lines
            .iter()
            .find(|line| line["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line in:\n{text}"))
    };
    // Lifecycle lines carry their fields as JSON values.
    let listening = find("DNS listening");
    assert_eq!(
        listening["fields"]["udp"],
        format!("127.0.0.1:{port}"),
        "{listening}"
    );
    assert_eq!(find("zones applied")["fields"]["files"], 1);
    // Inside the reload: its span, with its fields.
    for message in ["reloading the config and zones/", "reloaded"] {
        let line = find(message);
        assert_eq!(line["span"]["name"], "reload", "{line}");
        assert_eq!(line["span"]["reload"], 1, "{line}");
        assert_eq!(line["span"]["by"], "signal", "{line}");
    }
    // Outside it, none.
    assert!(find("cairn stopped").get("span").is_none());
    find("cairn ready");
}

/// On a terminal (a pty from `script`), text is coloured and JSON is not.
#[test]
fn json_has_no_colour_even_on_a_terminal() {
    let Some(script) = require_tool("script") else {
        return;
    };
    for (format, coloured) in [("text", true), ("json", false)] {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (config, port) = config(dir.path());
        let typescript = dir.path().join("typescript");
        let command = format!(
            "exec {} serve --log-format {format} --config {}",
            cairn_binary(),
            config.display()
        );
        // `script` gives the command a pty of its own and copies what it
        // writes to the file as it comes (-f).
        let mut child = Command::new(&script)
            .args(["-qfec", &command])
            .arg(&typescript)
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run script");
        wait_until_answering(&mut child, port);
        let read = || std::fs::read_to_string(&typescript).unwrap_or_default();
        eventually("cairn ready on the terminal", || {
            read().contains("cairn ready").then_some(())
        });
        // The shell exec'd into cairn: script's only child.
        let children = format!("/proc/{0}/task/{0}/children", child.id());
        let server: u32 = std::fs::read_to_string(&children)
            .ok()
            .and_then(|pids| pids.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no child of script in {children}"));
        send_signal(server, "TERM");
        assert!(
            wait_for_exit(&mut child, Duration::from_secs(10)).is_some(),
            "cairn under script did not stop on SIGTERM"
        );
        let text = read();
        assert_eq!(
            text.contains('\u{1b}'),
            coloured,
            "{format} on a terminal:\n{text}"
        );
        if format == "json" {
            // The file opens and closes with script's own lines.
            let lines: Vec<&str> = text
                .lines()
                .map(|line| line.trim_end_matches('\r'))
                .filter(|line| {
                    !line.is_empty()
                        && !line.starts_with("Script started")
                        && !line.starts_with("Script done")
                })
                .collect();
            assert!(lines.len() >= 3, "{text}");
            for line in lines {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line:?}"));
            }
        }
    }
}
