//! The agent's example systemd unit is one systemd accepts.

use crate::support::{cairn_binary, require_tool};

#[test]
fn the_agents_unit_file_passes_systemd_analyze_verify() {
    let Some(analyze) = require_tool("systemd-analyze") else {
        return;
    };
    let unit = include_str!("../../../examples/cairn-agent.service");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/cairn --socket /run/cairn/admin.sock agent docker")
    );
    assert!(unit.contains("After=docker.service cairn.service"));
    // Verify checks that ExecStart's binary exists: point it at this build.
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("cairn-agent.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/cairn", cairn_binary()))
        .expect("write the unit");
    let output = std::process::Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let said = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && said.trim().is_empty(), "{said}");
}
