//! The agent's example systemd unit is one systemd accepts.

#[test]
fn the_agents_unit_file_passes_systemd_analyze_verify() {
    let unit = include_str!("../../../examples/cairn-agent.service");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/cairn --socket /run/cairn/admin.sock agent docker")
    );
    assert!(unit.contains("After=docker.service cairn.service"));
    crate::signals::verify_unit("cairn-agent.service", unit);
}
