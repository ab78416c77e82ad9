//! `cairn discover SERVICE.NAMESPACE`: DiscoverInstances from the command
//! line.

use clap::{Args, ValueEnum};

use super::output::{attribute, custom_attributes, emit, table};
use super::{CliResult, ClientOptions, key_value, resolve};
use crate::admin::api;

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// The service as `NAME.NAMESPACE`, e.g. `web.svc.internal`.
    pub service: String,
    /// Only instances with this attribute value (repeatable; all must match).
    #[arg(long = "filter", value_name = "KEY=VALUE", value_parser = key_value)]
    pub filters: Vec<(String, String)>,
    /// Prefer instances with this attribute value (repeatable): applied when
    /// some instances match, ignored when none do.
    #[arg(long = "optional", value_name = "KEY=VALUE", value_parser = key_value)]
    pub optional: Vec<(String, String)>,
    /// Which instances by health. Services without a health check return
    /// all instances whatever this says.
    #[arg(long, value_enum, default_value_t = Health::Healthy)]
    pub health: Health,
    /// At most this many instances, chosen at random (1-1000).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Health {
    Healthy,
    Unhealthy,
    All,
    /// Healthy instances, or all of them when none is healthy.
    HealthyOrElseAll,
}

pub async fn run(args: DiscoverArgs, options: &ClientOptions) -> CliResult {
    let client = options.client()?;
    let (namespace, service) = resolve::split(&client, &args.service).await?;
    let request = api::DiscoverInstancesRequest {
        namespace_name: namespace.name,
        service_name: service,
        max_results: Some(args.max),
        query_parameters: (!args.filters.is_empty()).then(|| args.filters.into_iter().collect()),
        optional_parameters: (!args.optional.is_empty())
            .then(|| args.optional.into_iter().collect()),
        health_status: Some(match args.health {
            Health::Healthy => api::HealthStatusFilter::Healthy,
            Health::Unhealthy => api::HealthStatusFilter::Unhealthy,
            Health::All => api::HealthStatusFilter::All,
            Health::HealthyOrElseAll => api::HealthStatusFilter::HealthyOrElseAll,
        }),
        owner_account: None,
    };
    let answer: api::DiscoverInstancesResponse = client.call("DiscoverInstances", &request).await?;
    emit(options.output, &answer, || {
        let mut instances: Vec<&api::HttpInstanceSummary> = answer.instances.iter().collect();
        instances.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        let rows: Vec<Vec<String>> = instances
            .iter()
            .map(|instance| {
                vec![
                    instance.instance_id.clone(),
                    attribute(&instance.attributes, "AWS_INSTANCE_IPV4"),
                    attribute(&instance.attributes, "AWS_INSTANCE_IPV6"),
                    attribute(&instance.attributes, "AWS_INSTANCE_PORT"),
                    instance.health_status.clone(),
                    custom_attributes(&instance.attributes),
                ]
            })
            .collect();
        format!(
            "{}\nrevision {}",
            table(
                &["ID", "IPV4", "IPV6", "PORT", "HEALTH", "ATTRIBUTES"],
                &rows
            ),
            answer.instances_revision
        )
    })
}
