//! The Docker Engine API through bollard: the labelled containers, one
//! container's state, and the stream of container events. Docker's types
//! end here; the rest of the agent sees [`Container`].

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerInspectResponse, EventMessage, HealthStatusEnum};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use futures_util::Stream;

use super::labels::{self, Container, DockerHealth, NetworkAddress};

/// What happened to which container, from Docker's event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub id: String,
    /// `start`, `die`, `destroy`, `health_status: healthy`, …
    pub action: String,
}

/// A connection to one Docker daemon.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
}

impl Engine {
    /// Connects to the socket and agrees on an API version (Debian's
    /// Docker 20.10 speaks 1.41, older than bollard's default).
    pub async fn connect(socket: &str) -> Result<Self, DockerError> {
        let docker = Docker::connect_with_unix(socket, 30, bollard::API_DEFAULT_VERSION)?
            .negotiate_version()
            .await?;
        Ok(Self { docker })
    }

    /// The running containers that carry `cairn.service`.
    pub async fn labelled(&self) -> Result<Vec<Container>, DockerError> {
        let options = ListContainersOptions {
            all: false,
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![labels::SERVICE.to_string()],
            )])),
            ..ListContainersOptions::default()
        };
        let listed = self.docker.list_containers(Some(options)).await?;
        let mut containers = Vec::with_capacity(listed.len());
        for summary in listed {
            let Some(id) = summary.id else { continue };
            // Gone between the list and now: nothing to register.
            if let Some(container) = self.inspect(&id).await? {
                containers.push(container);
            }
        }
        Ok(containers)
    }

    /// One container as it is now; `None` when Docker no longer knows it.
    pub async fn inspect(&self, id: &str) -> Result<Option<Container>, DockerError> {
        match self.docker.inspect_container(id, None).await {
            Ok(found) => Ok(Some(container(found))),
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Container events from `since` (seconds since the epoch) on, so
    /// what happened while the agent listed is replayed rather than lost.
    pub fn events(
        &self,
        since: i64,
    ) -> impl Stream<Item = Result<ContainerEvent, DockerError>> + use<> {
        use futures_util::StreamExt;
        let options = EventsOptions {
            since: Some(since.to_string()),
            until: None,
            filters: Some(HashMap::from([(
                "type".to_string(),
                vec!["container".to_string()],
            )])),
        };
        self.docker
            .events(Some(options))
            .filter_map(|event| async move {
                match event {
                    Ok(message) => event_of(message).map(Ok),
                    Err(error) => Some(Err(error)),
                }
            })
    }
}

fn event_of(message: EventMessage) -> Option<ContainerEvent> {
    let id = message.actor?.id?;
    Some(ContainerEvent {
        id,
        action: message.action?,
    })
}

fn container(found: ContainerInspectResponse) -> Container {
    let state = found.state.unwrap_or_default();
    let health = state
        .health
        .and_then(|health| health.status)
        .and_then(|status| match status {
            HealthStatusEnum::STARTING => Some(DockerHealth::Starting),
            HealthStatusEnum::HEALTHY => Some(DockerHealth::Healthy),
            HealthStatusEnum::UNHEALTHY => Some(DockerHealth::Unhealthy),
            HealthStatusEnum::NONE | HealthStatusEnum::EMPTY => None,
        });
    let config = found.config.unwrap_or_default();
    let networks = found
        .network_settings
        .and_then(|settings| settings.networks)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, endpoint)| {
            let address = NetworkAddress {
                ipv4: endpoint
                    .ip_address
                    .as_deref()
                    .and_then(|ip| ip.parse::<Ipv4Addr>().ok()),
                ipv6: endpoint
                    .global_ipv6_address
                    .as_deref()
                    .and_then(|ip| ip.parse::<Ipv6Addr>().ok()),
            };
            (name, address)
        })
        .collect();
    let name = found.name.unwrap_or_default();
    Container {
        id: found.id.unwrap_or_default(),
        name: name.trim_start_matches('/').to_string(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        running: state.running == Some(true)
            && state.paused != Some(true)
            && state.restarting != Some(true),
        health,
        networks,
        exposed_ports: config.exposed_ports.unwrap_or_default(),
    }
}
