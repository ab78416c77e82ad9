//! The limiter with its clock in the test's hands: buckets, refill, slip,
//! networks, exemptions and the workers' shares.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::dns::answer::AnswerKind;

/// A response whose question is `name` (dotted), as far as the
/// limiter looks: 12 header bytes, then the name in wire form.
fn response(name: &str) -> Vec<u8> {
    let mut bytes = vec![0u8; 12];
    for label in name.split('.') {
        bytes.push(label.len() as u8);
        bytes.extend_from_slice(label.as_bytes());
    }
    bytes.push(0);
    bytes
}

/// `kind` about the whole name of `response` (positive), or about its
/// last `zone_len` bytes (a zone's name).
fn served(kind: AnswerKind, response: &[u8], zone_len: Option<usize>) -> Served {
    let end = response.len();
    Served {
        kind,
        name: zone_len.map_or(12, |len| end - len)..end,
        question_end: end,
        ..Served::default()
    }
}

fn settings(rate: u32, slip: u32) -> RrlSettings {
    RrlSettings {
        responses_per_second: rate,
        slip,
        ipv4_prefix_len: 24,
        ipv6_prefix_len: 56,
        exempt: ["10.9.0.0/16", "2001:db8:e::/48", "::/96"]
            .map(|network| network.parse().unwrap())
            .to_vec(),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The verdicts for `count` responses at time `now`.
fn verdicts(
    limiter: &mut RateLimiter,
    now: u64,
    client: &str,
    served: &Served,
    response: &[u8],
    count: usize,
) -> Vec<Verdict> {
    (0..count)
        .map(|_| limiter.verdict(now, ip(client), served, response))
        .collect()
}

fn sent(verdicts: &[Verdict]) -> usize {
    verdicts.iter().filter(|v| **v == Verdict::Send).count()
}

#[test]
fn a_bucket_allows_a_second_of_responses_then_slips_every_nth_and_refills() {
    let mut limiter = RateLimiter::new(&settings(10, 3), 1).unwrap();
    let answer = response("www.zone.test");
    let positive = served(AnswerKind::Positive, &answer, None);
    let burst = verdicts(&mut limiter, 5, "192.0.2.1", &positive, &answer, 19);
    use Verdict::{Drop, Send, Slip};
    assert_eq!(burst[..10], [Send; 10]);
    assert_eq!(
        burst[10..],
        [Drop, Drop, Slip, Drop, Drop, Slip, Drop, Drop, Slip]
    );
    // 10 per second: one more after 100 ms, not after 99.
    assert_eq!(
        limiter.verdict(104, ip("192.0.2.1"), &positive, &answer),
        Drop
    );
    assert_eq!(
        limiter.verdict(105, ip("192.0.2.1"), &positive, &answer),
        Send
    );
    assert_eq!(
        limiter.verdict(105, ip("192.0.2.1"), &positive, &answer),
        Drop
    );
    // Idle for long: full again, but never more than a second's worth.
    assert_eq!(
        sent(&verdicts(
            &mut limiter,
            60_000,
            "192.0.2.1",
            &positive,
            &answer,
            30
        )),
        10
    );
    // A clock that goes back gives nothing.
    assert_eq!(
        sent(&verdicts(
            &mut limiter,
            1_000,
            "192.0.2.1",
            &positive,
            &answer,
            5
        )),
        0
    );
}

#[test]
fn slip_zero_drops_everything_and_one_truncates_everything() {
    let answer = response("www.zone.test");
    let positive = served(AnswerKind::Positive, &answer, None);
    for (slip, limited) in [(0, Verdict::Drop), (1, Verdict::Slip)] {
        let mut limiter = RateLimiter::new(&settings(2, slip), 1).unwrap();
        let all = verdicts(&mut limiter, 0, "192.0.2.1", &positive, &answer, 6);
        assert_eq!(all[2..], [limited; 4], "slip {slip}");
    }
}

#[test]
fn buckets_are_per_network_per_kind_per_name() {
    let mut limiter = RateLimiter::new(&settings(4, 2), 1).unwrap();
    let www = response("www.zone.test");
    let www_caps = response("WwW.ZONE.test");
    let other = response("api.zone.test");
    let positive = served(AnswerKind::Positive, &www, None);
    // Exhaust 192.0.2.0/24's bucket for www.
    assert_eq!(
        sent(&verdicts(&mut limiter, 0, "192.0.2.1", &positive, &www, 10)),
        4
    );
    // Its neighbour shares it, whatever case the name is written in.
    let caps = served(AnswerKind::Positive, &www_caps, None);
    assert_eq!(
        sent(&verdicts(
            &mut limiter,
            0,
            "192.0.2.200",
            &caps,
            &www_caps,
            3
        )),
        0
    );
    // Another network, another name, another kind: buckets of their own.
    assert_eq!(
        sent(&verdicts(&mut limiter, 0, "192.0.3.1", &positive, &www, 4)),
        4
    );
    let api = served(AnswerKind::Positive, &other, None);
    assert_eq!(
        sent(&verdicts(&mut limiter, 0, "192.0.2.1", &api, &other, 4)),
        4
    );
    let nodata = served(AnswerKind::NoData, &www, Some(11));
    assert_eq!(
        sent(&verdicts(&mut limiter, 0, "192.0.2.1", &nodata, &www, 4)),
        4
    );
    // IPv6 clients are grouped by /56.
    assert_eq!(
        sent(&verdicts(
            &mut limiter,
            0,
            "2001:db8:0:1::1",
            &positive,
            &www,
            3
        )),
        3
    );
    assert_eq!(
        sent(&verdicts(
            &mut limiter,
            0,
            "2001:db8:0:ff::2",
            &positive,
            &www,
            3
        )),
        1
    );
    assert_eq!(
        sent(&verdicts(
            &mut limiter,
            0,
            "2001:db8:0:100::1",
            &positive,
            &www,
            3
        )),
        3
    );
}

#[test]
fn random_names_that_do_not_exist_share_their_zones_bucket() {
    let mut limiter = RateLimiter::new(&settings(5, 2), 1).unwrap();
    let answered = (0..20)
        .filter(|n| {
            let answer = response(&format!("nx{n}.zone.test"));
            let nxdomain = served(AnswerKind::NxDomain, &answer, Some(11));
            limiter.verdict(0, ip("198.51.100.7"), &nxdomain, &answer) == Verdict::Send
        })
        .count();
    assert_eq!(answered, 5);
}

#[test]
fn private_answers_and_exempt_clients_are_never_limited() {
    let mut limiter = RateLimiter::new(&settings(1, 2), 1).unwrap();
    let answer = response("db.corp.test");
    let private = Served {
        private: true,
        ..served(AnswerKind::Positive, &answer, None)
    };
    assert_eq!(
        sent(&verdicts(
            &mut limiter,
            0,
            "192.0.2.1",
            &private,
            &answer,
            50
        )),
        50
    );
    let public = served(AnswerKind::Positive, &answer, None);
    assert_eq!(
        sent(&verdicts(&mut limiter, 0, "10.9.3.4", &public, &answer, 50)),
        50
    );
    let mapped = IpAddr::V6(Ipv4Addr::new(10, 9, 3, 4).to_ipv6_mapped());
    assert_eq!(limiter.verdict(0, mapped, &public, &answer), Verdict::Send);
    assert_eq!(
        sent(&verdicts(&mut limiter, 0, "10.8.3.4", &public, &answer, 50)),
        1
    );
    let sent_to = |limiter: &mut RateLimiter, client: &str, count| {
        sent(&verdicts(limiter, 0, client, &public, &answer, count))
    };
    assert_eq!(sent_to(&mut limiter, "2001:db8:e:5::1", 50), 50);
    // ::/96 holds ::10.7.3.4 but not the IPv4 address 10.7.3.4.
    assert_eq!(sent_to(&mut limiter, "::a07:304", 5), 5);
    assert_eq!(sent_to(&mut limiter, "10.7.3.4", 5), 1);
}

#[test]
fn workers_sharing_an_address_share_the_rate_rounding_up() {
    let answer = response("www.zone.test");
    let positive = served(AnswerKind::Positive, &answer, None);
    for (workers, share) in [(1, 10), (2, 5), (3, 4), (16, 1)] {
        let mut limiter = RateLimiter::new(&settings(10, 2), workers).unwrap();
        let burst = verdicts(&mut limiter, 0, "192.0.2.1", &positive, &answer, 20);
        assert_eq!(sent(&burst), share, "{workers} workers");
    }
    assert!(RateLimiter::new(&settings(0, 2), 1).is_none(), "0 is off");
}

#[test]
fn prefixes_of_zero_and_full_length_work() {
    let mut every = settings(1, 2);
    (every.ipv4_prefix_len, every.ipv6_prefix_len) = (32, 128);
    let mut limiter = RateLimiter::new(&every, 1).unwrap();
    let answer = response("www.zone.test");
    let positive = served(AnswerKind::Positive, &answer, None);
    for client in ["192.0.2.1", "192.0.2.2", "::1", "::2"] {
        assert_eq!(
            limiter.verdict(0, ip(client), &positive, &answer),
            Verdict::Send
        );
    }
    (every.ipv4_prefix_len, every.ipv6_prefix_len) = (0, 0);
    let mut limiter = RateLimiter::new(&every, 1).unwrap();
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(
        limiter.verdict(0, ip("192.0.2.1"), &positive, &answer),
        Verdict::Send
    );
    assert_eq!(
        limiter.verdict(0, ip("203.0.113.9"), &positive, &answer),
        Verdict::Drop
    );
    assert_eq!(limiter.verdict(0, v6, &positive, &answer), Verdict::Send);
}
