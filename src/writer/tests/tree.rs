//! The name tree: names that would be served two ways are refused when they
//! are created, whichever comes first, and freed when what held them goes.

use super::*;

use NamespaceType::{DnsPrivate, DnsPublic, Http};
use RecordKind::{A, Srv};
use RoutingPolicy::Multivalue;

fn service_in(
    registry: &TestRegistry,
    namespace: &Namespace,
    name: &str,
    kinds: &[RecordKind],
) -> Result<Service> {
    registry.create_service(NewService {
        namespace_id: namespace.id.clone(),
        dns: (namespace.kind != Http).then(|| template(Multivalue, kinds)),
        ..internal_service(registry, name)
    })
}

#[test]
fn a_service_may_not_take_the_name_of_an_srv_services_instance() {
    let registry = TestRegistry::default();
    let zone = namespace(&registry, "col.test", DnsPublic);
    service_in(&registry, &zone, "col", &[A, Srv]).expect("valid");
    // `x.col.col.test` is where instance `x` of `col` is named.
    assert_code(
        service_in(&registry, &zone, "x.col", &[A]),
        "InvalidInput",
        "below an SRV service",
    );
    assert_code(
        service_in(&registry, &zone, "a.b.COL", &[A]),
        "InvalidInput",
        "deeper below an SRV service, another case",
    );
    // A service without SRV records names nothing below it.
    service_in(&registry, &zone, "plain", &[A]).expect("valid");
    service_in(&registry, &zone, "x.plain", &[A]).expect("nothing of plain's is named there");
}

#[test]
fn an_srv_service_may_not_be_created_above_other_services() {
    let registry = TestRegistry::default();
    let zone = namespace(&registry, "col.test", DnsPublic);
    let below = service_in(&registry, &zone, "x.col", &[A]).expect("valid");
    assert_code(
        service_in(&registry, &zone, "col", &[A, Srv]),
        "InvalidInput",
        "SRV above a service",
    );
    service_in(&registry, &zone, "col", &[A]).expect("without SRV it names nothing below");
    // Once the service below is gone, the name is free for an SRV service.
    registry.delete_service(&below.id).expect("no instances");
    service_in(&registry, &zone, "other", &[A]).expect("valid");
    let in_place = service_in(&registry, &zone, "x.other", &[A]).expect("valid");
    registry.delete_service(&in_place.id).expect("no instances");
    service_in(&registry, &zone, "other2", &[A, Srv]).expect("valid");
}

#[test]
fn a_namespace_may_not_take_a_services_name_or_the_names_below_it() {
    let registry = TestRegistry::default();
    let zone = namespace(&registry, "pub.test", DnsPublic);
    let web = service_in(&registry, &zone, "web", &[A]).expect("valid");
    service_in(&registry, &zone, "a.sub", &[A]).expect("valid");
    for (name, case) in [
        ("web.pub.test", "at a service's name"),
        ("WEB.Pub.Test", "at a service's name, another case"),
        ("x.web.pub.test", "below a service"),
        ("sub.pub.test", "over a service below its apex"),
    ] {
        assert_code(
            registry.create_namespace(new_namespace(name, DnsPrivate)),
            "InvalidInput",
            case,
        );
    }
    // HTTP namespaces have no DNS names to collide.
    namespace(&registry, "x.web.pub.test", Http);
    // Freed when the service goes.
    registry.delete_service(&web.id).expect("no instances");
    namespace(&registry, "web.pub.test.", DnsPrivate);
}

#[test]
fn a_nested_namespace_owns_its_names() {
    let registry = TestRegistry::default();
    let outer = namespace(&registry, "pub.test", DnsPublic);
    let inner = namespace(&registry, "priv.pub.test", DnsPrivate);
    assert_code(
        service_in(&registry, &outer, "web.priv", &[A]),
        "InvalidInput",
        "inside the nested namespace",
    );
    assert_code(
        service_in(&registry, &outer, "priv", &[A]),
        "InvalidInput",
        "at the nested namespace's apex",
    );
    let deep = namespace(&registry, "deep.x.pub.test", DnsPublic);
    assert_code(
        service_in(&registry, &outer, "x", &[A]),
        "InvalidInput",
        "above a nested namespace",
    );
    // The inner namespace's own services, and the outer's elsewhere, are fine.
    service_in(&registry, &inner, "web", &[A, Srv]).expect("valid");
    service_in(&registry, &outer, "web", &[A, Srv]).expect("valid");
    service_in(&registry, &deep, "api", &[A]).expect("valid");
    // A namespace above existing ones leaves them their names.
    namespace(&registry, "test", DnsPublic);
}
