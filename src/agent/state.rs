//! What the agent remembers between events: the instances it owns as it
//! last saw them, the services by name, and which containers it has
//! already said it cannot register (so each reason is logged once).

use std::collections::HashMap;

use super::catalog::{self, Lookup, Services};
use super::client::{Api, CallError};
use super::docker::{ContainerEvent, Engine};
use super::labels::{self, Container};
use super::reconcile::{self, Action, Plan, Registered, Wanted};
use crate::admin::api::CustomHealthStatus;

/// How a reconcile or an event went.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// cairn did not answer: reconcile again later.
    CairnDown(String),
    /// Docker did not answer: reconnect.
    DockerDown(String),
}

pub struct State {
    api: Api,
    host: String,
    services: Services,
    owned: Vec<Registered>,
    /// Container short id → the reason last logged for it.
    reported: HashMap<String, String>,
    /// Container short id → its name, for the log.
    names: HashMap<String, String>,
    cairn_down: bool,
}

/// Events that can change what a container wants; the rest (exec_* for
/// every health probe, attach, resize, …) are ignored.
fn matters(action: &str) -> bool {
    matches!(
        action,
        "start"
            | "restart"
            | "die"
            | "stop"
            | "kill"
            | "destroy"
            | "pause"
            | "unpause"
            | "rename"
            | "update"
            | "oom"
    ) || action.starts_with("health_status")
}

impl State {
    pub fn new(api: Api, host: String) -> Self {
        Self {
            api,
            host,
            services: Services::default(),
            owned: Vec::new(),
            reported: HashMap::new(),
            names: HashMap::new(),
            cairn_down: false,
        }
    }

    /// Every labelled container against every owned instance.
    pub async fn reconcile(&mut self, engine: &Engine) -> Outcome {
        let containers = match engine.labelled().await {
            Ok(containers) => containers,
            Err(error) => return Outcome::DockerDown(error.to_string()),
        };
        let loaded = async {
            let services = Services::load(&self.api).await?;
            let owned = catalog::owned(&self.api, &services, &self.host).await?;
            Ok::<_, CallError>((services, owned))
        };
        let (services, owned) = match loaded.await {
            Ok(loaded) => loaded,
            Err(error) => return self.down(error),
        };
        self.services = services;
        self.owned = owned;
        self.reported
            .retain(|id, _| containers.iter().any(|c| c.short_id() == id));
        self.names
            .retain(|id, _| containers.iter().any(|c| c.short_id() == id));
        let wanted = match self.wanted(&containers).await {
            Ok(wanted) => wanted,
            Err(error) => return self.down(error),
        };
        let plan = reconcile::plan(&wanted, &self.owned);
        let outcome = self.execute(plan).await;
        if outcome == Outcome::Done {
            tracing::info!(
                containers = containers.len(),
                registered = self.owned.len(),
                "reconciled"
            );
        }
        outcome
    }

    /// One container changed: bring its instances in line.
    pub async fn on_event(&mut self, engine: &Engine, event: &ContainerEvent) -> Outcome {
        if !matters(&event.action) {
            return Outcome::Done;
        }
        tracing::debug!(container = %event.id, action = %event.action, "event");
        let container = match engine.inspect(&event.id).await {
            Ok(container) => container,
            Err(error) => return Outcome::DockerDown(error.to_string()),
        };
        let short = event.id.get(..12).unwrap_or(&event.id).to_string();
        let containers: Vec<Container> = container.into_iter().collect();
        if containers.is_empty() {
            self.reported.remove(&short);
            self.names.remove(&short);
        }
        let wanted = match self.wanted(&containers).await {
            Ok(wanted) => wanted,
            Err(error) => return self.down(error),
        };
        let scoped: Vec<Registered> = self
            .owned
            .iter()
            .filter(|owned| {
                owned.container() == Some(short.as_str())
                    || wanted.iter().any(|w| {
                        w.service_id == owned.service_id
                            && w.instance_id.eq_ignore_ascii_case(&owned.instance_id)
                    })
            })
            .cloned()
            .collect();
        self.execute(reconcile::plan(&wanted, &scoped)).await
    }

    async fn wanted(&mut self, containers: &[Container]) -> Result<Vec<Wanted>, CallError> {
        let mut wanted = Vec::new();
        for container in containers.iter().filter(|c| c.running) {
            self.names
                .insert(container.short_id().to_string(), container.name.clone());
            let desired = match labels::parse(container) {
                Ok(Some(desired)) => desired,
                Ok(None) => continue,
                Err(error) => {
                    self.report(container.short_id(), &container.name, error.to_string());
                    continue;
                }
            };
            let service = self
                .services
                .resolve(
                    &self.api,
                    &desired.service,
                    desired.create.as_ref(),
                    &self.host,
                )
                .await;
            match service {
                Ok(service) => wanted.push(Wanted {
                    container: container.short_id().to_string(),
                    service_id: service.id,
                    instance_id: desired.instance_id.clone(),
                    attributes: desired.registration(&self.host, container),
                    health: container.health,
                    custom_health: service.custom_health,
                }),
                Err(Lookup::Unusable(reason)) => {
                    let reason = format!("{}: {reason}", desired.service);
                    self.report(container.short_id(), &container.name, reason);
                }
                Err(Lookup::Failed(error)) => return Err(error),
            }
        }
        Ok(wanted)
    }

    async fn execute(&mut self, plan: Plan) -> Outcome {
        for (container, _, instance_id) in plan.conflicts {
            let reason =
                format!("instance {instance_id} is wanted by another container of this host");
            self.report_id(&container, reason);
        }
        for action in plan.actions {
            if let Err(error) = self.apply(action).await {
                return self.down(error);
            }
        }
        if self.cairn_down {
            self.cairn_down = false;
            tracing::info!(endpoint = %self.api.describe(), "cairn answers again");
        }
        Outcome::Done
    }

    /// Carries out one action; `Err` only when cairn did not answer.
    async fn apply(&mut self, action: Action) -> Result<(), CallError> {
        match action {
            Action::Register {
                container,
                service_id,
                instance_id,
                attributes,
            } => {
                let known = self.position(&service_id, &instance_id);
                if known.is_none()
                    && let Some(owner) =
                        catalog::foreign(&self.api, &service_id, &instance_id, &self.host).await?
                {
                    let reason = format!(
                        "instance {instance_id} exists already ({owner}); the agent leaves it alone"
                    );
                    self.report_id(&container, reason);
                    return Ok(());
                }
                match catalog::register(&self.api, &service_id, &instance_id, &attributes).await {
                    Ok(()) => {
                        tracing::info!(%container, service = %service_id, instance = %instance_id, "registered");
                        self.reported.remove(&container);
                        let health = Some(match attributes.get("AWS_INIT_HEALTH_STATUS") {
                            Some(status) if status == "UNHEALTHY" => CustomHealthStatus::Unhealthy,
                            _ => CustomHealthStatus::Healthy,
                        });
                        let entry = Registered {
                            service_id,
                            instance_id,
                            attributes,
                            health,
                        };
                        match known {
                            Some(index) => self.owned[index] = entry,
                            None => self.owned.push(entry),
                        }
                    }
                    Err(CallError::Refused { code, message }) => {
                        self.report_id(&container, format!("{code}: {message}"));
                    }
                    Err(error) => return Err(error),
                }
            }
            Action::Deregister {
                service_id,
                instance_id,
            } => match catalog::deregister(&self.api, &service_id, &instance_id).await {
                Ok(()) => {
                    tracing::info!(service = %service_id, instance = %instance_id, "deregistered");
                    if let Some(index) = self.position(&service_id, &instance_id) {
                        self.owned.remove(index);
                    }
                }
                Err(CallError::Refused { code, message }) => {
                    tracing::warn!(service = %service_id, instance = %instance_id, "cannot deregister: {code}: {message}");
                }
                Err(error) => return Err(error),
            },
            Action::SetHealth {
                service_id,
                instance_id,
                status,
            } => match catalog::set_health(&self.api, &service_id, &instance_id, status).await {
                Ok(()) => {
                    tracing::info!(service = %service_id, instance = %instance_id, ?status, "health");
                    if let Some(index) = self.position(&service_id, &instance_id) {
                        self.owned[index].health = Some(status);
                    }
                }
                Err(CallError::Refused { code, message }) => {
                    tracing::warn!(service = %service_id, instance = %instance_id, "cannot set health: {code}: {message}");
                }
                Err(error) => return Err(error),
            },
        }
        Ok(())
    }

    fn position(&self, service_id: &str, instance_id: &str) -> Option<usize> {
        self.owned.iter().position(|owned| {
            owned.service_id == service_id && owned.instance_id.eq_ignore_ascii_case(instance_id)
        })
    }

    fn report_id(&mut self, short_id: &str, reason: String) {
        let name = self
            .names
            .get(short_id)
            .cloned()
            .unwrap_or_else(|| short_id.to_string());
        self.report(short_id, &name, reason);
    }

    /// Logs why a container is left unregistered, once per reason.
    fn report(&mut self, short_id: &str, name: &str, reason: String) {
        if self.reported.get(short_id) != Some(&reason) {
            tracing::warn!(container = %name, id = %short_id, "not registered: {reason}");
            self.reported.insert(short_id.to_string(), reason);
        }
    }

    fn down(&mut self, error: CallError) -> Outcome {
        let reason = error.to_string();
        if !self.cairn_down {
            self.cairn_down = true;
            tracing::warn!("{reason}; will reconcile when it answers");
        }
        Outcome::CairnDown(reason)
    }
}
