//! Java's JNDI DNS provider against cairn: one type at a time, and the
//! multi-type lookup (`getAttributes(name, {"A","AAAA","SRV"})`), which
//! JNDI sends as one ANY query and which works only because cairn answers
//! ANY with every RRset at the name.

use std::path::Path;
use std::process::Command;

use super::ZONE;
use crate::support::{TestServer, require_tool};

/// What JNDI reports for each `(name, types)` lookup, in one JVM: a line
/// per attribute.
fn jndi(java: &Path, server: &TestServer, lookups: &[(&str, &str)]) -> Vec<Vec<String>> {
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/resolvers/Jndi.java");
    let output = Command::new(java)
        .arg(program)
        .arg(format!("dns://{}", server.dns))
        .args(lookups.iter().flat_map(|(name, types)| [name, types]))
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", java.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "JNDI: {}
{stdout}
server log:
{}",
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    let mut answers: Vec<Vec<String>> = Vec::new();
    let mut headers = lookups
        .iter()
        .map(|(name, types)| format!("{name} {types}"));
    let mut next = headers.next();
    for line in stdout.lines() {
        if next.as_deref() == Some(line) {
            answers.push(Vec::new());
            next = headers.next();
        } else if let Some(answer) = answers.last_mut() {
            answer.push(line.to_string());
        }
    }
    assert_eq!(answers.len(), lookups.len(), "JNDI printed:\n{stdout}");
    answers
}

#[test]
fn jndi_gets_every_type_it_asks_for_in_one_lookup() {
    let Some(java) = require_tool("java") else {
        return;
    };
    let server = TestServer::start(&[("svc.internal.toml", ZONE)]);
    let a = "A 10.0.1.1 | 10.0.1.2";
    let aaaa = "AAAA fd00::1:1 | fd00::1:2";
    let srv = "SRV 1 1 8080 web-1.web.svc.internal. | 1 1 8080 web-2.web.svc.internal.";
    let answers = jndi(
        &java,
        &server,
        &[
            ("web.svc.internal", "A"),
            ("web.svc.internal", "SRV"),
            ("web.svc.internal", "A,AAAA,SRV"),
            ("db.svc.internal", "A,AAAA"),
            ("nothing.svc.internal", "A,SRV"),
        ],
    );
    assert_eq!(answers[0], [a]);
    assert_eq!(answers[1], [srv]);
    assert_eq!(
        answers[2],
        [a, aaaa, srv],
        "the multi-type lookup (one ANY query) must see every RRset"
    );
    assert_eq!(answers[3], ["A 10.0.2.1"]);
    assert_eq!(answers[4], ["NameNotFound"]);
}
