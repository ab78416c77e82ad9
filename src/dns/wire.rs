//! The DNS wire format on the answer path: reading a query's header and
//! question without allocating, and assembling a response from records
//! encoded ahead of time (by hickory-proto, in [`encode`](super::encode)).
//!
//! This is the only hand-written wire code in cairn, and it stays
//! hand-written on purpose: it is the measured hot path. A general decoder
//! builds a `Message` (heap-allocated names and vectors) for every query;
//! here a query is read in place into a stack buffer and a response is
//! header bytes plus `memcpy`s of finished records into a reused buffer.
//! It never encodes a record itself, and imports no `hickory_*`.
//!
//! Only the common shape of a query is read here — one question, no answer
//! or authority records, at most one OPT and then at most one TSIG
//! ([`additional`]). Anything else is answered with an error code by
//! `respond` and never reaches the table.

mod additional;

pub use additional::Tsig;
pub use additional::{Additional, read_additional};

/// The size of a DNS header.
pub const HEADER_LEN: usize = 12;
/// A compression pointer to the question's name, which always starts right
/// after the header.
pub const POINTER_TO_QNAME: [u8; 2] = [0xc0, 0x0c];
/// The largest name on the wire (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;
/// An OPT record with no options: root owner, type, payload, extended rcode,
/// version, flags, empty RDATA.
pub const OPT_LEN: usize = 11;
/// Without EDNS, UDP answers stop at 512 bytes (RFC 1035 §4.2.1).
pub const CLASSIC_UDP_LIMIT: usize = 512;

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const TYPE_OPT: u16 = 41;
/// TSIG's record type (RFC 8945 §4.2).
pub const TYPE_TSIG: u16 = 250;
pub const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
/// The class of TSIG records.
const CLASS_ANY: u16 = 255;

/// Response codes cairn sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
    /// The query's TSIG did not authenticate it (RFC 8945 §5.2).
    NotAuth = 9,
}

/// The TSIG error a reply carries in its own TSIG record (RFC 8945 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum TsigError {
    /// The MAC does not verify.
    BadSig = 16,
    /// The key (or its algorithm) is not one the server holds.
    BadKey = 17,
    /// Signed too long ago, or in the future, beyond the fudge.
    BadTime = 18,
}

/// EDNS(0) as the client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientEdns {
    pub payload: u16,
    pub version: u8,
}

/// A query whose header and question were read.
#[derive(Debug)]
pub struct Question {
    pub id: u16,
    /// The RD and CD bits, echoed in the response.
    pub echoed_flags: u16,
    pub opcode: u8,
    /// The question's name in lower case, in wire form.
    lowered: [u8; MAX_NAME_LEN],
    name_len: usize,
    pub qtype: u16,
    pub qclass: u16,
    /// Where the question ends in the query: the response copies
    /// `query[HEADER_LEN..question_end]`, so the name keeps the client's case.
    pub question_end: usize,
    pub edns: Option<ClientEdns>,
    /// The query's TSIG record, when it was signed.
    pub tsig: Option<Tsig>,
}

impl Question {
    /// The name in lower case, wire form, root label included.
    pub fn name(&self) -> &[u8] {
        &self.lowered[..self.name_len]
    }
}

/// Why a query was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// Not worth an answer: too short for a header, or itself a response.
    Drop,
    /// Answer with this code, echoing the header (and the question, when
    /// `question_end` says where it ends), with an OPT record when the
    /// query carried a readable one (RFC 6891 §7).
    Reply {
        rcode: Rcode,
        question_end: Option<usize>,
        opt: bool,
    },
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// Reads a query's header, its single question and its OPT record.
pub fn read_query(query: &[u8]) -> Result<Question, Unreadable> {
    let Some(header) = query.get(..HEADER_LEN) else {
        return Err(Unreadable::Drop);
    };
    if header[2] & 0x80 != 0 {
        // QR set: answering responses would make us a reflector.
        return Err(Unreadable::Drop);
    }
    let opcode = (header[2] >> 3) & 0x0f;
    let id = u16::from_be_bytes([header[0], header[1]]);
    let echoed_flags = u16::from_be_bytes([header[2] & 0x01, header[3] & 0x10]);
    let counts = |at| u16::from_be_bytes([header[at], header[at + 1]]);
    let (questions, answers, authorities, additionals) =
        (counts(4), counts(6), counts(8), counts(10));
    if questions != 1 {
        return Err(Unreadable::Reply {
            rcode: if opcode == 0 {
                Rcode::FormErr
            } else {
                Rcode::NotImp
            },
            question_end: None,
            opt: false,
        });
    }

    let mut lowered = [0u8; MAX_NAME_LEN];
    let mut at = HEADER_LEN;
    let formerr = Err(Unreadable::Reply {
        rcode: Rcode::FormErr,
        question_end: None,
        opt: false,
    });
    loop {
        let Some(&len) = query.get(at) else {
            return formerr;
        };
        let len = usize::from(len);
        if len > 63 {
            // Compression pointers (and the reserved label types) have no
            // place in a query's question.
            return formerr;
        }
        let end = at + 1 + len;
        if end - HEADER_LEN > MAX_NAME_LEN {
            return formerr;
        }
        let Some(label) = query.get(at..end) else {
            return formerr;
        };
        let out = &mut lowered[at - HEADER_LEN..end - HEADER_LEN];
        out.copy_from_slice(label);
        out.make_ascii_lowercase();
        at = end;
        if len == 0 {
            break;
        }
    }
    let name_len = at - HEADER_LEN;
    let (Some(qtype), Some(qclass)) = (u16_at(query, at), u16_at(query, at + 2)) else {
        return formerr;
    };
    let question_end = at + 4;
    let reply = |rcode| {
        Err(Unreadable::Reply {
            rcode,
            question_end: Some(question_end),
            opt: false,
        })
    };
    if opcode != 0 {
        let opt = read_additional(query, question_end, additionals)
            .is_some_and(|additional| additional.edns.is_some());
        return Err(Unreadable::Reply {
            rcode: Rcode::NotImp,
            question_end: Some(question_end),
            opt,
        });
    }
    if answers != 0 || authorities != 0 {
        // Updates, notifies and the like: nothing cairn answers on this
        // path (and in a query, nothing NSD or Knot accepts either).
        return reply(Rcode::FormErr);
    }
    let Some(additional) = read_additional(query, question_end, additionals) else {
        return reply(Rcode::FormErr);
    };
    Ok(Question {
        id,
        echoed_flags,
        opcode,
        lowered,
        name_len,
        qtype,
        qclass,
        question_end,
        edns: additional.edns,
        tsig: additional.tsig,
    })
}

/// Whether the question is of class IN.
pub fn is_internet(question: &Question) -> bool {
    question.qclass == CLASS_IN
}

/// Assembles one response in a reused buffer, never beyond `limit` bytes.
pub struct ResponseWriter<'b> {
    buf: &'b mut Vec<u8>,
    limit: usize,
    /// Room kept for the OPT record at the end.
    reserve: usize,
    question_end: usize,
    counts: [u16; 4],
    truncated: bool,
}

/// The sections of a response, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Answer = 1,
    Authority = 2,
    Additional = 3,
}

/// Where a name already written in the response starts: a record owned by
/// it is written with a compression pointer here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAt(u16);

impl NameAt {
    /// The question's name, right after the header.
    pub const QUESTION: Self = Self(HEADER_LEN as u16);

    /// The name at `offset`; `None` beyond what a pointer reaches (14 bits).
    pub fn new(offset: usize) -> Option<Self> {
        u16::try_from(offset)
            .ok()
            .filter(|&offset| offset <= 0x3fff)
            .map(Self)
    }

    pub fn offset(self) -> usize {
        usize::from(self.0)
    }

    /// The suffix of this name that starts `bytes` into it: its zone's apex,
    /// say.
    pub fn suffix(self, bytes: usize) -> Option<Self> {
        Self::new(self.offset() + bytes)
    }

    fn pointer(self) -> [u8; 2] {
        (0xc000 | self.0).to_be_bytes()
    }
}

impl<'b> ResponseWriter<'b> {
    /// Starts a response to `question`: header and the question as the
    /// client sent it.
    pub fn new(
        buf: &'b mut Vec<u8>,
        query: &[u8],
        question: &Question,
        limit: usize,
        edns: bool,
    ) -> Self {
        buf.clear();
        buf.extend_from_slice(&question.id.to_be_bytes());
        buf.extend_from_slice(&[0x80 | (question.opcode << 3), 0]);
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&query[HEADER_LEN..question.question_end]);
        let mut writer = Self {
            buf,
            limit,
            reserve: if edns { OPT_LEN } else { 0 },
            question_end: question.question_end,
            counts: [1, 0, 0, 0],
            truncated: false,
        };
        writer.set_flags(question.echoed_flags);
        writer
    }

    /// A bare response: the id and opcode of `query` (which must hold a
    /// whole header), and its question when `question_end` is known. For
    /// errors before the question was read; no other flag is echoed.
    pub fn bare(buf: &'b mut Vec<u8>, query: &[u8], question_end: Option<usize>) -> Self {
        buf.clear();
        buf.extend_from_slice(&query[..2]);
        buf.extend_from_slice(&[0x80 | (query[2] & 0x78), 0]);
        buf.extend_from_slice(&[0; 8]);
        let questions = match question_end {
            Some(end) => {
                buf.extend_from_slice(&query[HEADER_LEN..end]);
                1
            }
            None => 0,
        };
        Self {
            buf,
            limit: usize::MAX,
            reserve: 0,
            question_end: question_end.unwrap_or(HEADER_LEN),
            counts: [questions, 0, 0, 0],
            truncated: false,
        }
    }

    fn set_flags(&mut self, flags: u16) {
        let [high, low] = flags.to_be_bytes();
        self.buf[2] |= high;
        self.buf[3] |= low;
    }

    pub fn set_authoritative(&mut self) {
        self.buf[2] |= 0x04;
    }

    pub fn set_rcode(&mut self, rcode: Rcode) {
        self.buf[3] = (self.buf[3] & 0xf0) | rcode as u8;
    }

    /// Adds a record that must appear whole, owned by the name at `owner`:
    /// `record` starts with two placeholder bytes that become a compression
    /// pointer to it. When the record does not fit, every record written so
    /// far is dropped and TC is set, so the client retries over TCP instead
    /// of using a partial RRset. Returns where the record starts.
    pub fn push_required(
        &mut self,
        section: Section,
        record: &[u8],
        owner: NameAt,
    ) -> Option<usize> {
        if self.truncated {
            return None;
        }
        if self.buf.len() + record.len() + self.reserve > self.limit {
            self.truncate();
            return None;
        }
        let start = self.buf.len();
        self.append_owned(record, owner);
        self.counts[section as usize] += 1;
        Some(start)
    }

    /// Adds a group of records that help but are not needed (SRV targets'
    /// and name servers' addresses), each owned by the name at `owner` as
    /// for [`push_required`](Self::push_required): when they do not all fit
    /// none is added, without TC (RFC 2181 §9). Returns whether they were.
    pub fn push_optional(&mut self, section: Section, records: &[&[u8]], owner: NameAt) -> bool {
        let len: usize = records.iter().map(|record| record.len()).sum();
        if self.truncated || self.buf.len() + len + self.reserve > self.limit {
            return false;
        }
        for record in records {
            self.append_owned(record, owner);
        }
        self.counts[section as usize] += records.len() as u16;
        true
    }

    /// How many bytes are written so far: where the next record starts.
    pub fn position(&self) -> usize {
        self.buf.len()
    }

    /// Copies a record and points its first two bytes at `owner`: one
    /// `memcpy` and a 2-byte store, whatever the owner.
    #[inline(always)]
    fn append_owned(&mut self, record: &[u8], owner: NameAt) {
        let start = self.buf.len();
        self.buf.extend_from_slice(record);
        if let Some(pointer) = self.buf.get_mut(start..start + 2) {
            pointer.copy_from_slice(&owner.pointer());
        }
    }

    /// Whether the name written at `at` is `lowered` (wire form, lower
    /// case), ignoring case. Both must be uncompressed, as the question and
    /// the targets of CNAMEs are.
    pub fn holds_name(&self, at: NameAt, lowered: &[u8]) -> bool {
        self.buf
            .get(at.offset()..at.offset() + lowered.len())
            .is_some_and(|written| written.eq_ignore_ascii_case(lowered))
    }

    /// The uncompressed name written at `at` (a CNAME's or an NS record's
    /// RDATA, as `encode` writes them), lower-cased into `into`; its length,
    /// or `None` when no whole uncompressed name is there.
    pub fn lowered_name(&self, at: usize, into: &mut [u8; MAX_NAME_LEN]) -> Option<usize> {
        let mut len = 0;
        loop {
            let label = usize::from(*self.buf.get(at + len)?);
            if label > 63 || len + 1 + label > MAX_NAME_LEN {
                return None;
            }
            let bytes = self.buf.get(at + len..at + len + 1 + label)?;
            let out = &mut into[len..len + 1 + label];
            out.copy_from_slice(bytes);
            out.make_ascii_lowercase();
            len += 1 + label;
            if label == 0 {
                return Some(len);
            }
        }
    }

    fn truncate(&mut self) {
        self.truncated = true;
        self.buf.truncate(self.question_end);
        self.counts[1..].fill(0);
        self.buf[2] |= 0x02;
    }

    /// Finishes the response: an OPT record when the client sent one
    /// (`payload` is the size cairn accepts, `extended_rcode` the upper
    /// bits of a code above 15), and the section counts.
    pub fn finish(mut self, opt: Option<(u16, u8)>) -> &'b [u8] {
        self.push_opt(opt);
        self.write_counts()
    }

    /// Finishes an error reply to a signed query: the OPT record when the
    /// client sent one, then, last, an unsigned TSIG record carrying
    /// `error` (RFC 8945 §5.3.2): no MAC and no other data, the key name,
    /// algorithm, time signed, fudge and original id as the query had them
    /// (as NSD sends it). A reply that would not fit is truncated instead,
    /// so the client asks again over TCP.
    pub fn finish_tsig_error(
        mut self,
        query: &[u8],
        tsig: &Tsig,
        error: TsigError,
        opt: Option<(u16, u8)>,
    ) -> &'b [u8] {
        let mut key = [0; MAX_NAME_LEN];
        let (Some(algorithm), Some(key)) =
            (query.get(tsig.algorithm.clone()), tsig.key(query, &mut key))
        else {
            return self.finish(opt);
        };
        // Algorithm, time and fudge, MAC size, original id, error, other length.
        let rdata_len = algorithm.len() + 8 + 2 + 2 + 2 + 2;
        let record_len = key.len() + 10 + rdata_len;
        if self.truncated || self.buf.len() + self.reserve + record_len > self.limit {
            self.truncate();
            return self.finish(opt);
        }
        self.push_opt(opt);
        self.buf.extend_from_slice(key);
        self.buf.extend_from_slice(&TYPE_TSIG.to_be_bytes());
        self.buf.extend_from_slice(&CLASS_ANY.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf
            .extend_from_slice(&(rdata_len as u16).to_be_bytes());
        self.buf.extend_from_slice(algorithm);
        self.buf.extend_from_slice(&tsig.time_and_fudge);
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&tsig.original_id.to_be_bytes());
        self.buf.extend_from_slice(&(error as u16).to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        self.counts[Section::Additional as usize] += 1;
        self.write_counts()
    }

    fn push_opt(&mut self, opt: Option<(u16, u8)>) {
        if let Some((payload, extended_rcode)) = opt {
            self.buf.push(0);
            self.buf.extend_from_slice(&TYPE_OPT.to_be_bytes());
            self.buf.extend_from_slice(&payload.to_be_bytes());
            self.buf.extend_from_slice(&[extended_rcode, 0, 0, 0, 0, 0]);
            self.counts[Section::Additional as usize] += 1;
        }
    }

    fn write_counts(self) -> &'b [u8] {
        for (index, count) in self.counts.iter().enumerate() {
            let at = 4 + 2 * index;
            self.buf[at..at + 2].copy_from_slice(&count.to_be_bytes());
        }
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` (dotted, no trailing dot) of type A.
    fn query(name: &str, additionals: u16) -> Vec<u8> {
        let mut bytes = vec![
            0xab,
            0xcd,
            0x01,
            0x00,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            additionals as u8,
        ];
        for label in name.split('.') {
            bytes.push(label.len() as u8);
            bytes.extend_from_slice(label.as_bytes());
        }
        bytes.extend_from_slice(&[0, 0, 1, 0, 1]);
        bytes
    }

    fn opt(payload: u16, version: u8) -> Vec<u8> {
        let mut bytes = vec![0, 0, 41];
        bytes.extend_from_slice(&payload.to_be_bytes());
        bytes.extend_from_slice(&[0, version, 0, 0, 0, 0]);
        bytes
    }

    #[test]
    fn reads_a_plain_query_in_lower_case() {
        let question = read_query(&query("WeB.Svc", 0)).expect("readable");
        assert_eq!(question.id, 0xabcd);
        assert_eq!(question.name(), b"\x03web\x03svc\x00");
        assert_eq!((question.qtype, question.qclass), (TYPE_A, 1));
        assert_eq!(question.echoed_flags, 0x0100, "RD is echoed");
        assert_eq!(question.edns, None);
    }

    #[test]
    fn reads_the_opt_record() {
        let mut bytes = query("web.svc", 1);
        bytes.extend(opt(4096, 0));
        let question = read_query(&bytes).expect("readable");
        assert_eq!(
            question.edns,
            Some(ClientEdns {
                payload: 4096,
                version: 0
            })
        );
    }

    #[test]
    fn refuses_what_the_fast_shape_does_not_cover() {
        let reply = |bytes: &[u8]| match read_query(bytes) {
            Err(Unreadable::Reply { rcode, .. }) => Some(rcode),
            Err(Unreadable::Drop) => None,
            Ok(_) => panic!("read {bytes:?}"),
        };
        assert_eq!(reply(&[0; 11]), None, "shorter than a header");
        let mut response = query("web.svc", 0);
        response[2] |= 0x80;
        assert_eq!(reply(&response), None, "a response");
        let mut none = query("web.svc", 0);
        none[5] = 0;
        assert_eq!(reply(&none), Some(Rcode::FormErr), "no question");
        let mut pointer = query("web.svc", 0);
        pointer[12] = 0xc0;
        assert_eq!(
            reply(&pointer),
            Some(Rcode::FormErr),
            "compressed question name"
        );
        let cut = query("web.svc", 0);
        assert_eq!(
            reply(&cut[..cut.len() - 1]),
            Some(Rcode::FormErr),
            "cut short"
        );
        let long = vec!["a".repeat(63); 5].join(".");
        assert_eq!(
            reply(&query(&long, 0)),
            Some(Rcode::FormErr),
            "name over 255 bytes"
        );
        let mut status = query("web.svc", 0);
        status[2] |= 2 << 3;
        assert_eq!(reply(&status), Some(Rcode::NotImp), "opcode STATUS");
        assert_eq!(
            reply(&query("web.svc", 1)),
            Some(Rcode::FormErr),
            "an additional that is not OPT"
        );
        let mut two_opts = query("web.svc", 2);
        two_opts.extend(opt(1232, 0));
        two_opts.extend(opt(1232, 0));
        assert_eq!(reply(&two_opts), Some(Rcode::FormErr), "two additionals");
    }

    /// A TSIG record for key `Key.` with hmac-sha256 and a 4-byte MAC.
    fn tsig() -> Vec<u8> {
        let mut rdata = b"\x0bhmac-sha256\x00".to_vec();
        rdata.extend_from_slice(&[0, 0, 0x65, 0x53, 0xf1, 0, 1, 0x2c]);
        rdata.extend_from_slice(&[0, 4, 9, 9, 9, 9, 0xab, 0xcd, 0, 0, 0, 0]);
        let mut record = b"\x03Key\x00".to_vec();
        record.extend_from_slice(&[0, 250, 0, 255, 0, 0, 0, 0]);
        record.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        record.extend(rdata);
        record
    }

    #[test]
    fn reads_a_tsig_record_after_the_opt() {
        let mut bytes = query("web.svc", 2);
        bytes.extend(opt(1232, 0));
        let record_start = bytes.len();
        bytes.extend(tsig());
        let question = read_query(&bytes).expect("readable");
        assert!(question.edns.is_some());
        let tsig = question.tsig.expect("signed");
        let mut key = [0; MAX_NAME_LEN];
        assert_eq!(
            tsig.key(&bytes, &mut key),
            Some(&b"\x03key\x00"[..]),
            "lower case"
        );
        assert_eq!(&bytes[tsig.algorithm.clone()], b"\x0bhmac-sha256\x00");
        assert_eq!(&bytes[tsig.mac.clone()], &[9; 4]);
        assert_eq!(
            (tsig.original_id, tsig.record_start),
            (0xabcd, record_start)
        );
    }

    #[test]
    fn a_malformed_additional_section_is_a_format_error() {
        let formerr = |bytes: &[u8]| {
            matches!(
                read_query(bytes),
                Err(Unreadable::Reply {
                    rcode: Rcode::FormErr,
                    opt: false,
                    ..
                })
            )
        };
        let mut tsig_then_opt = query("web.svc", 2);
        tsig_then_opt.extend(tsig());
        tsig_then_opt.extend(opt(1232, 0));
        assert!(formerr(&tsig_then_opt), "TSIG not last");
        let mut cut_tsig = query("web.svc", 1);
        cut_tsig.extend(&tsig()[..20]);
        assert!(formerr(&cut_tsig), "TSIG cut short");
        for options in [
            &[0u8, 10, 0, 100, 0, 0, 0, 0][..],
            &[0, 10, 0xff, 0xff],
            &[0, 10, 0],
        ] {
            let mut bytes = query("web.svc", 1);
            let mut record = opt(1232, 0);
            let len = record.len();
            record[len - 2..].copy_from_slice(&(options.len() as u16).to_be_bytes());
            bytes.extend(record);
            bytes.extend_from_slice(options);
            assert!(formerr(&bytes), "options {options:?}");
        }
    }

    #[test]
    fn trailing_bytes_after_the_question_are_ignored() {
        let mut bytes = query("web.svc", 0);
        bytes.extend_from_slice(&[1, 2, 3]);
        assert!(read_query(&bytes).is_ok());
    }

    #[test]
    fn a_response_that_does_not_fit_is_truncated_whole() {
        let bytes = query("web.svc", 0);
        let question = read_query(&bytes).expect("readable");
        let mut buf = Vec::new();
        let mut writer = ResponseWriter::new(&mut buf, &bytes, &question, 50, false);
        let record = [0u8; 16];
        assert!(
            writer
                .push_required(Section::Answer, &record, NameAt::QUESTION)
                .is_some()
        );
        assert!(
            writer
                .push_required(Section::Answer, &record, NameAt::QUESTION)
                .is_none(),
            "over the limit"
        );
        assert!(!writer.push_optional(Section::Additional, &[&record], NameAt::QUESTION));
        let response = writer.finish(None);
        assert_eq!(response[2] & 0x02, 0x02, "TC");
        assert_eq!(&response[6..12], &[0; 6], "no records kept");
        assert_eq!(response.len(), bytes.len(), "header and question only");
    }

    #[test]
    fn optional_records_that_do_not_fit_leave_tc_clear() {
        let bytes = query("web.svc", 1);
        let mut with_opt = bytes.clone();
        with_opt.extend(opt(512, 0));
        let question = read_query(&with_opt).expect("readable");
        let mut buf = Vec::new();
        let mut writer = ResponseWriter::new(&mut buf, &with_opt, &question, 60, true);
        let record = [0u8; 16];
        assert!(
            writer
                .push_required(Section::Answer, &record, NameAt::QUESTION)
                .is_some()
        );
        assert!(!writer.push_optional(Section::Additional, &[&record], NameAt::QUESTION));
        let response = writer.finish(Some((1232, 0)));
        assert_eq!(response[2] & 0x02, 0, "no TC");
        assert_eq!(&response[6..12], &[0, 1, 0, 0, 0, 1], "one answer, the OPT");
        assert!(response.len() <= 60);
    }
}
