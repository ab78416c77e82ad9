//! The answer path's counters: one cache-line-aligned block per UDP worker,
//! written by that worker alone, one per thread that answers TCP, and one
//! shared block for threads past those; summed only when `/metrics` is
//! scraped.
//!
//! A UDP worker counts with a relaxed load and store on its own block (no
//! `lock`-prefixed instruction, no cache line shared with another writer):
//! a few plain moves per query. TCP connections are tasks that run on any
//! of tokio's threads, but a count is made within one poll, on one thread:
//! each thread claims a block of its own the first time it counts (kept in
//! a thread-local) and writes it as a UDP worker writes its own. Only a
//! thread that finds every TCP block claimed (more threads than tokio's
//! workers, which the runtime does not start for TCP) shares the last block
//! with `fetch_add`.
//!
//! What a response is (qtype, rcode, TC) is read from the response bytes
//! the answer core already wrote, so this module knows the DNS header
//! layout but nothing of `dns/`, and the answer core needs no extra work.
//!
//! # What counting costs
//!
//! Measured with callgrind (`bench/run --answer-cost`: the release binary,
//! one UDP worker, instructions inside the worker's loop only, 5,000
//! queries of the benchmark's mix over 100 services × 4 instances, RRL on
//! at its default with the loopback client exempt), instructions per query:
//!
//! | `[metrics]` | 1 query in flight | 32 in flight |
//! |---|---|---|
//! | off | 3,371 | 2,479 |
//! | on | 3,626 (+255, +7.6 %) | 2,585 (+106, +4.3 %) |
//!
//! [`DnsRecorder::answered`] is about 90 of them (reading qtype, rcode and
//! TC from the response, finding the size bucket, and four to six
//! load+store pairs on the worker's own lines: qtype×rcode, size bucket,
//! size sum, namespace slot, TC and ACL when they apply); the rest is per
//! batch (two clock reads and the latency histogram), which one query in
//! flight pays alone. None of it is a lock, an allocation or a write to a
//! cache line another thread writes. (These counts include the receive and
//! send wrappers and per-batch work, so they are not comparable with the
//! answer-core-only figures in `dns/rrl.rs`.)
//!
//! In time, ~100 instructions are some 30 ns against the 3 µs of CPU a UDP
//! query costs in all on this machine (`bench/run`, most of it in the
//! kernel), about 1 %: below what `bench/run --metrics` resolves. Its two
//! runs here (2026-12-02, a 2-CPU EPYC VM shared with other builds that
//! took 5 to 8 s of every 10 s on the server's core) were noise either
//! way: metrics on/off 0.84× and 0.97× UDP q/s, 0.94× and 0.87× CPU per
//! query. Rerun it on a quiet machine.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::zones::MAX_COUNTED_ZONES;

mod scrape;

/// The query types counted apart; every other type is `other`.
pub const QTYPES: [&str; 8] = ["A", "AAAA", "SRV", "SOA", "NS", "CNAME", "ANY", "other"];

/// The response codes cairn gives, and `other` for any it does not.
pub const RCODES: [&str; 9] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "NOTAUTH", "BADVERS",
    "other",
];

/// Upper bounds of the response size histogram, in bytes: around the
/// classic 512, the 1232 default limit, and TCP sizes above.
pub const SIZE_BOUNDS: [u64; 9] = [64, 128, 256, 512, 768, 1024, 1232, 4096, 16384];

/// Upper bounds of the latency histograms (UDP batches, TCP answers), in
/// microseconds.
pub const LATENCY_BOUNDS_US: [u64; 10] = [10, 25, 50, 100, 250, 500, 1000, 2500, 10000, 100000];

/// The length of cairn's OPT record (root name, type, class, TTL, RDLEN).
const OPT_LEN: usize = 11;
const HEADER_LEN: usize = 12;

/// One writer's counters.
#[derive(Debug)]
#[repr(align(128))]
pub struct DnsCounters {
    queries: [[AtomicU64; RCODES.len()]; QTYPES.len()],
    truncated: AtomicU64,
    acl_refused: AtomicU64,
    rrl_dropped: AtomicU64,
    rrl_slipped: AtomicU64,
    /// One more than the bounds: the last counts the rest (+Inf).
    size_buckets: [AtomicU64; SIZE_BOUNDS.len() + 1],
    size_sum: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BOUNDS_US.len() + 1],
    latency_sum_ns: AtomicU64,
    /// Responses per zone, by the zone's slot ([`super::zones`]).
    zones: Box<[AtomicU64]>,
}

impl DnsCounters {
    fn new() -> Self {
        Self {
            queries: Default::default(),
            truncated: AtomicU64::default(),
            acl_refused: AtomicU64::default(),
            rrl_dropped: AtomicU64::default(),
            rrl_slipped: AtomicU64::default(),
            size_buckets: Default::default(),
            size_sum: AtomicU64::default(),
            latency_buckets: Default::default(),
            latency_sum_ns: AtomicU64::default(),
            zones: (0..MAX_COUNTED_ZONES)
                .map(|_| AtomicU64::default())
                .collect(),
        }
    }
}

/// How a block is written: by its one owner, or by many.
#[derive(Debug, Clone, Copy)]
enum Writers {
    One,
    Many,
}

/// Whose block a recorder writes.
#[derive(Debug, Clone, Copy)]
enum Owner {
    /// Block `index`, with these writers.
    Fixed(usize, Writers),
    /// The block of the thread that counts (TCP).
    Thread,
}

/// A block and how it may be written, for one count.
struct Block<'a> {
    counters: &'a DnsCounters,
    writers: Writers,
}

impl Block<'_> {
    fn add(&self, counter: &AtomicU64, n: u64) {
        match self.writers {
            // Only this worker writes the block: no read-modify-write needed.
            Writers::One => counter.store(
                counter.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            ),
            Writers::Many => {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

thread_local! {
    /// The TCP block this thread claimed: the claiming [`DnsSlots`]'s id
    /// and the block's index (id 0: none yet).
    static TCP_BLOCK: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Ids for [`DnsSlots`], so that a thread's claim is on the slots it
/// counts in (a test process runs several servers).
static NEXT_SLOTS_ID: AtomicUsize = AtomicUsize::new(1);

/// A handle on one block of counters, for the one worker (or the TCP side)
/// that writes it.
#[derive(Debug, Clone)]
pub struct DnsRecorder {
    slots: std::sync::Arc<DnsSlots>,
    owner: Owner,
}

impl DnsRecorder {
    fn block(&self) -> Block<'_> {
        let (index, writers) = match self.owner {
            Owner::Fixed(index, writers) => (index, writers),
            Owner::Thread => self.slots.thread_block(),
        };
        Block {
            counters: &self.slots.blocks[index],
            writers,
        }
    }

    /// Counts one response: its qtype (from the question it echoes, which
    /// ends at `question_end`), its rcode (extended when it ends with an
    /// OPT, `opt`), TC, its size, whether a private zone's network policy
    /// passed over it (`acl_refused`), and the zone that gave it (`zone`,
    /// its slot; `None` for no zone or one without a slot).
    pub fn answered(
        &self,
        response: &[u8],
        question_end: usize,
        opt: bool,
        acl_refused: bool,
        zone: Option<u32>,
    ) {
        if response.len() < HEADER_LEN {
            return;
        }
        let block = self.block();
        let counters = block.counters;
        let qtype = if question_end >= HEADER_LEN + 5 && question_end <= response.len() {
            qtype_index(u16::from_be_bytes([
                response[question_end - 4],
                response[question_end - 3],
            ]))
        } else {
            QTYPES.len() - 1
        };
        let mut rcode = u16::from(response[3] & 0x0f);
        if opt && response.len() >= question_end + OPT_LEN {
            rcode |= u16::from(response[response.len() - OPT_LEN + 5]) << 4;
        }
        block.add(&counters.queries[qtype][rcode_index(rcode)], 1);
        if response[2] & 0x02 != 0 {
            block.add(&counters.truncated, 1);
        }
        if acl_refused {
            block.add(&counters.acl_refused, 1);
        }
        let size = response.len() as u64;
        let bucket = SIZE_BOUNDS
            .iter()
            .position(|&bound| size <= bound)
            .unwrap_or(SIZE_BOUNDS.len());
        block.add(&counters.size_buckets[bucket], 1);
        block.add(&counters.size_sum, size);
        Self::zone_counted(&block, zone);
    }

    /// Counts one response from the zone in `slot` (the zone slots' tests
    /// count without a response).
    #[cfg(test)]
    pub(super) fn zone_answered(&self, slot: Option<u32>) {
        Self::zone_counted(&self.block(), slot);
    }

    fn zone_counted(block: &Block<'_>, slot: Option<u32>) {
        if let Some(counter) = slot.and_then(|slot| block.counters.zones.get(slot as usize)) {
            block.add(counter, 1);
        }
    }

    /// Counts an answer the rate limiter dropped.
    pub fn rrl_dropped(&self) {
        let block = self.block();
        block.add(&block.counters.rrl_dropped, 1);
    }

    /// Counts an answer the rate limiter sent truncated.
    pub fn rrl_slipped(&self) {
        let block = self.block();
        block.add(&block.counters.rrl_slipped, 1);
    }

    /// Records how long one UDP batch took from its receive to its send.
    pub fn batch_took(&self, elapsed: Duration) {
        self.took(elapsed);
    }

    /// Records how long one TCP answer took from the query's last byte
    /// read to the answer's last byte written.
    pub fn answer_took(&self, elapsed: Duration) {
        self.took(elapsed);
    }

    /// The latency histogram: of batches in a UDP worker's block, of
    /// answers in a TCP block.
    fn took(&self, elapsed: Duration) {
        let block = self.block();
        let counters = block.counters;
        let micros = elapsed.as_micros() as u64;
        let bucket = LATENCY_BOUNDS_US
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(LATENCY_BOUNDS_US.len());
        block.add(&counters.latency_buckets[bucket], 1);
        block.add(
            &counters.latency_sum_ns,
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        );
    }
}

fn qtype_index(qtype: u16) -> usize {
    match qtype {
        1 => 0,
        28 => 1,
        33 => 2,
        6 => 3,
        2 => 4,
        5 => 5,
        255 => 6,
        _ => 7,
    }
}

fn rcode_index(rcode: u16) -> usize {
    match rcode {
        0..=5 => usize::from(rcode),
        9 => 6,
        16 => 7,
        _ => 8,
    }
}

/// Every writer's block: one per UDP worker, then one per thread that
/// answers TCP, then the one TCP threads past those share.
#[derive(Debug)]
pub struct DnsSlots {
    blocks: Box<[DnsCounters]>,
    udp_workers: usize,
    /// TCP blocks claimed by threads so far.
    tcp_claimed: AtomicUsize,
    id: usize,
}

impl DnsSlots {
    /// Blocks for `udp_workers` workers and `tcp_threads` threads answering
    /// TCP (tokio's worker threads), and the shared one.
    pub fn new(udp_workers: usize, tcp_threads: usize) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            blocks: (0..udp_workers + tcp_threads + 1)
                .map(|_| DnsCounters::new())
                .collect(),
            udp_workers,
            tcp_claimed: AtomicUsize::new(0),
            id: NEXT_SLOTS_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The index of the block every thread may write.
    fn shared(&self) -> usize {
        self.blocks.len() - 1
    }

    /// The UDP workers' blocks and the TCP ones.
    pub(super) fn by_transport(&self) -> (&[DnsCounters], &[DnsCounters]) {
        self.blocks.split_at(self.udp_workers)
    }

    /// The recorder of UDP worker `index` (below the count given to `new`).
    pub fn udp_worker(self: &std::sync::Arc<Self>, index: usize) -> DnsRecorder {
        DnsRecorder {
            slots: std::sync::Arc::clone(self),
            // A worker past the count shares the last block, safely.
            owner: if index < self.udp_workers {
                Owner::Fixed(index, Writers::One)
            } else {
                Owner::Fixed(self.shared(), Writers::Many)
            },
        }
    }

    /// The recorder TCP connections count with, on whichever thread.
    pub fn tcp(self: &std::sync::Arc<Self>) -> DnsRecorder {
        DnsRecorder {
            slots: std::sync::Arc::clone(self),
            owner: Owner::Thread,
        }
    }

    /// The calling thread's TCP block, claimed on its first count: one
    /// atomic add per thread, then a thread-local read per count.
    fn thread_block(&self) -> (usize, Writers) {
        let (id, index) = TCP_BLOCK.get();
        if id == self.id {
            return (index, self.writers_of(index));
        }
        let claimed = self.tcp_claimed.fetch_add(1, Ordering::Relaxed);
        let index = (self.udp_workers + claimed).min(self.shared());
        TCP_BLOCK.set((self.id, index));
        (index, self.writers_of(index))
    }

    fn writers_of(&self, index: usize) -> Writers {
        if index < self.shared() {
            Writers::One
        } else {
            Writers::Many
        }
    }

    /// The responses counted for zone slot `slot`, over every block.
    pub(super) fn zone_total(&self, slot: usize) -> u64 {
        self.blocks
            .iter()
            .filter_map(|block| block.zones.get(slot))
            .map(|counter| counter.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_qtype_rcode_and_badvers_from_the_response() {
        let slots = DnsSlots::new(1, 1);
        let worker = slots.udp_worker(0);
        // Header (NXDOMAIN, TC), question web.test AAAA IN.
        let mut response = vec![0, 1, 0x82, 0x03, 0, 1, 0, 0, 0, 0, 0, 0];
        response.extend_from_slice(b"\x03web\x04test\x00\x00\x1c\x00\x01");
        let question_end = response.len();
        worker.answered(&response, question_end, false, true, None);
        // The same with an OPT carrying extended rcode 1 and header 0: BADVERS.
        response[3] = 0;
        response.extend_from_slice(&[0, 0, 41, 4, 0xd0, 1, 0, 0, 0, 0, 0]);
        worker.answered(&response, question_end, true, false, None);
        let block = &slots.blocks[0];
        assert_eq!(block.queries[1][3].load(Ordering::Relaxed), 1);
        assert_eq!(block.queries[1][7].load(Ordering::Relaxed), 1);
        assert_eq!(block.truncated.load(Ordering::Relaxed), 2);
        assert_eq!(block.acl_refused.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn each_thread_counts_tcp_in_a_block_of_its_own_until_they_are_all_claimed() {
        let slots = DnsSlots::new(1, 2);
        let tcp = slots.tcp();
        let mut response = vec![0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        response.extend_from_slice(b"\x03web\x04test\x00\x00\x01\x00\x01");
        let question_end = response.len();
        // Three threads for two TCP blocks: the third shares the last one.
        let claims: Vec<(usize, bool)> = (0..3)
            .map(|_| {
                let tcp = tcp.clone();
                let response = response.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        tcp.answered(&response, question_end, false, false, None);
                    }
                    let (index, writers) = tcp.slots.thread_block();
                    (index, matches!(writers, Writers::One))
                })
                .join()
                .unwrap_or((usize::MAX, false))
            })
            .collect();
        assert_eq!(claims, vec![(1, true), (2, true), (3, false)]);
        let (udp, tcp_blocks) = slots.by_transport();
        assert_eq!(udp.len(), 1);
        let counted: Vec<u64> = tcp_blocks
            .iter()
            .map(|block| block.queries[0][0].load(Ordering::Relaxed))
            .collect();
        assert_eq!(counted, vec![100, 100, 100]);
        assert_eq!(udp[0].queries[0][0].load(Ordering::Relaxed), 0);
    }
}
