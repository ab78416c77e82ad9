//! Docker's HEALTHCHECK drives custom health: a container is registered
//! once healthy, leaves DNS (and is UNHEALTHY in DiscoverInstances) while
//! its check fails, and comes back when it passes again.

use std::net::Ipv4Addr;

use serde_json::json;

use super::{Agent, Containers, DockerHost, instance_ids, web_id};
use crate::admin::{a_records, ok};
use crate::support::{TestServer, eventually};

const NS: &str = "health.agent.test";

/// The instance's health as DiscoverInstances reports it.
fn discovered_health(server: &TestServer, id: &str) -> Option<String> {
    let found = ok(
        server,
        "DiscoverInstances",
        json!({"NamespaceName": NS, "ServiceName": "web", "HealthStatus": "ALL"}),
    );
    found["Instances"].as_array()?.iter().find_map(|instance| {
        (instance["InstanceId"] == id)
            .then(|| instance["HealthStatus"].as_str().map(str::to_string))?
    })
}

#[test]
fn a_failing_healthcheck_takes_the_container_out_of_dns_and_a_passing_one_brings_it_back() {
    let Some(docker) = DockerHost::get() else {
        return;
    };
    // A static instance beside it, so an unhealthy container is left out
    // rather than answered for want of anything healthy.
    let server = super::server(
        NS,
        "[[services.instances]]\nid = \"static-1\"\nipv4 = \"10.9.9.9\"\nport = 80\n",
    );
    let _agent = Agent::start(&server, docker, "host-health", &[]);
    let mut containers = Containers::new(docker, "health");
    let label = format!("cairn.service=web.{NS}");
    let name = containers.run(
        "web",
        &[
            "--label",
            &label,
            "--label",
            "cairn.port=80",
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        &["sh", "-c", "touch /tmp/ok; exec sleep 600"],
    );
    let web = web_id(&server, NS);
    let name_in_dns = format!("web.{NS}.");
    let ip = containers.ip(&name);
    let mut both = vec![ip, Ipv4Addr::new(10, 9, 9, 9)];
    both.sort();
    eventually("the healthy container in DNS", || {
        (a_records(&server, &name_in_dns) == both).then_some(())
    });
    assert_eq!(
        discovered_health(&server, &name).as_deref(),
        Some("HEALTHY")
    );

    docker.run(&["exec", &name, "rm", "/tmp/ok"]);
    eventually("the unhealthy container out of DNS", || {
        (a_records(&server, &name_in_dns) == [Ipv4Addr::new(10, 9, 9, 9)]).then_some(())
    });
    assert_eq!(
        discovered_health(&server, &name).as_deref(),
        Some("UNHEALTHY")
    );
    assert!(
        instance_ids(&server, &web).contains(&name),
        "unhealthy, it stays registered"
    );

    docker.run(&["exec", &name, "touch", "/tmp/ok"]);
    eventually("the recovered container back in DNS", || {
        (a_records(&server, &name_in_dns) == both).then_some(())
    });
    assert_eq!(
        discovered_health(&server, &name).as_deref(),
        Some("HEALTHY")
    );
}

#[test]
fn a_container_whose_check_never_passes_is_not_registered() {
    let Some(docker) = DockerHost::get() else {
        return;
    };
    let ns = "starting.agent.test";
    let server = super::server(ns, "");
    let agent = Agent::start(&server, docker, "host-starting", &[]);
    let mut containers = Containers::new(docker, "starting");
    let label = format!("cairn.service=web.{ns}");
    let failing = containers.run(
        "failing",
        &[
            "--label",
            &label,
            "--expose",
            "80",
            "--health-cmd",
            "false",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        &["sleep", "600"],
    );
    let healthy = containers.run(
        "healthy",
        &[
            "--label",
            &label,
            "--expose",
            "80",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
        ],
        &["sleep", "600"],
    );
    let web = web_id(&server, ns);
    eventually("the healthy one registered", || {
        instance_ids(&server, &web).contains(&healthy).then_some(())
    });
    let unhealthy = docker.run(&["inspect", "--format", "{{.State.Health.Status}}", &failing]);
    eventually("Docker to call the failing one unhealthy", || {
        (docker.run(&["inspect", "--format", "{{.State.Health.Status}}", &failing]) == "unhealthy")
            .then_some(())
    });
    assert_eq!(
        instance_ids(&server, &web),
        [healthy],
        "the failing one ({unhealthy} at first) never registered:\n{}",
        agent.log()
    );
}
