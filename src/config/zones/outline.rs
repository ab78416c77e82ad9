//! A zones file's outline: where its namespace tables are and where its
//! services are, found by lexing the file one statement at a time. Parsing a
//! whole file as one TOML tree holds ~40 times the file's size at once (the
//! tokens, the parse events and the table tree); the outline lets a large
//! file be parsed one batch of services at a time instead, without holding
//! its text.
//!
//! TOML lets tables come in any order, so the outline cuts the file into two
//! kinds of document, each valid TOML on its own and meaning what it means
//! in the whole file:
//! - the *head*: everything not under `services` — the `[namespace]` tables,
//!   and `services = [...]` when the services are written inline;
//! - *batches* of `[[services]]` tables, each with the `[[services.instances]]`
//!   and `[services.…]` tables that follow it. Such a table belongs to the
//!   last `[[services]]` before it even when a `[namespace.…]` table comes
//!   between them, so a batch may be made of several runs of lines.
//!
//! The head is kept as text (it is small unless the services are inline); a
//! batch is kept as where its lines are, and read again when it is needed.
//! This module knows TOML's lexical structure only, never what a table means.

use std::borrow::Cow;
use std::hash::{DefaultHasher, Hasher};
use std::io::{self, BufRead, Read, Seek, SeekFrom};

use toml_parser::Source;
use toml_parser::lexer::TokenKind;

/// A batch is closed at the first `[[services]]` table after it holds this
/// much text. Parsing it peaks at ~40 times this; applying it commits its
/// services and instances together (~2,500 of the latter). Tests use small
/// batches, so that small files make many.
const BATCH_BYTES: usize = if cfg!(test) { 16 * 1024 } else { 256 * 1024 };

/// Where a zones file's documents are; see the module docs.
#[derive(Debug, Default)]
pub(super) struct Outline {
    pub head: Document,
    pub batches: Vec<Batch>,
}

/// TOML text cut out of a file: whole lines, from one or more places.
#[derive(Debug, Default)]
pub(super) struct Document {
    pub text: String,
    /// For each run of lines: where it starts in `text`, and the file's line
    /// number (from 0) there. Turns an error's position back into the file's.
    runs: Vec<(usize, usize)>,
    /// Where the last run ends in the file, to extend it rather than start one.
    end: u64,
}

/// Some `[[services]]` tables with their sub-tables, as runs of lines of the file.
#[derive(Debug, Default)]
pub(super) struct Batch {
    runs: Vec<Run>,
    /// The `[[services]]` tables in it.
    pub services: usize,
    bytes: usize,
    /// Of its text, so that reading it again notices a file changed meanwhile.
    hash: DefaultHasher,
}

#[derive(Debug, Clone, Copy)]
struct Run {
    offset: u64,
    len: usize,
    line: usize,
}

/// What a table header opens, as far as cutting the file is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    /// `[[services]]`: a new service.
    Service,
    /// `[[services.instances]]`, `[services.tags]`, …: part of the last service.
    UnderServices,
    /// `[namespace]` and everything else.
    Other,
}

/// Reads `reader` once, statement by statement; its text is not kept beyond
/// the head. Fails only if it cannot be read (or is not UTF-8): what is not
/// valid TOML is left for the parser to report, in the document it went to.
pub(super) fn outline(mut reader: impl BufRead) -> io::Result<Outline> {
    let mut outline = Outline::default();
    let mut statement = Statement::default();
    // Where the statement being read starts: file offset and line.
    let (mut offset, mut line) = (0u64, 0usize);
    // Whether the table being read goes to the last batch or to the head.
    let mut in_batch = false;
    loop {
        let read = reader.read_line(&mut statement.text)?;
        if read > 0 && !statement.is_complete() {
            continue;
        }
        if statement.text.is_empty() {
            break;
        }
        let text = statement.text.as_str();
        match header(text) {
            Some(Header::Service) => {
                let full = outline
                    .batches
                    .last()
                    .is_none_or(|batch| batch.bytes >= BATCH_BYTES);
                if full {
                    outline.batches.push(Batch::default());
                }
                if let Some(batch) = outline.batches.last_mut() {
                    batch.services += 1;
                }
                in_batch = true;
            }
            Some(Header::UnderServices) => in_batch = !outline.batches.is_empty(),
            Some(Header::Other) => in_batch = false,
            None => {}
        }
        match outline.batches.last_mut().filter(|_| in_batch) {
            Some(batch) => batch.push(text, offset, line),
            None => outline.head.push(text, offset, line),
        }
        offset += text.len() as u64;
        line += text.bytes().filter(|&byte| byte == b'\n').count();
        statement.clear();
        if read == 0 {
            break;
        }
    }
    Ok(outline)
}

impl Document {
    fn push(&mut self, text: &str, offset: u64, line: usize) {
        if self.runs.is_empty() || self.end != offset {
            self.runs.push((self.text.len(), line));
        }
        self.text.push_str(text);
        self.end = offset + text.len() as u64;
    }

    /// A TOML error in this document, worded as `toml` words it, with the
    /// line and column where it is in the file.
    pub fn explain(&self, error: &toml::de::Error) -> String {
        let Some(span) = error.span() else {
            return error.to_string();
        };
        let text = self.text.as_str();
        // As toml does: an error at the very end points just past the last byte.
        let mut index = span.start.min(text.len().saturating_sub(1));
        while !text.is_char_boundary(index) {
            index -= 1;
        }
        let past_end = span.start.saturating_sub(index);
        let line_start = text[..index].rfind('\n').map_or(0, |newline| newline + 1);
        let line_end = text[line_start..]
            .find('\n')
            .map_or(text.len(), |newline| line_start + newline);
        let content = &text[line_start..line_end];
        let column = text
            .get(line_start..=index)
            .map_or(index - line_start, |upto| upto.chars().count() - 1)
            + past_end;
        let run = self
            .runs
            .partition_point(|&(start, _)| start <= line_start)
            .saturating_sub(1);
        let (run_start, run_line) = self.runs.get(run).copied().unwrap_or((0, 0));
        let line = run_line + text[run_start..line_start].matches('\n').count() + 1;

        let gutter = " ".repeat(line.to_string().len() + 1);
        let marks = span
            .end
            .saturating_sub(span.start)
            .min(content.len().saturating_sub(column))
            .max(1);
        format!(
            "TOML parse error at line {line}, column {}\n{gutter}|\n{line} | {content}\n{gutter}|{}{}\n{}\n",
            column + 1,
            " ".repeat(column + 1),
            "^".repeat(marks),
            error.message()
        )
    }
}

impl Batch {
    fn push(&mut self, text: &str, offset: u64, line: usize) {
        match self.runs.last_mut() {
            Some(run) if run.offset + run.len as u64 == offset => run.len += text.len(),
            _ => self.runs.push(Run {
                offset,
                len: text.len(),
                line,
            }),
        }
        self.bytes += text.len();
        self.hash.write(text.as_bytes());
    }

    /// Reads the batch's text from `file` again, the file it was outlined from.
    pub fn read(&self, file: &mut (impl Read + Seek)) -> io::Result<Document> {
        let mut document = Document::default();
        let mut bytes = Vec::with_capacity(self.bytes);
        let mut hash = DefaultHasher::new();
        for run in &self.runs {
            let start = bytes.len();
            file.seek(SeekFrom::Start(run.offset))?;
            file.by_ref().take(run.len as u64).read_to_end(&mut bytes)?;
            hash.write(&bytes[start..]);
            if bytes.len() - start != run.len {
                break;
            }
            document.runs.push((start, run.line));
        }
        if hash.finish() != self.hash.finish() {
            return Err(io::Error::other(
                "the file changed while cairn was reading it; start cairn again once it is saved",
            ));
        }
        document.text = String::from_utf8(bytes)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        Ok(document)
    }
}

/// The lines of one TOML statement: a key/value pair (which may span lines
/// in an array, an inline table or a multi-line string), a table header, or
/// blank and comment lines.
#[derive(Default)]
struct Statement {
    text: String,
    /// Brackets and braces open in `text[..lexed]`.
    depth: i64,
    /// How much of `text` has been lexed: tokens do not depend on what comes
    /// before them, so a long statement is not lexed again line by line.
    lexed: usize,
}

impl Statement {
    fn clear(&mut self) {
        self.text.clear();
        self.depth = 0;
        self.lexed = 0;
    }

    /// Whether `text`, whole lines, ends the statement: every bracket is
    /// closed and no multi-line string is still open (the lexer would have
    /// taken the last newline into it).
    fn is_complete(&mut self) -> bool {
        let mut last = None;
        let mut depth_before_last = self.depth;
        for token in Source::new(&self.text[self.lexed..]).lex() {
            if token.kind() == TokenKind::Eof {
                break;
            }
            depth_before_last = self.depth;
            self.depth += depth_change(token.kind());
            last = Some(token);
        }
        match last {
            Some(token) if token.kind() == TokenKind::Newline => {
                self.lexed = self.text.len();
                self.depth <= 0
            }
            // An open string, lexed again once it has more lines.
            Some(token) => {
                self.lexed += token.span().start();
                self.depth = depth_before_last;
                false
            }
            None => true,
        }
    }
}

fn depth_change(kind: TokenKind) -> i64 {
    match kind {
        TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => 1,
        TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => -1,
        _ => 0,
    }
}

/// What the table header that `statement` starts with opens; `None` if it
/// is not a header. Keys are compared decoded, so `[["services"]]` is
/// `[[services]]`; a header that is not well formed is `Other`, and the
/// head's parser says what is wrong with it.
fn header(statement: &str) -> Option<Header> {
    let source = Source::new(statement);
    let mut tokens = source
        .lex()
        .filter(|token| token.kind() != TokenKind::Whitespace);
    if tokens.next()?.kind() != TokenKind::LeftSquareBracket {
        return None;
    }
    let mut next = tokens.next();
    let array = next.is_some_and(|token| token.kind() == TokenKind::LeftSquareBracket);
    if array {
        next = tokens.next();
    }
    let Some(first) = next.filter(|token| {
        matches!(
            token.kind(),
            TokenKind::Atom | TokenKind::BasicString | TokenKind::LiteralString
        )
    }) else {
        return Some(Header::Other);
    };
    let mut key = Cow::Borrowed("");
    let Some(raw) = source.get(first) else {
        return Some(Header::Other);
    };
    raw.decode_key(&mut key, &mut ());
    if key != "services" {
        return Some(Header::Other);
    }
    match tokens.next().map(|token| token.kind()) {
        Some(TokenKind::RightSquareBracket) if array => Some(Header::Service),
        _ => Some(Header::UnderServices),
    }
}

#[cfg(test)]
mod tests;
