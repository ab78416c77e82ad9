//! A query's additional section: at most one OPT record, then at most one
//! TSIG record, which must be last (RFC 6891 §6.1.1, RFC 8945 §5.1). Any
//! other record there, a second OPT, an OPT after the TSIG or a record that
//! runs past the message makes the query malformed, as NSD and Knot judge
//! it: cairn answers FORMERR.
//!
//! Like the rest of [`wire`](super), it reads in place and never
//! allocates: an OPT's options are walked only to check their framing, and
//! a TSIG is kept as ranges of the query. Measured with callgrind on a
//! query with one OPT holding a cookie option: `read_query` went from 478
//! to 540 instructions when it began checking option framing and reading
//! TSIG (the option walk and the record loop); no allocation, lock or
//! I/O was added.

use std::ops::Range;

use super::{CLASS_ANY, ClientEdns, MAX_NAME_LEN, TYPE_OPT, TYPE_TSIG, u16_at};
/// Type, class, TTL and RDATA length after a record's owner name.
const FIXED_LEN: usize = 10;

/// A TSIG record as the client sent it: what an error reply must echo (key
/// and algorithm names, time signed, fudge, original id), and what
/// verifying its MAC will need once cairn holds keys (where the record
/// starts, since the MAC covers the message before it, and the MAC).
///
/// Only ranges of the query: the key's name, which may be compressed, is
/// read out by [`Tsig::key`] when it is needed, so an unsigned query's
/// `Question` stays as small as it was (a name buffer here made every
/// query's `read_query` ~25% dearer, in instructions under callgrind).
#[derive(Debug, Clone)]
pub struct Tsig {
    /// Where the algorithm's name lies in the query; never compressed
    /// (RFC 8945 §4.2, RFC 3597 §4).
    pub algorithm: Range<usize>,
    /// Time signed (48 bits) and fudge (16), as sent.
    pub time_and_fudge: [u8; 8],
    /// Where the MAC lies in the query.
    pub mac: Range<usize>,
    pub original_id: u16,
    /// Where the TSIG record, and so its owner (the key's name), starts:
    /// the MAC covers the query before it.
    pub record_start: usize,
}

impl Tsig {
    /// The key's name, uncompressed, in lower case, root label included:
    /// the form a key table is keyed by and the MAC covers (RFC 8945
    /// §4.3.3). `query` is the query the record was read from (its name
    /// was checked then, so this finds it again).
    pub fn key<'k>(&self, query: &[u8], out: &'k mut [u8; MAX_NAME_LEN]) -> Option<&'k [u8]> {
        let (len, _) = read_name(query, self.record_start, out)?;
        Some(&out[..len])
    }
}

/// What the additional section held.
#[derive(Debug, Default)]
pub struct Additional {
    pub edns: Option<ClientEdns>,
    pub tsig: Option<Tsig>,
}

/// Reads `count` additional records starting at `at`. `None` means the
/// section is malformed: FORMERR.
pub fn read_additional(query: &[u8], mut at: usize, count: u16) -> Option<Additional> {
    let mut additional = Additional::default();
    for index in 0..count {
        if additional.tsig.is_some() {
            // TSIG must be the last record of the message.
            return None;
        }
        let record_start = at;
        // The owner is only looked at closely for a TSIG (its key name), so
        // the common OPT pays for no name buffer.
        let owner_end = skip_name(query, at)?;
        let rtype = u16_at(query, owner_end)?;
        let class = u16_at(query, owner_end + 2)?;
        let rdata_len = usize::from(u16_at(query, owner_end + 8)?);
        let rdata_start = owner_end + FIXED_LEN;
        let rdata = rdata_start..rdata_start + rdata_len;
        query.get(rdata.clone())?;
        match rtype {
            TYPE_OPT => {
                // One OPT, owned by the root, written as the root itself.
                if additional.edns.is_some() || owner_end != at + 1 {
                    return None;
                }
                check_options(&query[rdata.clone()])?;
                additional.edns = Some(ClientEdns {
                    payload: class,
                    version: *query.get(owner_end + 5)?,
                });
            }
            TYPE_TSIG if class == CLASS_ANY && index + 1 == count => {
                let mut tsig = read_tsig(query, rdata)?;
                // The key's name must be readable, pointers and all.
                read_name(query, record_start, &mut [0; MAX_NAME_LEN])?;
                tsig.record_start = record_start;
                additional.tsig = Some(tsig);
            }
            _ => return None,
        }
        at = rdata_start + rdata_len;
    }
    Some(additional)
}

/// Checks that an OPT record's RDATA is a whole number of options: each a
/// code, a length and that many bytes, the last ending exactly where the
/// RDATA does (RFC 6891 §6.1.2).
fn check_options(mut rdata: &[u8]) -> Option<()> {
    while !rdata.is_empty() {
        let len = usize::from(u16_at(rdata, 2)?);
        rdata = rdata.get(4 + len..)?;
    }
    Some(())
}

/// Reads a TSIG record's RDATA (RFC 8945 §4.2), which must fill `rdata`
/// exactly. The record's start is filled in by the caller.
fn read_tsig(query: &[u8], rdata: Range<usize>) -> Option<Tsig> {
    let bytes = query.get(..rdata.end)?;
    let algorithm_end = skip_uncompressed_name(bytes, rdata.start)?;
    let time_and_fudge: [u8; 8] = bytes
        .get(algorithm_end..algorithm_end + 8)?
        .try_into()
        .ok()?;
    let mac_len = usize::from(u16_at(bytes, algorithm_end + 8)?);
    let mac_start = algorithm_end + 10;
    let mac = mac_start..mac_start + mac_len;
    let original_id = u16_at(bytes, mac.end)?;
    // Error (2 bytes), then the other data's length and the other data.
    let other_len = usize::from(u16_at(bytes, mac.end + 4)?);
    if mac.end + 6 + other_len != rdata.end {
        return None;
    }
    Some(Tsig {
        algorithm: rdata.start..algorithm_end,
        time_and_fudge,
        mac,
        original_id,
        record_start: 0,
    })
}

/// Skips a name that must not be compressed; returns where it ends.
fn skip_uncompressed_name(bytes: &[u8], mut at: usize) -> Option<usize> {
    let start = at;
    loop {
        let len = usize::from(*bytes.get(at)?);
        if len > 63 {
            return None;
        }
        at += 1 + len;
        if at - start > MAX_NAME_LEN || at > bytes.len() {
            return None;
        }
        if len == 0 {
            return Some(at);
        }
    }
}

/// Skips a name that may end in a compression pointer (not followed:
/// [`read_name`] checks it when the name matters); returns where it ends.
fn skip_name(query: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let label = usize::from(*query.get(at)?);
        match label {
            0 => return Some(at + 1),
            1..=63 => at += 1 + label,
            0xc0..=0xff => return query.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
}

/// Reads a name that may be compressed into `out`, in lower case. Returns
/// its length and where it ends in the message (after its first pointer,
/// if any). The walk always ends: a pointer may only point before itself,
/// so pointers alone cannot loop, and every label followed lengthens a name
/// that may not pass 255 bytes.
fn read_name(query: &[u8], at: usize, out: &mut [u8; MAX_NAME_LEN]) -> Option<(usize, usize)> {
    let mut cursor = at;
    let mut end = None;
    let mut len = 0;
    loop {
        let label = usize::from(*query.get(cursor)?);
        match label {
            0..=63 => {
                let bytes = query.get(cursor..cursor + 1 + label)?;
                let copy = out.get_mut(len..len + 1 + label)?;
                copy.copy_from_slice(bytes);
                copy.make_ascii_lowercase();
                len += 1 + label;
                cursor += 1 + label;
                if label == 0 {
                    return Some((len, end.unwrap_or(cursor)));
                }
            }
            0xc0..=0xff => {
                let target = usize::from(u16_at(query, cursor)? & 0x3fff);
                if target >= cursor {
                    return None;
                }
                end.get_or_insert(cursor + 2);
                cursor = target;
            }
            // 0x40 and 0x80: extended and reserved label types.
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_framing_must_fill_the_rdata_exactly() {
        assert!(check_options(&[]).is_some());
        assert!(check_options(&[0, 10, 0, 2, 1, 2]).is_some(), "one option");
        assert!(
            check_options(&[0, 10, 0, 0, 0, 8, 0, 0]).is_some(),
            "two empty"
        );
        assert!(check_options(&[0, 10, 0]).is_none(), "a 3-byte header");
        assert!(
            check_options(&[0, 10, 0, 100, 0, 0, 0, 0]).is_none(),
            "100 in 8"
        );
        assert!(
            check_options(&[0, 10, 0xff, 0xff, 0, 0, 0, 0]).is_none(),
            "0xFFFF"
        );
        assert!(
            check_options(&[0, 10, 0, 1, 9, 0]).is_none(),
            "bytes left over"
        );
    }

    #[test]
    fn compressed_names_are_followed_backwards_only() {
        let mut out = [0u8; MAX_NAME_LEN];
        // "a." at 0, then a pointer to it at 3.
        let message = [1, b'A', 0, 0xc0, 0];
        assert_eq!(read_name(&message, 3, &mut out), Some((3, 5)));
        assert_eq!(&out[..3], b"\x01a\x00");
        assert_eq!(read_name(&[0xc0, 0], 0, &mut out), None, "to itself");
        assert_eq!(read_name(&[0xc0, 2, 0], 0, &mut out), None, "forwards");
        assert_eq!(read_name(&[0x40, 0], 0, &mut out), None, "extended label");
        let long: Vec<u8> = [[63u8; 64]; 5].concat();
        assert_eq!(read_name(&long, 0, &mut out), None, "over 255 bytes");
    }
}
