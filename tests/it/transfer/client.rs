//! A zone transfer client for the tests: sends AXFR or IXFR over TCP and
//! reads every message of the answer, as raw bytes and decoded.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::support::DEADLINE;

/// An AXFR query for `zone`.
pub fn axfr_query(zone: &str) -> Message {
    let mut message = Message::new(fastrand::u16(..), MessageType::Query, OpCode::Query);
    let mut query = Query::query(Name::from_ascii(zone).expect("zone name"), RecordType::AXFR);
    query.set_query_class(DNSClass::IN);
    message.add_query(query);
    message
}

/// An IXFR query for `zone` from a client at `serial`, its SOA in the
/// authority section (RFC 1995 §3), as NSD sends it.
pub fn ixfr_query(zone: &str, serial: u32) -> Message {
    let name = Name::from_ascii(zone).expect("zone name");
    let mut message = Message::new(fastrand::u16(..), MessageType::Query, OpCode::Query);
    let mut query = Query::query(name.clone(), RecordType::IXFR);
    query.set_query_class(DNSClass::IN);
    message.add_query(query);
    let soa = SOA::new(name.clone(), name.clone(), serial, 1, 1, 1, 1);
    message.add_authority(Record::from_rdata(name, 0, RData::SOA(soa)));
    message
}

/// Sends `query` over TCP and reads messages until the transfer ends: an
/// error, a lone SOA (nothing newer), or a message ending in the SOA that
/// opened it. Returns each message's bytes.
pub fn transfer_raw(server: SocketAddr, query: &Message) -> Result<Vec<Vec<u8>>, String> {
    let bytes = query.to_vec().map_err(|e| e.to_string())?;
    let mut stream = TcpStream::connect_timeout(&server, DEADLINE).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(DEADLINE))
        .map_err(|e| e.to_string())?;
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).map_err(|e| e.to_string())?;
    let mut messages = Vec::new();
    let mut first_soa: Option<SOA> = None;
    let mut records = 0usize;
    loop {
        let mut prefix = [0u8; 2];
        stream
            .read_exact(&mut prefix)
            .map_err(|e| format!("after {} messages: {e}", messages.len()))?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        stream.read_exact(&mut reply).map_err(|e| e.to_string())?;
        let message = Message::from_vec(&reply).map_err(|e| format!("undecodable: {e}"))?;
        if message.metadata.id != query.metadata.id {
            return Err(format!(
                "id {} for query {}",
                message.metadata.id, query.metadata.id
            ));
        }
        messages.push(reply);
        if message.metadata.response_code != hickory_proto::op::ResponseCode::NoError {
            return Ok(messages);
        }
        for record in &message.answers {
            records += 1;
            if let RData::SOA(soa) = &record.data {
                match &first_soa {
                    None => first_soa = Some(soa.clone()),
                    Some(first) if records > 1 && first.serial == soa.serial => {
                        // Only the last record may close it.
                        if std::ptr::eq(record, message.answers.last().unwrap_or(record)) {
                            return Ok(messages);
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        if records == 1 && first_soa.is_some() && query.queries[0].query_type == RecordType::IXFR {
            return Ok(messages);
        }
    }
}

/// As [`transfer_raw`], decoded.
pub fn transfer(server: SocketAddr, query: &Message) -> Result<Vec<Message>, String> {
    transfer_raw(server, query)?
        .iter()
        .map(|bytes| Message::from_vec(bytes).map_err(|e| e.to_string()))
        .collect()
}

/// A record as a line to compare zones by: name in lower case, TTL, type,
/// data.
pub fn line(record: &Record) -> String {
    format!(
        "{} {} {} {}",
        record.name.to_ascii().to_ascii_lowercase(),
        record.ttl,
        record.record_type(),
        record.data.to_string().to_ascii_lowercase()
    )
}

/// The zone a transfer carried, as a set of lines (the closing SOA is the
/// opening one).
pub fn zone_lines(messages: &[Message]) -> BTreeSet<String> {
    messages
        .iter()
        .flat_map(|message| message.answers.iter())
        .map(line)
        .collect()
}

/// The full AXFR of `zone` from `server`, as lines; panics with `what` on
/// failure.
pub fn axfr_lines(server: SocketAddr, zone: &str, what: &str) -> BTreeSet<String> {
    let messages = transfer(server, &axfr_query(zone))
        .unwrap_or_else(|error| panic!("AXFR of {zone} from {what}: {error}"));
    zone_lines(&messages)
}

/// The serial `server` answers for `zone` SOA over UDP, if it answers one.
pub fn serial(server: SocketAddr, zone: &str) -> Option<u32> {
    let query = crate::support::query_message(zone, RecordType::SOA, None);
    let reply =
        crate::support::exchange_udp(server, &query, None, std::time::Duration::from_millis(200))
            .ok()?;
    reply.answers.iter().find_map(|record| match &record.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    })
}
