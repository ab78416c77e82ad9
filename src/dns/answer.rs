//! The answer core: from a question and the client's address to the records
//! of each section and the response code. Sans-IO: no sockets, no clock, no
//! encoding; it reads the name table and copies out `Arc`s.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{LowerName, Name, Record, RecordType};
use smallvec::SmallVec;

use super::compile::{Apex, CompiledService, Pool};
use super::zones::{Node, Zones};
use crate::registry::RoutingPolicy;

/// At most this many records answer a MULTIVALUE query, as in Cloud Map.
pub const MULTIVALUE_LIMIT: usize = 8;

/// The records of one section.
pub type Section = SmallVec<[Arc<Record>; MULTIVALUE_LIMIT]>;

/// What to send back for one question.
#[derive(Debug, Default)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub answers: Section,
    /// The SOA, for NXDOMAIN and NODATA.
    pub authority: Option<Arc<Record>>,
    pub additionals: SmallVec<[Arc<Record>; 2 * MULTIVALUE_LIMIT]>,
}

impl Answer {
    /// REFUSED: outside every zone, or a private zone asked from outside its
    /// networks. Both look the same, so a refused client learns nothing.
    pub fn refused() -> Self {
        Self {
            rcode: ResponseCode::Refused,
            ..Self::default()
        }
    }

    fn negative(apex: &Apex, rcode: ResponseCode) -> Self {
        Self {
            rcode,
            authoritative: true,
            authority: Some(Arc::clone(&apex.negative_soa)),
            ..Self::default()
        }
    }

    fn nodata(apex: &Apex) -> Self {
        Self::negative(apex, ResponseCode::NoError)
    }

    fn positive(answers: Section) -> Self {
        Self {
            rcode: ResponseCode::NoError,
            authoritative: true,
            answers,
            ..Self::default()
        }
    }
}

/// Answers one question: `qname` lowercased, `original` as asked (for the
/// first label of instance names), from a client at `client`.
pub fn answer(
    zones: &Zones,
    qname: &LowerName,
    original: &Name,
    qtype: RecordType,
    client: IpAddr,
) -> Answer {
    let client = client.to_canonical();
    if let Some(node) = zones.node(qname) {
        let apex = node.zone().apex.load_full();
        if !apex.allows(client) {
            return Answer::refused();
        }
        return match node {
            Node::Apex(_) => at_apex(&apex, qtype),
            Node::Service(_, service) => at_service(&apex, &service, qtype),
            Node::EmptyNonTerminal(_) => Answer::nodata(&apex),
        };
    }

    // Not in the table: the nearest ancestor that is decides which zone
    // says NXDOMAIN, or whether the name is one of a service's instances.
    let mut ancestor = qname.base_name();
    let mut depth = 1;
    while !ancestor.is_root() {
        if let Some(node) = zones.node(&ancestor) {
            let apex = node.zone().apex.load_full();
            if !apex.allows(client) {
                return Answer::refused();
            }
            if let (1, Node::Service(_, service)) = (depth, &node)
                && let Some(answer) = at_instance(&apex, service, original, qtype)
            {
                return answer;
            }
            return Answer::negative(&apex, ResponseCode::NXDomain);
        }
        ancestor = ancestor.base_name();
        depth += 1;
    }
    Answer::refused()
}

fn at_apex(apex: &Apex, qtype: RecordType) -> Answer {
    match qtype {
        RecordType::SOA | RecordType::ANY => {
            Answer::positive(Section::from_iter([Arc::clone(&apex.soa)]))
        }
        RecordType::NS => Answer::positive(apex.ns.iter().cloned().collect()),
        _ => Answer::nodata(apex),
    }
}

fn at_service(apex: &Apex, service: &CompiledService, qtype: RecordType) -> Answer {
    // A CNAME owns its name: every type is answered with it (RFC 1034 §3.6.2).
    if let Some(pool) = &service.cname {
        return from_pool(apex, service.policy, pool, false);
    }
    let pool = match qtype {
        RecordType::A => service.a.as_ref(),
        RecordType::AAAA => service.aaaa.as_ref(),
        RecordType::SRV => service.srv.as_ref(),
        // One RRset for ANY, as RFC 8482 allows, to keep answers small.
        RecordType::ANY => service
            .a
            .as_ref()
            .or(service.aaaa.as_ref())
            .or(service.srv.as_ref()),
        _ => None,
    };
    match pool {
        Some(pool) => from_pool(apex, service.policy, pool, qtype == RecordType::SRV),
        None => Answer::nodata(apex),
    }
}

/// Answers for `<instance>.<service>`, or `None` when the first label names
/// no instance of the service.
fn at_instance(
    apex: &Apex,
    service: &CompiledService,
    original: &Name,
    qtype: RecordType,
) -> Option<Answer> {
    let label = original.iter().next()?;
    let mut lowered = [0u8; 63];
    let lowered = lowered.get_mut(..label.len())?;
    lowered.copy_from_slice(label);
    lowered.make_ascii_lowercase();
    let records = service.instances.get(&*lowered)?;
    let record = match qtype {
        RecordType::A => records.a.as_ref(),
        RecordType::AAAA => records.aaaa.as_ref(),
        RecordType::ANY => records.a.as_ref().or(records.aaaa.as_ref()),
        _ => None,
    };
    Some(match record {
        Some(record) => Answer::positive(Section::from_iter([Arc::clone(record)])),
        None => Answer::nodata(apex),
    })
}

fn from_pool(apex: &Apex, policy: RoutingPolicy, pool: &Pool, with_glue: bool) -> Answer {
    if pool.candidates.is_empty() {
        return Answer::nodata(apex);
    }
    let picks = match policy {
        RoutingPolicy::Multivalue => pick_several(pool.candidates.len()),
        RoutingPolicy::Weighted => SmallVec::from_iter([pick_weighted(pool)]),
    };
    let mut answer = Answer::positive(
        picks
            .iter()
            .map(|&index| Arc::clone(&pool.candidates[index].record))
            .collect(),
    );
    if with_glue {
        answer.additionals = picks
            .iter()
            .flat_map(|&index| pool.candidates[index].glue.iter().cloned())
            .collect();
    }
    answer
}

/// Up to eight distinct indices below `count`, in random order (Floyd's
/// sampling: constant work whatever the count).
fn pick_several(count: usize) -> SmallVec<[usize; MULTIVALUE_LIMIT]> {
    let mut picks: SmallVec<[usize; MULTIVALUE_LIMIT]> = SmallVec::new();
    if count <= MULTIVALUE_LIMIT {
        picks.extend(0..count);
    } else {
        for upper in count - MULTIVALUE_LIMIT..count {
            let candidate = fastrand::usize(..=upper);
            picks.push(if picks.contains(&candidate) {
                upper
            } else {
                candidate
            });
        }
    }
    fastrand::shuffle(&mut picks);
    picks
}

/// One index, chosen in proportion to the candidates' weights (uniformly
/// when every weight is zero).
fn pick_weighted(pool: &Pool) -> usize {
    if pool.total_weight == 0 {
        return fastrand::usize(..pool.candidates.len());
    }
    let mut target = fastrand::u64(..pool.total_weight);
    for (index, candidate) in pool.candidates.iter().enumerate() {
        let weight = u64::from(candidate.weight);
        if target < weight {
            return index;
        }
        target -= weight;
    }
    pool.candidates.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_picks_are_distinct_and_bounded() {
        for count in [0, 1, 7, 8, 9, 20, 1000] {
            for _ in 0..200 {
                let picks = pick_several(count);
                assert_eq!(picks.len(), count.min(MULTIVALUE_LIMIT));
                assert!(picks.iter().all(|&p| p < count));
                let mut sorted = picks.to_vec();
                sorted.sort();
                sorted.dedup();
                assert_eq!(sorted.len(), picks.len(), "duplicate pick in {picks:?}");
            }
        }
    }
}
