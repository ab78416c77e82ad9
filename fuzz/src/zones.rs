//! Zones files: any text must be read into a `ZoneFile` or refused with an
//! error that names the file, never a panic.

use std::path::Path;

pub fn file(data: &[u8]) {
    // Zones files are read as text; bytes that are not UTF-8 are refused
    // before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    if let Err(error) = cairn::config::zones::parse_zone_file(path, text) {
        let message = error.to_string();
        assert!(
            message.contains("fuzz.toml"),
            "error names no file: {message}"
        );
    }
}
