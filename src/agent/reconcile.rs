//! What to change so that cairn holds what the containers ask for: the
//! registrations wanted (from running containers) against those the agent
//! owns, in, a list of actions out. Pure: the same function serves the
//! full reconcile (every container, every owned instance) and one Docker
//! event (one container, the instances it owns).

use crate::admin::api::{Attributes, CustomHealthStatus};

use super::labels::{CONTAINER_ATTR, DockerHealth};

/// A registration a running container asks for, its service resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub container: String,
    pub service_id: String,
    pub instance_id: String,
    pub attributes: Attributes,
    /// `None`: no HEALTHCHECK, registered as soon as it runs.
    pub health: Option<DockerHealth>,
    /// Whether the service takes custom health updates; without, an
    /// unhealthy container is deregistered instead.
    pub custom_health: bool,
}

/// An instance the agent owns (its host in `cairn.agent`).
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    pub service_id: String,
    pub instance_id: String,
    pub attributes: Attributes,
    /// The custom health last known, `None` when not known.
    pub health: Option<CustomHealthStatus>,
}

impl Registered {
    /// The container it stands for (its short id).
    pub fn container(&self) -> Option<&str> {
        self.attributes.get(CONTAINER_ATTR).map(String::as_str)
    }
}

/// One call to make.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Register {
        container: String,
        service_id: String,
        instance_id: String,
        attributes: Attributes,
    },
    Deregister {
        service_id: String,
        instance_id: String,
    },
    SetHealth {
        service_id: String,
        instance_id: String,
        status: CustomHealthStatus,
    },
}

/// The actions, and the containers that want an instance another
/// container of this host wants already.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// (container, service id, instance id) left unregistered.
    pub conflicts: Vec<(String, String, String)>,
}

fn same(service_a: &str, id_a: &str, service_b: &str, id_b: &str) -> bool {
    service_a == service_b && id_a.eq_ignore_ascii_case(id_b)
}

/// Plans the changes that bring `registered` to `wanted`. Owned instances
/// no container wants are deregistered; a container with a HEALTHCHECK is
/// registered once healthy and then follows Docker's health.
pub fn plan(wanted: &[Wanted], registered: &[Registered]) -> Plan {
    let mut plan = Plan::default();
    let mut taken: Vec<&Wanted> = Vec::new();
    for want in wanted {
        if taken.iter().any(|t| {
            same(
                &t.service_id,
                &t.instance_id,
                &want.service_id,
                &want.instance_id,
            )
        }) {
            plan.conflicts.push((
                want.container.clone(),
                want.service_id.clone(),
                want.instance_id.clone(),
            ));
            continue;
        }
        taken.push(want);
        let current = registered.iter().find(|r| {
            same(
                &r.service_id,
                &r.instance_id,
                &want.service_id,
                &want.instance_id,
            )
        });
        plan.actions.extend(for_one(want, current));
    }
    for owned in registered {
        let still_wanted = taken.iter().any(|t| {
            same(
                &t.service_id,
                &t.instance_id,
                &owned.service_id,
                &owned.instance_id,
            )
        });
        if !still_wanted {
            plan.actions.push(Action::Deregister {
                service_id: owned.service_id.clone(),
                instance_id: owned.instance_id.clone(),
            });
        }
    }
    plan
}

fn for_one(want: &Wanted, current: Option<&Registered>) -> Vec<Action> {
    let register = || Action::Register {
        container: want.container.clone(),
        service_id: want.service_id.clone(),
        instance_id: want.instance_id.clone(),
        attributes: want.attributes.clone(),
    };
    let set = |status| Action::SetHealth {
        service_id: want.service_id.clone(),
        instance_id: want.instance_id.clone(),
        status,
    };
    let deregister = || Action::Deregister {
        service_id: want.service_id.clone(),
        instance_id: want.instance_id.clone(),
    };
    let stale = |current: &Registered| current.attributes != want.attributes;
    match (want.health, current) {
        // Not healthy yet, or unhealthy before it ever was: wait.
        (Some(DockerHealth::Starting | DockerHealth::Unhealthy), None) => vec![],
        (None, None) => vec![register()],
        (Some(DockerHealth::Healthy), None) => vec![register()],
        (None | Some(DockerHealth::Starting), Some(current)) => {
            if stale(current) {
                vec![register()]
            } else {
                vec![]
            }
        }
        (Some(DockerHealth::Healthy), Some(current)) => {
            let mut actions = Vec::new();
            if stale(current) {
                actions.push(register());
            }
            if want.custom_health
                && (stale(current) || current.health != Some(CustomHealthStatus::Healthy))
            {
                actions.push(set(CustomHealthStatus::Healthy));
            }
            actions
        }
        (Some(DockerHealth::Unhealthy), Some(current)) => {
            if !want.custom_health {
                return vec![deregister()];
            }
            let mut actions = Vec::new();
            if stale(current) {
                actions.push(register());
            }
            if stale(current) || current.health != Some(CustomHealthStatus::Unhealthy) {
                actions.push(set(CustomHealthStatus::Unhealthy));
            }
            actions
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(container: &str, id: &str, health: Option<DockerHealth>) -> Wanted {
        Wanted {
            container: container.to_string(),
            service_id: "srv-web".to_string(),
            instance_id: id.to_string(),
            attributes: [
                ("AWS_INSTANCE_IPV4".to_string(), "172.17.0.2".to_string()),
                (CONTAINER_ATTR.to_string(), container.to_string()),
            ]
            .into(),
            health,
            custom_health: true,
        }
    }

    fn registered(want: &Wanted, health: Option<CustomHealthStatus>) -> Registered {
        Registered {
            service_id: want.service_id.clone(),
            instance_id: want.instance_id.clone(),
            attributes: want.attributes.clone(),
            health,
        }
    }

    fn kinds(plan: &Plan) -> Vec<String> {
        plan.actions
            .iter()
            .map(|action| match action {
                Action::Register { instance_id, .. } => format!("register {instance_id}"),
                Action::Deregister { instance_id, .. } => format!("deregister {instance_id}"),
                Action::SetHealth {
                    instance_id,
                    status,
                    ..
                } => format!("health {instance_id} {status:?}"),
            })
            .collect()
    }

    #[test]
    fn missing_ones_are_registered_and_gone_ones_deregistered() {
        let a = wanted("c1", "a", None);
        let gone = registered(&wanted("c9", "gone", None), None);
        let plan = plan(&[a], &[gone]);
        assert_eq!(kinds(&plan), ["register a", "deregister gone"]);
    }

    #[test]
    fn what_matches_is_left_alone() {
        let a = wanted("c1", "a", None);
        let b = wanted("c2", "b", Some(DockerHealth::Healthy));
        let current = [
            registered(&a, None),
            registered(&b, Some(CustomHealthStatus::Healthy)),
        ];
        assert_eq!(plan(&[a, b], &current), Plan::default());
    }

    #[test]
    fn changed_attributes_are_registered_again() {
        let a = wanted("c1", "a", None);
        let mut old = registered(&a, None);
        old.attributes
            .insert("AWS_INSTANCE_IPV4".to_string(), "172.17.0.9".to_string());
        assert_eq!(kinds(&plan(&[a], &[old])), ["register a"]);
    }

    #[test]
    fn a_healthcheck_gates_registration_and_drives_health() {
        let starting = wanted("c1", "a", Some(DockerHealth::Starting));
        assert_eq!(plan(&[starting], &[]), Plan::default());
        let unhealthy = wanted("c1", "a", Some(DockerHealth::Unhealthy));
        assert_eq!(plan(std::slice::from_ref(&unhealthy), &[]), Plan::default());
        let current = registered(&unhealthy, Some(CustomHealthStatus::Healthy));
        assert_eq!(
            kinds(&plan(std::slice::from_ref(&unhealthy), &[current])),
            ["health a Unhealthy"]
        );
        let healthy = wanted("c1", "a", Some(DockerHealth::Healthy));
        let current = registered(&healthy, Some(CustomHealthStatus::Unhealthy));
        assert_eq!(kinds(&plan(&[healthy], &[current])), ["health a Healthy"]);
    }

    #[test]
    fn without_custom_health_an_unhealthy_container_is_deregistered() {
        let mut unhealthy = wanted("c1", "a", Some(DockerHealth::Unhealthy));
        unhealthy.custom_health = false;
        let current = registered(&unhealthy, None);
        assert_eq!(kinds(&plan(&[unhealthy], &[current])), ["deregister a"]);
    }

    #[test]
    fn two_containers_wanting_one_instance_conflict() {
        let first = wanted("c1", "a", None);
        let second = wanted("c2", "A", None);
        let plan = plan(&[first, second], &[]);
        assert_eq!(kinds(&plan), ["register a"]);
        assert_eq!(
            plan.conflicts,
            [("c2".to_string(), "srv-web".to_string(), "A".to_string())]
        );
    }
}
