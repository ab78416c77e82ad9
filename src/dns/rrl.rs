//! Response rate limiting (RRL) for UDP, as NSD and Knot do it: responses
//! are counted per bucket — the client's network (a /24 or /56 by default),
//! the kind of answer ([`AnswerKind`](super::answer::AnswerKind)) and the name it is about (the
//! question's name for a positive answer, the zone's for a negative one or
//! an error, so a flood of random names lands in one bucket). A bucket
//! over its rate has its answers dropped, except every `slip`-th, which is
//! sent cut down to its question with TC set: a real client behind a
//! spoofed address retries over TCP, which cannot be spoofed, while the
//! victim of a reflection attack receives at most a small packet per
//! `slip` queries instead of an answer up to 28 times their size.
//!
//! Never limited: answers from a private zone (it answers only the
//! networks it allows) and clients in the exempt networks. A private zone
//! that denies the client answers as if cairn did not serve it (REFUSED,
//! or the enclosing zone's NXDOMAIN), and is counted exactly as that
//! answer would be, so rate limiting reveals nothing about it either.
//!
//! One [`RateLimiter`] per UDP worker thread, owned by it: a fixed table
//! allocated when the worker starts; a verdict hashes the bucket's key and
//! touches one slot, with no lock, no atomic, no allocation and no clock
//! (the worker reads it once per batch and passes it in). This module must
//! not learn about sockets or the name table.
//!
//! # Why per-worker tables count well enough
//!
//! The UDP sockets of one address share it with SO_REUSEPORT (see
//! `dns::bind`), and Linux picks a socket for each datagram by a hash of
//! its source *and destination address and port* (`udp_ehashfn` in
//! net/ipv4/udp.c; cairn attaches no BPF steering program). One client
//! socket (one source port) therefore always reaches the same worker, but
//! a resolver spreading its queries over random source ports (RFC 5452),
//! and a /24 of clients, are spread evenly over all N workers of the
//! address — so is a spoofed flood that varies the port. Each worker
//! therefore allows `ceil(rate / N)` per bucket: the whole address allows
//! about `rate` for traffic spread over ports, and a client that keeps one
//! port, which lands on one worker, gets `rate / N` — stricter, never
//! looser. Sharing one exact table across workers would need atomics or
//! locks on the answer path; steering by source network only would need a
//! reuseport BPF program (and `unsafe`).

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;

use super::answer::Served;
use super::wire::{MAX_NAME_LEN, OPT_LEN};

/// Buckets per worker (a power of two): 65,536 × 24 bytes = 1.5 MiB. A
/// bucket whose slot another key takes starts again with a full second of
/// responses, as NSD's do; with a seeded hash an attacker cannot aim at a
/// victim's slot, and must send from many networks or names, each of
/// which is limited in turn.
const TABLE_BITS: u32 = 16;

/// One response's worth of tokens. Tokens are counted in thousandths, so
/// that with a millisecond clock a bucket refills exactly `rate` per
/// second at any rate.
const TOKEN: u32 = 1000;

/// The highest rate accepted, so a bucket's tokens fit in a `u32`.
pub const MAX_RATE: u32 = 1_000_000;

/// Rate limiting as configured (`[dns.rrl]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrlSettings {
    /// Responses per second per bucket across all workers of an address;
    /// 0 turns rate limiting off. At most [`MAX_RATE`].
    pub responses_per_second: u32,
    /// Every `slip`-th limited response is sent truncated (TC), the others
    /// are dropped; 0 drops them all, 1 truncates them all.
    pub slip: u32,
    /// The prefix that makes a client's network (0 to 32).
    pub ipv4_prefix_len: u8,
    /// The prefix that makes a client's network (0 to 128).
    pub ipv6_prefix_len: u8,
    /// Clients never limited.
    pub exempt: Vec<IpNet>,
}

/// What to do with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Send it cut down by [`slip`].
    Slip,
    Drop,
}

/// A bucket: the full key that owns it, when it was last touched, and
/// what is left of its tokens.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// The key's hash; 0 is never a key (see `RateLimiter::key`).
    key: u64,
    /// Milliseconds since the limiter started.
    stamp: u64,
    tokens: u32,
    /// Responses limited so far, for slip.
    limited: u32,
}

/// One worker's rate limiter (see the module's documentation).
pub struct RateLimiter {
    buckets: Box<[Bucket]>,
    /// Tokens added per millisecond: the worker's share of the rate, in
    /// responses per second.
    refill: u32,
    /// A bucket holds at most a second's worth.
    capacity: u32,
    slip: u32,
    ipv4_mask: u32,
    ipv6_mask: u128,
    /// The exempt networks as (is IPv4, network, mask): a test is an AND
    /// and a compare, not `IpNet::contains`' work on each query.
    exempt: Box<[(bool, u128, u128)]>,
    /// Seeded per process, so nobody outside can choose colliding keys.
    hasher: foldhash::fast::RandomState,
    epoch: Instant,
}

impl RateLimiter {
    /// A limiter for one of `workers` sockets sharing an address; `None`
    /// when rate limiting is off.
    pub fn new(settings: &RrlSettings, workers: usize) -> Option<Self> {
        if settings.responses_per_second == 0 {
            return None;
        }
        let workers = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
        let share = settings
            .responses_per_second
            .min(MAX_RATE)
            .div_ceil(workers);
        Some(Self {
            buckets: vec![Bucket::default(); 1 << TABLE_BITS].into_boxed_slice(),
            refill: share,
            capacity: share * TOKEN,
            slip: settings.slip,
            ipv4_mask: u32::MAX
                .checked_shl(32 - u32::from(settings.ipv4_prefix_len.min(32)))
                .unwrap_or(0),
            ipv6_mask: u128::MAX
                .checked_shl(128 - u32::from(settings.ipv6_prefix_len.min(128)))
                .unwrap_or(0),
            exempt: settings
                .exempt
                .iter()
                .map(|network| {
                    let v4 = network.addr().is_ipv4();
                    (v4, bits(network.network()), bits(network.netmask()))
                })
                .collect(),
            hasher: foldhash::fast::RandomState::default(),
            epoch: Instant::now(),
        })
    }

    /// The limiter's clock, in milliseconds: read once per batch.
    pub fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts `response` (a UDP answer to `client`, described by `served`)
    /// at time `now` (from [`RateLimiter::now`]) and says what to do with it.
    pub fn verdict(
        &mut self,
        now: u64,
        client: IpAddr,
        served: &Served,
        response: &[u8],
    ) -> Verdict {
        let client = client.to_canonical();
        let address = bits(client);
        let exempt = self
            .exempt
            .iter()
            .any(|&(v4, network, mask)| v4 == client.is_ipv4() && address & mask == network);
        if served.private || exempt {
            return Verdict::Send;
        }
        let key = self.key(client, served, response);
        let capacity = self.capacity;
        let bucket = &mut self.buckets[(key >> (64 - TABLE_BITS)) as usize];
        if bucket.key != key {
            *bucket = Bucket {
                key,
                stamp: now,
                tokens: capacity - TOKEN,
                limited: 0,
            };
            return Verdict::Send;
        }
        let elapsed = now.saturating_sub(bucket.stamp);
        bucket.stamp = bucket.stamp.max(now);
        let tokens = u64::from(bucket.tokens) + elapsed.saturating_mul(u64::from(self.refill));
        bucket.tokens = u32::try_from(tokens).map_or(capacity, |tokens| tokens.min(capacity));
        if bucket.tokens >= TOKEN {
            bucket.tokens -= TOKEN;
            return Verdict::Send;
        }
        bucket.limited = bucket.limited.wrapping_add(1);
        if self.slip != 0 && bucket.limited.is_multiple_of(self.slip) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }

    /// The bucket's key: the client's network, the kind of answer and its
    /// name in lower case (so 0x20 case games make no new buckets). Never 0.
    fn key(&self, client: IpAddr, served: &Served, response: &[u8]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        match client {
            IpAddr::V4(v4) => {
                hasher.write_u8(4);
                hasher.write_u32(u32::from(v4) & self.ipv4_mask);
            }
            IpAddr::V6(v6) => {
                hasher.write_u8(6);
                hasher.write_u128(u128::from(v6) & self.ipv6_mask);
            }
        }
        hasher.write_u8(served.kind as u8);
        let name = response.get(served.name.clone()).unwrap_or_default();
        let mut lowered = [0u8; MAX_NAME_LEN];
        let len = name.len().min(MAX_NAME_LEN);
        for (to, from) in lowered.iter_mut().zip(name) {
            *to = from.to_ascii_lowercase();
        }
        hasher.write(&lowered[..len]);
        hasher.finish() | 1
    }
}

/// An address as 128 bits, IPv4 in the low 32.
fn bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Cuts `response` down to what a slip sends: its header (rcode and flags
/// kept) and question, with TC set and no records but its OPT.
pub fn slip(response: &mut Vec<u8>, served: &Served) {
    const TC: u8 = 0x02;
    let keep_opt = served.opt && response.len() >= served.question_end + OPT_LEN;
    let mut opt = [0u8; OPT_LEN];
    if keep_opt {
        opt.copy_from_slice(&response[response.len() - OPT_LEN..]);
    }
    response.truncate(served.question_end);
    response[2] |= TC;
    response[6..12].fill(0);
    if keep_opt {
        response.extend_from_slice(&opt);
        response[11] = 1;
    }
}

#[cfg(test)]
mod tests;
