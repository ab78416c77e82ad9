//! AFL++'s entry point: `afl-target <target>` runs one of the targets of
//! [`cairn_fuzz::TARGETS`] on each input AFL++ gives it.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = cairn_fuzz::target(&name) else {
        eprintln!(
            "usage: afl-target <target>; targets: {}",
            cairn_fuzz::TARGETS.map(|(name, _)| name).join(", ")
        );
        std::process::exit(2);
    };
    // One run before the fork server starts, so that what a target builds
    // once (the query targets' name table) is built in the parent, not in
    // every child.
    target(&[]);
    afl::fuzz!(|data: &[u8]| target(data));
}
