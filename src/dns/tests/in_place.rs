//! Changes to one instance of a large service are made to its compile in
//! place; after any sequence of them the pools, weights and lookups are
//! what compiling the service whole would give.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::Fixture;
use crate::dns::compile::CompiledService;
use crate::registry::validate::{ATTR_IPV4, ATTR_IPV6, ATTR_PORT, ATTR_WEIGHT};
use crate::registry::{HealthStatus, RecordKind, Service};

/// What the test registered: per id, its addresses, weight and health.
#[derive(Clone, Copy)]
struct Registered {
    v4: bool,
    v6: bool,
    weight: u32,
    healthy: bool,
}

fn register(fixture: &Fixture, web: &Service, id: &str, n: u32, registered: Registered) {
    let ipv4 = format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255);
    let ipv6 = format!("2001:db8::{:x}", n);
    let weight = registered.weight.to_string();
    let mut attributes = vec![(ATTR_PORT, "8080"), (ATTR_WEIGHT, weight.as_str())];
    if registered.v4 {
        attributes.push((ATTR_IPV4, ipv4.as_str()));
    }
    if registered.v6 {
        attributes.push((ATTR_IPV6, ipv6.as_str()));
    }
    fixture.register(web, id, &attributes);
}

/// The ids in `kind`'s pool, checked to hold each instance once, and its
/// total weight.
fn pool(compiled: &CompiledService, kind: RecordKind) -> (BTreeSet<String>, u64) {
    let pool = compiled.pool(kind).expect("the template has this kind");
    let ids: Vec<String> = (0..pool.len())
        .map(|index| {
            let wire = pool.get(index).expect("every member is an instance");
            assert!(wire.record(kind).is_some(), "a member has the record");
            String::from_utf8_lossy(wire.id()).into_owned()
        })
        .collect();
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "{kind:?}: no member twice");
    (set, pool.total_weight)
}

/// Checks the table's compile of `web` against what the test registered.
fn check(fixture: &Fixture, model: &BTreeMap<String, Registered>, step: &str) {
    let compiled = fixture.compiled("web");
    let any_healthy = model.values().any(|r| r.healthy);
    for kind in [RecordKind::A, RecordKind::Aaaa, RecordKind::Srv] {
        let members: BTreeMap<&String, &Registered> = model
            .iter()
            .filter(|(_, r)| r.healthy || !any_healthy)
            .filter(|(_, r)| match kind {
                RecordKind::A => r.v4,
                RecordKind::Aaaa => r.v6,
                _ => true,
            })
            .collect();
        let expected: BTreeSet<String> = members.keys().map(|id| id.to_string()).collect();
        let weight: u64 = members.values().map(|r| u64::from(r.weight)).sum();
        assert_eq!(
            pool(&compiled, kind),
            (expected, weight),
            "{step}: {kind:?} pool"
        );
    }
    assert_eq!(compiled.instances().len(), model.len(), "{step}: instances");
    for id in model.keys() {
        let found = compiled.instance(id.to_ascii_uppercase().as_bytes());
        assert_eq!(
            found.map(|wire| wire.id()),
            Some(id.as_bytes()),
            "{step}: {id} is found by id"
        );
    }
}

#[test]
fn one_instance_changed_in_a_large_service_leaves_it_as_a_whole_compile_would() {
    let fixture = Fixture::new();
    let web = fixture.service("web", &[RecordKind::A, RecordKind::Aaaa, RecordKind::Srv]);
    let mut model = BTreeMap::new();
    let mut rng = fastrand::Rng::with_seed(14);
    let mut fresh = 0u32;
    // Each registration gets addresses never used before.
    let mut next = |rng: &mut fastrand::Rng| {
        fresh += 1;
        let v6 = rng.bool();
        let registered = Registered {
            v4: !v6 || rng.bool(),
            v6,
            weight: rng.u32(..100),
            healthy: true,
        };
        (fresh, registered)
    };
    for node in 0..40 {
        let id = format!("node-{node}");
        let (n, registered) = next(&mut rng);
        register(&fixture, &web, &id, n, registered);
        model.insert(id, registered);
    }
    check(&fixture, &model, "after 40 registrations");
    assert!(
        fixture.compiled("web").is_indexed(),
        "40 instances are changed in place"
    );

    let compiled = Arc::as_ptr(&fixture.compiled("web"));
    for step in 0..1500 {
        let id = format!("node-{}", rng.u32(..60));
        let action = rng.u8(..10);
        let label = format!("step {step}: action {action} on {id}");
        match (action, model.get(&id).copied()) {
            (0..=3, previous) => {
                let (n, mut registered) = next(&mut rng);
                // A registration keeps the instance's health, as Cloud Map's does.
                registered.healthy = previous.is_none_or(|p| p.healthy);
                register(&fixture, &web, &id, n, registered);
                model.insert(id.clone(), registered);
            }
            (4..=6, Some(mut registered)) => {
                registered.healthy = !registered.healthy;
                let status = if registered.healthy {
                    HealthStatus::Healthy
                } else {
                    HealthStatus::Unhealthy
                };
                fixture
                    .registry
                    .set_health(&web.id, &id, status, false)
                    .expect("the instance is registered");
                model.insert(id.clone(), registered);
            }
            (_, Some(_)) if model.len() > 20 => {
                fixture
                    .registry
                    .deregister_instance(&web.id, &id)
                    .expect("the instance is registered");
                model.remove(&id);
            }
            _ => continue,
        }
        check(&fixture, &model, &label);
    }
    assert_eq!(
        Arc::as_ptr(&fixture.compiled("web")),
        compiled,
        "every change was made in place: the compile is the same one"
    );

    // The pools flip to every instance when the last healthy one stops
    // serving, and back when one serves again.
    let ids: Vec<String> = model.keys().cloned().collect();
    for (phase, status) in [
        (false, HealthStatus::Unhealthy),
        (true, HealthStatus::Healthy),
    ] {
        for id in &ids {
            let registered = model.get_mut(id).expect("registered");
            if registered.healthy != phase {
                registered.healthy = phase;
                fixture
                    .registry
                    .set_health(&web.id, id, status, false)
                    .expect("the instance is registered");
                check(&fixture, &model, &format!("{id} set to {status:?}"));
            }
        }
    }
}
