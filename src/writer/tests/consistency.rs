//! The cluster's consistency check compares a node's registry with the
//! store's state: it must find every kind of difference, and none where
//! the two hold the same (a false one would re-read the store for nothing
//! at every check).

use super::*;
use crate::writer::cluster::differences;

#[test]
fn the_consistency_check_finds_what_differs_from_the_store_and_nothing_else() {
    let registry = TestRegistry::new(Vec::new());
    let web = web_service(&registry, &[RecordKind::A], RoutingPolicy::Multivalue);
    register(&registry, &web, "i-1", &[V4]).expect("registered");
    register(&registry, &web, "I-2", &[V4, ("zone", "a")]).expect("registered");
    api_service(&registry);
    let stored = registry.stored_snapshot();
    assert_eq!(differences(&registry, &stored), Vec::<String>::new());

    let web_at = stored
        .services
        .iter()
        .position(|(service, _)| service.id == web.id)
        .expect("web is stored");
    let mut changed = stored.clone();
    changed.services[web_at].1[0].health = HealthStatus::Unhealthy;
    assert_eq!(
        differences(&registry, &changed),
        [format!("service {}: its instances differ", web.id)]
    );
    let mut fewer = stored.clone();
    fewer.services[web_at].1.pop();
    assert_eq!(differences(&registry, &fewer).len(), 1);
    let mut renamed = stored.clone();
    renamed.services[web_at].0.description = Some("elsewhere".into());
    assert_eq!(
        differences(&registry, &renamed),
        [format!("service {}: its settings differ", web.id)]
    );
    let mut gone = stored.clone();
    gone.services.remove(web_at);
    assert!(differences(&registry, &gone)[0].starts_with("services:"));
    let mut namespaces = stored;
    namespaces.namespaces[0].description = Some("changed".into());
    assert!(differences(&registry, &namespaces)[0].starts_with("namespaces:"));
}
