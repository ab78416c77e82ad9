//! `cairn reload`: the server reads its config file and zones/ again
//! (ReloadServer, as SIGHUP does), and says what changed and what needs a
//! restart.

use super::output::{emit, table};
use super::{CliResult, ClientOptions};
use crate::admin::api;

pub async fn run(options: &ClientOptions) -> CliResult {
    let client = options.client()?;
    let answer: api::ReloadServerResponse = client
        .call("ReloadServer", &api::ReloadServerRequest::default())
        .await?;
    emit(options.output, &answer, || render(&answer))
}

fn render(report: &api::ReloadServerResponse) -> String {
    let list = |keys: &[String]| {
        if keys.is_empty() {
            "-".to_string()
        } else {
            keys.join(", ")
        }
    };
    let mut rows = vec![
        vec!["applied".to_string(), list(&report.applied)],
        vec![
            "restart required".to_string(),
            list(&report.restart_required),
        ],
    ];
    if let Some(zones) = &report.zones {
        rows.push(vec![
            "zones".to_string(),
            format!(
                "{} files, {} namespaces, {} services, {} instances, {} replaced",
                zones.files, zones.namespaces, zones.services, zones.instances, zones.replaced
            ),
        ]);
    }
    for note in &report.notes {
        rows.push(vec!["note".to_string(), note.clone()]);
    }
    table(&["FIELD", "VALUE"], &rows)
}
