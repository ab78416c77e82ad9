//! `ReloadServer` (a cairn extension, what `cairn reload` calls): the same
//! reload as SIGHUP, answered with what changed and what needs a restart.
//! About the whole server, so a scoped key may not call it.

use super::super::api::{ReloadServerRequest, ReloadServerResponse, ReloadedZones};
use super::super::error::ApiError;
use crate::control::Control;

pub const RELOAD_SERVER: &str = "ReloadServer";

pub async fn reload(
    control: &Control,
    _: ReloadServerRequest,
) -> Result<ReloadServerResponse, ApiError> {
    // A refusal is the operator's file, not the request: InvalidInput with
    // the reason, and the running config kept.
    let report = control.reload().await.map_err(ApiError::invalid)?;
    Ok(ReloadServerResponse {
        applied: report.applied,
        restart_required: report.restart_required,
        zones: report.zones.map(|zones| ReloadedZones {
            files: zones.files,
            namespaces: zones.namespaces,
            services: zones.services,
            instances: zones.instances,
            replaced: zones.replaced,
        }),
        notes: report.notes,
    })
}
