use super::*;

#[test]
fn names_and_algorithms() {
    assert_eq!(
        Algorithm::from_name("HMAC-SHA256."),
        Some(Algorithm::HmacSha256)
    );
    assert_eq!(Algorithm::from_name("hmac-md5"), None);
    assert_eq!(&*wire_name("XfrKey.").unwrap(), b"\x06xfrkey\x00");
    assert!(wire_name("a..b").is_none());
    assert!(Key::new("k", Algorithm::HmacSha512, b"").is_err());
}

#[test]
fn a_key_file_is_read_only_when_only_its_owner_may_read_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("xfrkey.secret");
    std::fs::write(&path, "c2VjcmV0IGJ5dGVz\n").expect("write the key");
    let load = |mode: u32| {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .expect("chmod the key");
        Key::load("xfrkey", "hmac-sha256", &path)
    };
    assert!(load(0o600).is_ok());
    let refused = load(0o644).expect_err("others may read it").to_string();
    assert!(
        refused.contains("xfrkey") && refused.contains("0644") && refused.contains("chmod 600"),
        "{refused}"
    );
    std::fs::write(&path, "not base64!\n").expect("write the key");
    let refused = load(0o600).expect_err("no base64").to_string();
    assert!(refused.contains("base64"), "{refused}");
}

const NOW: u64 = 1_700_000_000;

fn key(name: &str, algorithm: Algorithm) -> Key {
    Key::new(name, algorithm, b"a shared secret of some length").expect("a key")
}

/// An SOA query for `svc.test.`, signed as a client signs it.
fn signed_query(key: &Key, now: u64) -> (Vec<u8>, Signer<'_>) {
    let mut query = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    query.extend_from_slice(b"\x03svc\x04test\x00\x00\x06\x00\x01");
    let mut client = Signer::new(key, 0x1234, now);
    client.sign(&mut query, None, &[]);
    (query, client)
}

fn tsig_of(message: &[u8]) -> Tsig {
    last_tsig(message).expect("signed")
}

/// `message` with its MAC cut (or padded with zeros) to `len` bytes, the
/// MAC size and RDATA length rewritten to match.
fn with_mac_len(message: &[u8], len: usize) -> Vec<u8> {
    let tsig = tsig_of(message);
    let mut mac = message[tsig.mac.clone()].to_vec();
    let rdata_len_at = tsig.algorithm.start - 2;
    let rdata_len = usize::from(u16_at(message, rdata_len_at).unwrap()) + len - mac.len();
    mac.resize(len, 0);
    let mut out = message[..tsig.mac.start - 2].to_vec();
    out[rdata_len_at..rdata_len_at + 2].copy_from_slice(&(rdata_len as u16).to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&mac);
    out.extend_from_slice(&message[tsig.mac.end..]);
    out
}

fn verdict(keys: &[Key], query: &[u8], now: u64) -> Result<(), Option<TsigError>> {
    verify(keys, query, &tsig_of(query), now)
        .map(|_| ())
        .map_err(|failure| failure.error())
}

#[test]
fn a_signed_request_verifies_and_each_failure_has_its_error() {
    let keys = [key("xfrkey", Algorithm::HmacSha256)];
    let (query, _) = signed_query(&keys[0], NOW);
    assert_eq!(verdict(&keys, &query, NOW), Ok(()));
    assert_eq!(
        verdict(&keys, &query, NOW + 301),
        Err(Some(TsigError::BadTime))
    );
    let mut tampered = query.clone();
    tampered[13] = b'S';
    assert_eq!(verdict(&keys, &tampered, NOW), Err(Some(TsigError::BadSig)));
    let other = [key("other", Algorithm::HmacSha256)];
    assert_eq!(verdict(&other, &query, NOW), Err(Some(TsigError::BadKey)));
    let same_name_other_algorithm = [key("xfrkey", Algorithm::HmacSha512)];
    assert_eq!(
        verdict(&same_name_other_algorithm, &query, NOW),
        Err(Some(TsigError::BadKey))
    );
}

#[test]
fn a_truncated_mac_verifies_over_its_length_down_to_the_rfc_floor_only() {
    // RFC 8945 §5.2.2.1: from the whole MAC down to the larger of 10 bytes
    // and half of it; longer or shorter is malformed (FORMERR).
    for (algorithm, full) in [
        (Algorithm::HmacSha256, 32),
        (Algorithm::HmacSha384, 48),
        (Algorithm::HmacSha512, 64),
    ] {
        let keys = [key("xfrkey", algorithm)];
        let (query, _) = signed_query(&keys[0], NOW);
        for len in [full, full - 1, full / 2] {
            assert_eq!(
                verdict(&keys, &with_mac_len(&query, len), NOW),
                Ok(()),
                "{algorithm:?}, {len} of {full} bytes"
            );
        }
        for len in [0, 8, 10, full / 2 - 1, full + 1] {
            assert_eq!(
                verdict(&keys, &with_mac_len(&query, len), NOW),
                Err(None),
                "{algorithm:?}, {len} of {full} bytes: FORMERR"
            );
        }
        let mut wrong = with_mac_len(&query, full / 2);
        let tsig = tsig_of(&wrong);
        wrong[tsig.mac.start] ^= 1;
        assert_eq!(verdict(&keys, &wrong, NOW), Err(Some(TsigError::BadSig)));
    }
}

#[test]
fn a_reply_counts_only_signed_by_the_peer_over_our_mac() {
    let keys = [key("xfrkey", Algorithm::HmacSha256)];
    let (query, client) = signed_query(&keys[0], NOW);
    let tsig = tsig_of(&query);
    let reply_to = |now: u64, error: Option<TsigError>| {
        let Ok(mut server) = verify(&keys, &query, &tsig, NOW) else {
            panic!("the request verifies");
        };
        // The server's clock, for the time it signs.
        server.now = now;
        let mut reply = query[..tsig.record_start].to_vec();
        reply[2] |= 0x80;
        reply[11] = 0;
        let before = reply.len();
        server.sign(&mut reply, error, &[]);
        assert_eq!(reply.len() - before, server.record_len(0));
        reply
    };
    let reply = reply_to(NOW, None);
    assert_eq!(client.verify_reply(&reply, NOW), Ok(()));
    assert_eq!(client.verify_reply(&with_mac_len(&reply, 16), NOW), Ok(()));
    assert_eq!(
        client.verify_reply(&with_mac_len(&reply, 15), NOW),
        Err(ReplyError::BadMac)
    );
    let unsigned = &reply[..tsig.record_start];
    let mut unsigned = unsigned.to_vec();
    unsigned[11] = 0;
    assert_eq!(
        client.verify_reply(&unsigned, NOW),
        Err(ReplyError::Unsigned)
    );
    // The request's own TSIG echoed back: a MAC, but not over ours.
    let mut echoed = query.clone();
    echoed[2] |= 0x80;
    assert_eq!(client.verify_reply(&echoed, NOW), Err(ReplyError::BadMac));
    let mut tampered = reply.clone();
    tampered[13] = b'S';
    assert_eq!(client.verify_reply(&tampered, NOW), Err(ReplyError::BadMac));
    assert_eq!(
        client.verify_reply(&reply_to(NOW + 1000, None), NOW),
        Err(ReplyError::BadTime)
    );
    assert_eq!(
        client.verify_reply(&reply_to(NOW, Some(TsigError::BadSig)), NOW),
        Err(ReplyError::PeerError(16))
    );
    let other = key("other", Algorithm::HmacSha256);
    let mut by_other = unsigned.clone();
    Signer::new(&other, 0x1234, NOW).sign(&mut by_other, None, &[]);
    assert_eq!(
        client.verify_reply(&by_other, NOW),
        Err(ReplyError::OtherKey)
    );
    for cut in [0, 5, 12, 20, reply.len() - 1] {
        assert!(
            client.verify_reply(&reply[..cut], NOW).is_err(),
            "cut at {cut}"
        );
    }
}
