//! Printing results: aligned tables for people, the API's JSON for scripts.
//! Output goes to stdout only; a closed pipe (`| head`) is not an error.

use std::io::Write;

use serde::Serialize;

use super::{CliError, CliResult, Output};
use crate::admin::api::Attributes;
use crate::admin::client::ClientError;

/// Writes text to stdout, ignoring a reader that went away.
pub fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
    let _ = stdout.flush();
}

/// Prints `value` as pretty JSON.
pub fn json(value: &impl Serialize) -> CliResult {
    let text = serde_json::to_string_pretty(value).map_err(|error| {
        CliError::Client(ClientError::Protocol {
            path: Default::default(),
            message: format!("cannot encode the output: {error}"),
        })
    })?;
    print(&text);
    Ok(())
}

/// Prints `value` as JSON, or the table `rows` makes.
pub fn emit(output: Output, value: &impl Serialize, table: impl FnOnce() -> String) -> CliResult {
    match output {
        Output::Json => json(value),
        Output::Table => {
            print(&table());
            Ok(())
        }
    }
}

/// Aligned columns with a header line; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                text.push_str(cell);
                let pad = widths[i] - cell.chars().count() + 2;
                text.push_str(&" ".repeat(pad));
            }
        }
        text.trim_end().to_string()
    };
    let mut lines = vec![line(headers.to_vec())];
    for row in rows {
        lines.push(line(row.iter().map(String::as_str).collect()));
    }
    lines.join("\n")
}

/// A cell: the value or `-`.
pub fn cell(value: Option<&str>) -> String {
    match value {
        Some(text) if !text.is_empty() => text.to_string(),
        _ => "-".to_string(),
    }
}

/// The reserved attribute `key`, or `-`.
pub fn attribute(attributes: &Attributes, key: &str) -> String {
    cell(attributes.get(key).map(String::as_str))
}

/// The attributes other than AWS_INSTANCE_*, as `k=v,k=v`.
pub fn custom_attributes(attributes: &Attributes) -> String {
    let custom: Vec<String> = attributes
        .iter()
        .filter(|(key, _)| !key.starts_with("AWS_INSTANCE_"))
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    if custom.is_empty() {
        "-".to_string()
    } else {
        custom.join(",")
    }
}
