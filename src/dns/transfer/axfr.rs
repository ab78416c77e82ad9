//! A zone as AXFR carries it (RFC 5936): the records of a [`ZoneSnapshot`]
//! in transfer order, and the messages they are packed into.
//!
//! Records come from the same pre-encoded bytes queries are answered
//! with; only owner names are written here, as compression pointers to
//! names already in the message (the zone's, in the question, and each
//! service's, written once per message), so a message is header, question
//! and `memcpy`s. Nothing is built for the whole zone: memory is one
//! message and the snapshot's pointers, whatever the zone's size.

use crate::dns::compile::CompiledService;
use crate::dns::names::ZoneSnapshot;
use crate::dns::wire::HEADER_LEN;
use crate::registry::RecordKind;

/// The owner of a record, as the transfer knows it.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'z> {
    /// The zone's apex: the question's name.
    Apex,
    /// A name below the apex (an in-zone name server, a service), lower
    /// case, wire form.
    Name(&'z [u8]),
    /// An instance's own name: its id as a label, below its service.
    Instance { service: &'z [u8], id: &'z [u8] },
}

/// One record: its owner, and the record as compiled (two placeholder bytes
/// for the owner, then type, class, TTL and RDATA).
pub type ZoneRecord<'z> = (Owner<'z>, &'z [u8]);

/// Every record of the zone, SOA first and last (RFC 5936 §2.2): the NS
/// records and their in-zone addresses, the server's own names in the zone,
/// then each service's records — every
/// member of each pool, not the few a query picks — and, for services with
/// SRV records, every instance's own addresses.
pub fn records(zone: &ZoneSnapshot) -> impl Iterator<Item = ZoneRecord<'_>> {
    let apex = &*zone.apex;
    let soa = (Owner::Apex, &*apex.soa_answer);
    let name_servers = apex
        .name_servers
        .iter()
        .map(|server| (Owner::Apex, &*server.record));
    let glue = apex.name_servers.iter().flat_map(|server| {
        server.host.iter().flat_map(move |host| {
            server
                .addresses
                .iter()
                .map(move |record| (Owner::Name(host), &**record))
        })
    });
    // The server's own names in the zone (the API's host and its `data-`
    // twin) are answered here, so secondaries must answer them too.
    let own_hosts = apex.own_hosts.iter().flat_map(|own| {
        own.addresses
            .iter()
            .map(move |record| (Owner::Name(&own.host), &**record))
    });
    let services = zone
        .services
        .iter()
        .flat_map(|(name, service)| service_records(name, service));
    std::iter::once(soa)
        .chain(name_servers)
        .chain(glue)
        .chain(own_hosts)
        .chain(services)
        .chain(std::iter::once(soa))
}

pub(super) fn service_records<'z>(
    name: &'z [u8],
    service: &'z CompiledService,
) -> impl Iterator<Item = ZoneRecord<'z>> {
    let pooled = [RecordKind::A, RecordKind::Aaaa, RecordKind::Srv]
        .into_iter()
        .filter_map(|kind| Some((kind, service.pool(kind)?)))
        .flat_map(move |(kind, pool)| {
            (0..pool.len())
                .filter_map(move |index| Some((Owner::Name(name), pool.get(index)?.record(kind)?)))
        });
    // A name holds one CNAME (RFC 1034 §3.6.2): a WEIGHTED alias with
    // several targets goes to secondaries as its heaviest one.
    let cname = service.pool(RecordKind::Cname).and_then(|pool| {
        let heaviest = (0..pool.len())
            .filter_map(|index| pool.get(index))
            .filter(|wire| wire.record(RecordKind::Cname).is_some())
            .reduce(|best, wire| {
                if wire.weight() > best.weight() {
                    wire
                } else {
                    best
                }
            })?;
        Some((Owner::Name(name), heaviest.record(RecordKind::Cname)?))
    });
    let named: &[_] = if service.names_instances() {
        service.instances()
    } else {
        &[]
    };
    let instances = named.iter().flat_map(move |wire| {
        let owner = Owner::Instance {
            service: name,
            id: wire.id(),
        };
        [RecordKind::A, RecordKind::Aaaa]
            .into_iter()
            .filter_map(move |kind| Some((owner, wire.record(kind)?)))
    });
    pooled.chain(cname).chain(instances)
}

/// Where names may be pointed to: below 2^14 (RFC 1035 §4.1.4), so a
/// message is kept under it.
const POINTER_LIMIT: usize = 0x3fff;

/// Packs records into messages of at most `limit` bytes, each with the
/// header and question of the query it answers.
pub struct MessageBuilder<'q> {
    buf: Vec<u8>,
    /// The header's first four bytes: id, then flags.
    head: [u8; 4],
    /// The question as the client sent it.
    question: &'q [u8],
    origin_len: usize,
    limit: usize,
    count: u16,
    /// The service name last written in this message, and where.
    service_at: Option<(&'q [u8], u16)>,
}

impl<'q> MessageBuilder<'q> {
    /// `question` is the query's question section as sent; `origin_len` the
    /// length of the zone's name in wire form; `limit` leaves room for a
    /// TSIG record after the records.
    pub fn new(id: u16, flags: u16, question: &'q [u8], origin_len: usize, limit: usize) -> Self {
        let [id_high, id_low] = id.to_be_bytes();
        let [flags_high, flags_low] = flags.to_be_bytes();
        let mut builder = Self {
            buf: Vec::with_capacity(limit.min(POINTER_LIMIT)),
            head: [id_high, id_low, flags_high, flags_low],
            question,
            origin_len,
            limit: limit.min(POINTER_LIMIT),
            count: 0,
            service_at: None,
        };
        builder.clear();
        builder
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&self.head);
        self.buf.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        self.buf.extend_from_slice(self.question);
        self.count = 0;
        self.service_at = None;
    }

    /// Records in this message so far.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Adds a record, or returns `false` when it does not fit (nothing is
    /// written then).
    pub fn push(&mut self, (owner, record): ZoneRecord<'q>) -> bool {
        let start = self.buf.len();
        match owner {
            Owner::Apex => self.buf.extend_from_slice(&QUESTION_POINTER),
            Owner::Name(name) => self.write_service_name(name),
            Owner::Instance { service, id } => {
                // The id is one label, checked when the SRV target was built.
                self.buf.push(id.len() as u8);
                self.buf.extend_from_slice(id);
                self.write_service_name(service);
            }
        }
        self.buf
            .extend_from_slice(record.get(2..).unwrap_or_default());
        if self.buf.len() > self.limit || self.count == u16::MAX {
            self.buf.truncate(start);
            if self
                .service_at
                .is_some_and(|(_, at)| usize::from(at) >= start)
            {
                self.service_at = None;
            }
            return false;
        }
        self.count += 1;
        true
    }

    /// Writes `name` as a pointer when this message holds it already, or
    /// else as its labels below the zone and a pointer to the question.
    fn write_service_name(&mut self, name: &'q [u8]) {
        if let Some((written, at)) = self.service_at
            && std::ptr::eq(written, name)
        {
            self.buf.extend_from_slice(&(0xc000 | at).to_be_bytes());
            return;
        }
        let at = self.buf.len();
        let prefix = name.get(..name.len().saturating_sub(self.origin_len));
        self.buf.extend_from_slice(prefix.unwrap_or_default());
        self.buf.extend_from_slice(&QUESTION_POINTER);
        if at < POINTER_LIMIT {
            self.service_at = Some((name, at as u16));
        }
    }

    /// The message as it stands, with its answer count, for the caller to
    /// sign.
    pub fn finish(&mut self) -> &mut Vec<u8> {
        let count = self.count.to_be_bytes();
        self.buf[6..8].copy_from_slice(&count);
        &mut self.buf
    }

    /// The message, finished.
    pub fn message(&self) -> &[u8] {
        &self.buf
    }

    /// Starts the next message.
    pub fn next_message(&mut self) {
        self.clear();
    }
}

/// A pointer to the question's name, right after the header.
const QUESTION_POINTER: [u8; 2] = [0xc0, HEADER_LEN as u8];
