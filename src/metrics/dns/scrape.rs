//! The scrape side of the answer path's counters: every block summed into
//! the Prometheus families, only when `/metrics` is asked for.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use super::{DnsCounters, DnsSlots, LATENCY_BOUNDS_US, QTYPES, RCODES, SIZE_BOUNDS};

impl DnsSlots {
    fn sum(&self, blocks: &[DnsCounters], field: impl Fn(&DnsCounters) -> &AtomicU64) -> u64 {
        let _ = self;
        blocks
            .iter()
            .map(|block| field(block).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    /// The latency histogram of `blocks`: sum in seconds, count, buckets.
    fn latency(&self, blocks: &[DnsCounters]) -> (f64, u64, Vec<(f64, u64)>) {
        let buckets: Vec<(f64, u64)> = (0..=LATENCY_BOUNDS_US.len())
            .map(|i| {
                let bound = LATENCY_BOUNDS_US
                    .get(i)
                    .map_or(f64::MAX, |&b| b as f64 / 1e6);
                (bound, self.sum(blocks, |b| &b.latency_buckets[i]))
            })
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.sum(blocks, |b| &b.latency_sum_ns) as f64 / 1e9;
        (sum, count, buckets)
    }

    /// Writes the DNS metrics, summed over the blocks.
    pub fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (udp, tcp) = self.by_transport();
        let all = &self.blocks[..];
        {
            let mut family = encoder.encode_descriptor(
                "cairn_dns_queries",
                "DNS responses by transport, query type and response code",
                None,
                MetricType::Counter,
            )?;
            for (transport, blocks) in [("udp", udp), ("tcp", tcp)] {
                for (q, qtype) in QTYPES.iter().enumerate() {
                    for (r, rcode) in RCODES.iter().enumerate() {
                        let value = self.sum(blocks, |b| &b.queries[q][r]);
                        if value == 0 {
                            continue;
                        }
                        let labels = [
                            ("transport", transport),
                            ("qtype", *qtype),
                            ("rcode", *rcode),
                        ];
                        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
                    }
                }
            }
        }
        for (name, help, field, blocks) in [
            (
                "cairn_dns_truncated",
                "Responses sent with TC because the answer did not fit (before rate limiting)",
                (|b: &DnsCounters| &b.truncated) as fn(&DnsCounters) -> &AtomicU64,
                all,
            ),
            (
                "cairn_dns_acl_refused",
                "Queries for a private namespace from a client outside its networks, answered as if the namespace did not exist",
                |b| &b.acl_refused,
                all,
            ),
            (
                "cairn_dns_rrl_dropped",
                "UDP responses dropped by response rate limiting",
                |b| &b.rrl_dropped,
                udp,
            ),
            (
                "cairn_dns_rrl_slipped",
                "UDP responses sent truncated (slipped) by response rate limiting",
                |b| &b.rrl_slipped,
                udp,
            ),
        ] {
            let value = self.sum(blocks, field);
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value).encode(metric)?;
        }
        {
            let mut family = encoder.encode_descriptor(
                "cairn_dns_response_size_bytes",
                "Size of DNS responses as the answer core wrote them",
                None,
                MetricType::Histogram,
            )?;
            for (transport, blocks) in [("udp", udp), ("tcp", tcp)] {
                let buckets: Vec<(f64, u64)> = (0..=SIZE_BOUNDS.len())
                    .map(|i| {
                        let bound = SIZE_BOUNDS.get(i).map_or(f64::MAX, |&b| b as f64);
                        (bound, self.sum(blocks, |b| &b.size_buckets[i]))
                    })
                    .collect();
                let count = buckets.iter().map(|(_, n)| n).sum();
                let sum = self.sum(blocks, |b| &b.size_sum) as f64;
                let labels = [("transport", transport)];
                family
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        {
            let (sum, count, buckets) = self.latency(udp);
            encoder
                .encode_descriptor(
                    "cairn_dns_udp_batch_duration_seconds",
                    "Time from a UDP worker's receive of a batch of queries (up to 32) to its send of their answers; every query in the batch was answered within it",
                    None,
                    MetricType::Histogram,
                )?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        {
            let (sum, count, buckets) = self.latency(tcp);
            encoder
                .encode_descriptor(
                    "cairn_dns_tcp_answer_duration_seconds",
                    "Time from reading a TCP query's last byte to writing its answer's last byte into the socket",
                    None,
                    MetricType::Histogram,
                )?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        Ok(())
    }
}
