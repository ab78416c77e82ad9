//! A zones file's namespace: created, or the one that exists brought in
//! line with the file.

use crate::config::zones::ZoneSource;
use crate::registry::{Namespace, NamespaceType, NamespaceUpdate, RegistryError};
use crate::writer::Writer;

use super::ZonesError;

/// Creates the file's namespace, or brings the one that exists in line.
pub(super) async fn apply(file: &ZoneSource, writer: &Writer) -> Result<Namespace, ZonesError> {
    let declared = &file.namespace;
    if declared.kind == NamespaceType::DnsPrivate && declared.allowed_networks.is_empty() {
        tracing::info!(
            file = %file.path.display(),
            namespace = %declared.name,
            "namespace.allowed_networks is not given, so the namespace answers loopback clients only (127.0.0.0/8, ::1/128); list the client networks to answer others"
        );
    }
    let refused = |error: RegistryError| {
        ZonesError::refused(
            &file.path,
            format!("namespace \"{}\": {error}", declared.name),
        )
    };
    let Some(existing) = writer.registry().namespace_by_name(&declared.name) else {
        let (namespace, _) = writer
            .create_namespace(declared.clone())
            .await
            .map_err(refused)?;
        return Ok(namespace);
    };
    if existing.kind != declared.kind {
        return Err(ZonesError::refused(
            &file.path,
            format!(
                "namespace \"{name}\" exists as {old} but is declared {new}; a namespace's type cannot change. Either declare it {old} again, or start cairn with the previous file, empty and delete the namespace through the admin socket (`cairn instance deregister` each instance, `cairn service delete SERVICE.{name}` each service, `cairn namespace delete {name}`) and start again with this file",
                name = declared.name,
                old = existing.kind.as_str(),
                new = declared.kind.as_str()
            ),
        ));
    }
    // Compared as the registry would store them, so that a file that writes
    // a network differently (host bits, or none for loopback) is not an
    // update at every start.
    let networks = writer
        .registry()
        .network_policy()
        .allowed_networks(declared.kind, declared.allowed_networks.clone())
        .map_err(refused)?;
    let transfer = declared
        .transfer
        .clone()
        .map(|settings| {
            writer
                .registry()
                .transfer_as_stored(declared.kind, settings)
        })
        .transpose()
        .map_err(refused)?;
    let update = NamespaceUpdate {
        updater_request_id: None,
        description: declared
            .description
            .clone()
            .filter(|d| existing.description.as_ref() != Some(d)),
        soa: (existing.soa != declared.soa && declared.kind.has_dns())
            .then(|| declared.soa.clone()),
        soa_ttl: None,
        allowed_networks: (declared.kind == NamespaceType::DnsPrivate
            && existing.allowed_networks != networks)
            .then(|| declared.allowed_networks.clone()),
        transfer: (existing.transfer != transfer).then_some(transfer),
    };
    if update.description.is_some()
        || update.soa.is_some()
        || update.allowed_networks.is_some()
        || update.transfer.is_some()
    {
        writer
            .update_namespace(&existing.id, update)
            .await
            .map_err(refused)?;
    }
    Ok(existing)
}
