//! Zone-transfer input. `request_reader` sends any bytes to the transfer
//! request reader (`dns::transfer::request::read`, and `transfer_type`,
//! the look every TCP query gets): what it reads must be what the bytes
//! hold. `tsig` verifies any bytes as a signed request against fixed keys
//! at a fixed time, as the TCP and UDP sides find its TSIG, and as a reply
//! to a NOTIFY signed with the key: no panic, a verified request's reply is
//! signed with a record of the length promised, and a verified MAC with
//! one bit changed never verifies.

use std::sync::OnceLock;

use cairn::dns::transfer::request::{self, TYPE_IXFR};
use cairn::dns::transfer::tsig::{self, Algorithm, Failure, Key, Signer};
use cairn::dns::wire::{HEADER_LEN, MAX_NAME_LEN, read_query};

/// When every seed was signed (`tsig_seeds.py`), and the clock the target
/// verifies at.
pub const NOW: u64 = 1_700_000_000;

/// The keys the seeds are signed with: `xfrkey` (hmac-sha256) and
/// `bigkey` (hmac-sha512), secrets as in `tsig_seeds.py`.
pub fn keys() -> &'static [Key] {
    static KEYS: OnceLock<Vec<Key>> = OnceLock::new();
    KEYS.get_or_init(|| {
        vec![
            Key::new("xfrkey", Algorithm::HmacSha256, b"fuzzing secret, 256").expect("a key"),
            Key::new("bigkey", Algorithm::HmacSha512, b"fuzzing secret, 512").expect("a key"),
        ]
    })
}

/// The NOTIFY replies are checked against: `svc.test. SOA`, id 0x1234,
/// opcode NOTIFY with AA, signed with `xfrkey` at [`NOW`] (what
/// `tsig_seeds.py` signs too, byte for byte).
pub fn notify_signer() -> Signer<'static> {
    let mut notify = vec![0x12, 0x34, 0x24, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    notify.extend_from_slice(b"\x03svc\x04test\x00\x00\x06\x00\x01");
    let mut signer = Signer::new(&keys()[0], 0x1234, NOW);
    signer.sign(&mut notify, None, &[]);
    signer
}

pub fn request_reader(input: &[u8]) {
    let looked = request::transfer_type(input);
    let Some(request) = request::read(input) else {
        return;
    };
    let zone = request.zone();
    assert!(zone.len() <= MAX_NAME_LEN && zone.last() == Some(&0));
    let mut at = 0;
    while zone[at] != 0 {
        assert!(zone[at] <= 63, "a label of {} bytes", zone[at]);
        at += 1 + usize::from(zone[at]);
    }
    assert_eq!(at + 1, zone.len(), "labels fill the name exactly");
    assert!(!zone.iter().any(u8::is_ascii_uppercase), "lower-cased");
    let name_end = HEADER_LEN + zone.len();
    assert_eq!(request.question_end, name_end + 4);
    assert_eq!(input[HEADER_LEN..name_end].to_ascii_lowercase(), zone);
    assert_eq!(
        u16::from_be_bytes([input[name_end], input[name_end + 1]]),
        request.qtype
    );
    if let Some(qtype) = looked {
        assert_eq!(qtype, request.qtype, "transfer_type and read disagree");
    }
    if request.client_serial.is_some() {
        assert_eq!(request.qtype, TYPE_IXFR, "a serial only in an IXFR");
    }
    if let Some(tsig) = &request.tsig {
        assert!(tsig.record_start >= request.question_end);
        assert!(tsig.mac.end <= input.len() && tsig.algorithm.end <= input.len());
    }
}

pub fn tsig(input: &[u8]) {
    let keys = keys();
    let found = read_query(input)
        .ok()
        .and_then(|question| question.tsig)
        .or_else(|| request::read(input).and_then(|request| request.tsig));
    if let Some(record) = found {
        match tsig::verify(keys, input, &record, NOW) {
            Ok(mut signer) => {
                let mut tampered = input.to_vec();
                tampered[record.mac.start] ^= 0x01;
                assert!(
                    tsig::verify(keys, &tampered, &record, NOW).is_err(),
                    "a MAC with a bit changed verified"
                );
                let mut reply = input[..record.record_start].to_vec();
                reply[2] |= 0x80;
                let before = reply.len();
                let promised = signer.record_len(0);
                signer.sign(&mut reply, None, &[]);
                assert_eq!(reply.len() - before, promised);
            }
            Err(Failure::Signed(error, mut signer)) => {
                let mut reply = input[..record.record_start].to_vec();
                let time = signer.server_time();
                let before = reply.len();
                let promised = signer.record_len(time.len());
                signer.sign(&mut reply, Some(error), &time);
                assert_eq!(reply.len() - before, promised);
            }
            Err(Failure::Malformed | Failure::Unsigned(_)) => {}
        }
    }
    let _ = notify_signer().verify_reply(input, NOW);
}
