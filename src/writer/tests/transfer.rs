//! A zone's own transfer settings through the write front: checked against
//! the keys the server holds, stored canonical, replaced or given back to
//! `[transfer]` by an update, and kept across a restart.

use super::*;

use NamespaceType::{DnsPrivate, Http};

fn settings(allow: &[&str], notify: &[&str], key: Option<&str>) -> TransferSettings {
    TransferSettings {
        allow: allow
            .iter()
            .map(|text| crate::config::transfer::network(text).expect("a network"))
            .collect(),
        notify: notify
            .iter()
            .map(|text| text.parse().expect("an address"))
            .collect(),
        key: key.map(str::to_string),
    }
}

fn with_transfer(name: &str, kind: NamespaceType, transfer: TransferSettings) -> NewNamespace {
    NewNamespace {
        transfer: Some(transfer),
        ..new_namespace(name, kind)
    }
}

#[test]
fn a_key_the_server_does_not_hold_is_refused_and_nothing_changes() {
    let registry = TestRegistry::default();
    registry.set_transfer_keys(vec!["xfrkey".into()]);
    let refused = registry.create_namespace(with_transfer(
        "a.internal",
        DnsPrivate,
        settings(&["127.0.0.1"], &[], Some("otherkey")),
    ));
    match refused {
        Err(error) => {
            assert_eq!(error.code(), "InvalidInput");
            assert!(error.to_string().contains("'otherkey'"), "{error}");
        }
        Ok(created) => panic!("created with an unknown key: {created:?}"),
    }
    assert!(registry.namespace_by_name("a.internal").is_none());
    assert!(registry.stored_snapshot().namespaces.is_empty());

    let (created, _) = registry
        .create_namespace(with_transfer(
            "a.internal",
            DnsPrivate,
            settings(&["127.0.0.1"], &[], Some("XFRKEY.")),
        ))
        .expect("a held key");
    let update = NamespaceUpdate {
        transfer: Some(Some(settings(&[], &[], Some("gone")))),
        ..NamespaceUpdate::default()
    };
    assert_code(
        registry.update_namespace(&created.id, update),
        "InvalidInput",
        "an update naming an unknown key",
    );
    assert_eq!(
        registry.get_namespace(&created.id).expect("kept").transfer,
        Some(settings(&["127.0.0.1/32"], &[], Some("xfrkey"))),
        "the refused update changed nothing"
    );
    assert_code(
        registry.create_namespace(with_transfer("h", Http, TransferSettings::default())),
        "InvalidInput",
        "an HTTP namespace has no zone to transfer",
    );
}

#[test]
fn settings_are_replaced_given_back_to_the_server_and_kept_over_a_restart() {
    let registry = TestRegistry::default();
    let (created, _) = registry
        .create_namespace(with_transfer(
            "a.internal",
            DnsPrivate,
            settings(&["10.1.2.3/8"], &["127.0.0.1:5300"], None),
        ))
        .expect("valid");
    assert_eq!(
        created.transfer,
        Some(settings(&["10.0.0.0/8"], &["127.0.0.1:5300"], None))
    );
    let replace = NamespaceUpdate {
        transfer: Some(Some(settings(&["127.0.0.2"], &[], None))),
        ..NamespaceUpdate::default()
    };
    registry
        .update_namespace(&created.id, replace)
        .expect("valid");
    let (restarted, _) = registry.restarted(Vec::new());
    assert_eq!(
        restarted
            .get_namespace(&created.id)
            .expect("restored")
            .transfer,
        Some(settings(&["127.0.0.2/32"], &[], None))
    );
    let back = NamespaceUpdate {
        transfer: Some(None),
        ..NamespaceUpdate::default()
    };
    restarted
        .update_namespace(&created.id, back)
        .expect("valid");
    assert_eq!(
        restarted.get_namespace(&created.id).expect("kept").transfer,
        None
    );
    let untouched = NamespaceUpdate {
        description: Some("says nothing of transfers".into()),
        ..NamespaceUpdate::default()
    };
    let with_own = NamespaceUpdate {
        transfer: Some(Some(settings(&["127.0.0.3"], &[], None))),
        ..NamespaceUpdate::default()
    };
    restarted
        .update_namespace(&created.id, with_own)
        .expect("valid");
    restarted
        .update_namespace(&created.id, untouched)
        .expect("valid");
    assert_eq!(
        restarted.get_namespace(&created.id).expect("kept").transfer,
        Some(settings(&["127.0.0.3/32"], &[], None)),
        "an update that leaves transfers out keeps them"
    );
}

/// What a cluster node does with another node's namespace change: the
/// settings arrive with the row, on creation and on update.
#[test]
fn another_nodes_namespace_change_carries_its_settings() {
    let registry = TestRegistry::default();
    let (created, _) = registry
        .create_namespace(new_namespace("a.internal", DnsPrivate))
        .expect("valid");
    let changed = Namespace {
        transfer: Some(settings(&["127.0.0.2"], &["127.0.0.1:5300"], None)),
        ..created.clone()
    };
    registry.apply_stored(
        Change::Namespace(changed.clone()),
        40,
        std::time::Instant::now(),
    );
    assert_eq!(
        registry.get_namespace(&created.id).expect("held").transfer,
        changed.transfer
    );
    let other = Namespace {
        id: "ns-other".into(),
        name: "b.internal".into(),
        ..changed
    };
    registry.apply_stored(
        Change::Namespace(other.clone()),
        41,
        std::time::Instant::now(),
    );
    assert_eq!(
        registry
            .get_namespace("ns-other")
            .expect("created")
            .transfer,
        other.transfer
    );
}
