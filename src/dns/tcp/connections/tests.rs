use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ClientKey, Connection, Connections};
use crate::dns::tcp::TcpLimits;

fn limits(max_connections: usize, max_connections_per_client: usize) -> TcpLimits {
    TcpLimits {
        idle_timeout: Duration::from_secs(10),
        pressure_idle_timeout: Duration::from_secs(1),
        pressure_percent: 50,
        write_timeout: Duration::from_secs(1),
        max_connections,
        max_connections_per_client,
        max_udp_payload: 1232,
    }
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn is_closed(connection: &Connection) -> bool {
    connection.state.close.is_cancelled()
}

/// Marks `connection` idle since `micros` after the epoch.
fn idle_since(connections: &Connections, connection: &Connection, micros: u64) {
    connection.waiting(connections.epoch + Duration::from_micros(micros));
}

#[test]
fn a_full_table_evicts_the_idlest_connection_and_admits_the_new_one() {
    let connections = Arc::new(Connections::new(limits(3, 3)));
    let shutdown = CancellationToken::new();
    let open: Vec<_> = (1..=3)
        .map(|last| connections.admit(ip(last), &shutdown))
        .collect();
    idle_since(&connections, &open[0], 300);
    idle_since(&connections, &open[1], 100);
    idle_since(&connections, &open[2], 200);

    let newcomer = connections.admit(ip(4), &shutdown);

    assert!(is_closed(&open[1]), "the idlest is evicted");
    assert!(!is_closed(&open[0]) && !is_closed(&open[2]) && !is_closed(&newcomer));
    assert_eq!(connections.table.lock().unwrap().len, 3);
}

#[test]
fn an_answering_connection_is_evicted_only_when_every_one_is_answering() {
    let connections = Arc::new(Connections::new(limits(2, 2)));
    let shutdown = CancellationToken::new();
    let answering = connections.admit(ip(1), &shutdown);
    let idle = connections.admit(ip(2), &shutdown);
    // The answering one has waited longest, but it is answering.
    let waited = answering.waiting(connections.epoch);
    answering.answering(&waited);
    idle_since(&connections, &idle, 500);

    let third = connections.admit(ip(3), &shutdown);
    assert!(is_closed(&idle) && !is_closed(&answering));

    let third_waited = third.waiting(connections.epoch + Duration::from_millis(600));
    third.answering(&third_waited);
    let _fourth = connections.admit(ip(4), &shutdown);
    assert!(
        is_closed(&answering),
        "the longest-answering goes when all answer"
    );
    assert!(!is_closed(&third));
}

#[test]
fn a_client_at_its_limit_replaces_its_own_idlest_connection() {
    let connections = Arc::new(Connections::new(limits(10, 2)));
    let shutdown = CancellationToken::new();
    let other = connections.admit(ip(9), &shutdown);
    idle_since(&connections, &other, 0);
    let first = connections.admit(ip(1), &shutdown);
    let second = connections.admit(ip(1), &shutdown);
    idle_since(&connections, &first, 100);
    idle_since(&connections, &second, 50);

    let _third = connections.admit(ip(1), &shutdown);

    assert!(is_closed(&second), "the client's own idlest goes");
    assert!(
        !is_closed(&first) && !is_closed(&other),
        "not anyone else's"
    );
    assert_eq!(
        connections
            .table
            .lock()
            .unwrap()
            .count(ClientKey::of(ip(1))),
        2
    );
}

#[test]
fn an_evicted_connection_closing_leaves_its_successor_in_the_slot() {
    let connections = Arc::new(Connections::new(limits(1, 1)));
    let shutdown = CancellationToken::new();
    let evicted = connections.admit(ip(1), &shutdown);
    let successor = connections.admit(ip(2), &shutdown);
    assert_eq!(evicted.slot, successor.slot);
    drop(evicted);
    assert_eq!(connections.table.lock().unwrap().len, 1);
    drop(successor);
    let table = connections.table.lock().unwrap();
    assert_eq!(table.len, 0);
    assert!(table.per_client.is_empty());
}

#[test]
fn idle_connections_wait_less_above_the_pressure_threshold() {
    let connections = Arc::new(Connections::new(limits(4, 4)));
    let shutdown = CancellationToken::new();
    let now = Instant::now();
    let first = connections.admit(ip(1), &shutdown);
    let _second = connections.admit(ip(2), &shutdown);
    assert_eq!(first.waiting(now).deadline, now + Duration::from_secs(10));
    let _third = connections.admit(ip(3), &shutdown);
    assert_eq!(first.waiting(now).deadline, now + Duration::from_secs(1));
}

#[test]
fn shutdown_closes_every_connection() {
    let connections = Arc::new(Connections::new(limits(4, 4)));
    let shutdown = CancellationToken::new();
    let connection = connections.admit(ip(1), &shutdown);
    shutdown.cancel();
    assert!(is_closed(&connection));
}

#[test]
fn clients_are_counted_by_ipv4_address_and_ipv6_slash_64() {
    let key = |text: &str| ClientKey::of(text.parse().unwrap());
    assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
    assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
    assert_ne!(key("::ffff:192.0.2.1"), key("::ffff:192.0.2.2"));
}
