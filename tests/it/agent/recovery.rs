//! What happens while the agent or cairn is away: on return the registry
//! matches the running containers exactly, and nobody else's instances
//! are touched. A bad label is logged once and blocks no other container.

use serde_json::json;

use super::{Agent, Containers, DockerHost, instance_ids, web_id};
use crate::admin::ok;
use crate::support::eventually;

#[test]
fn a_restarted_agent_catches_up_and_leaves_others_instances_alone() {
    let Some(docker) = DockerHost::get() else {
        return;
    };
    let ns = "restart.agent.test";
    let server = super::server(ns, "");
    let web = web_id(&server, ns);
    // Someone else's: one with no owner, one of another host's agent.
    for (id, attributes) in [
        (
            "manual-1",
            json!({"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}),
        ),
        (
            "elsewhere-1",
            json!({"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "80", "cairn.agent": "host-other"}),
        ),
    ] {
        ok(
            &server,
            "RegisterInstance",
            json!({"ServiceId": web, "InstanceId": id, "Attributes": attributes}),
        );
    }
    let label = format!("cairn.service=web.{ns}");
    let labels = ["--label", label.as_str(), "--expose", "80"];
    let mut containers = Containers::new(docker, "restart");
    let agent = Agent::start(&server, docker, "host-restart", &[]);
    let first = containers.run("first", &labels, &["sleep", "600"]);
    eventually("the first container registered", || {
        instance_ids(&server, &web).contains(&first).then_some(())
    });
    agent.kill();

    let second = containers.run("second", &labels, &["sleep", "600"]);
    let third = containers.run("third", &labels, &["sleep", "600"]);
    docker.run(&["stop", "-t", "0", &first]);
    // A container of the same name as someone else's instance is left
    // unregistered rather than taking it over.
    let clash = containers.run(
        "clash",
        &[
            "--label",
            &label,
            "--label",
            "cairn.instance=manual-1",
            "--expose",
            "80",
        ],
        &["sleep", "600"],
    );

    let agent = Agent::start(&server, docker, "host-restart", &[]);
    let mut expected = vec![
        "elsewhere-1".to_string(),
        "manual-1".to_string(),
        second,
        third,
    ];
    expected.sort();
    eventually("the registry to match the running containers", || {
        (instance_ids(&server, &web) == expected).then_some(())
    });
    let all = super::instances(&server, &web);
    assert_eq!(
        all["manual-1"],
        json!({"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"})
    );
    assert_eq!(
        all["elsewhere-1"],
        json!({"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "80", "cairn.agent": "host-other"})
    );
    eventually("the clash logged", || {
        agent
            .log()
            .contains(&format!("container={clash}"))
            .then_some(())
    });
}

#[test]
fn cairn_down_while_containers_change_then_back_converges() {
    let Some(docker) = DockerHost::get() else {
        return;
    };
    let ns = "outage.agent.test";
    let mut server = super::server(ns, "");
    let web = web_id(&server, ns);
    let label = format!("cairn.service=web.{ns}");
    let labels = ["--label", label.as_str(), "--expose", "80"];
    let mut containers = Containers::new(docker, "outage");
    // Not labelled, but its health probe puts events on the stream every
    // second: the agent's retries must not wait for a quiet moment.
    containers.run(
        "noisy",
        &["--health-cmd", "true", "--health-interval", "1s"],
        &["sleep", "600"],
    );
    let agent = Agent::start(&server, docker, "host-outage", &[]);
    let before = containers.run("before", &labels, &["sleep", "600"]);
    eventually("the first container registered", || {
        instance_ids(&server, &web).contains(&before).then_some(())
    });

    server.kill();
    let down_since = std::time::Instant::now();
    let during = containers.run("during", &labels, &["sleep", "600"]);
    docker.run(&["stop", "-t", "0", &before]);
    eventually("the agent to notice cairn is gone", || {
        agent.log().contains("unreachable").then_some(())
    });
    // Long enough for the backoff (0.2 s doubling) to grow past the
    // events' 1 s interval, where a retry timer made anew on every event
    // would never fire.
    eventually("a few retries", || {
        (agent.log().matches("will reconcile").count() >= 1
            && std::time::Instant::now() >= down_since + std::time::Duration::from_secs(4))
        .then_some(())
    });
    server.restart();
    eventually("the registry to match the containers again", || {
        (instance_ids(&server, &web) == [during.clone()]).then_some(())
    });
    assert!(
        agent.log().contains("cairn answers again"),
        "{}",
        agent.log()
    );
}

#[test]
fn a_bad_label_is_logged_once_and_the_other_containers_carry_on() {
    let Some(docker) = DockerHost::get() else {
        return;
    };
    let ns = "labels.agent.test";
    let server = super::server(ns, "");
    let web = web_id(&server, ns);
    let mut containers = Containers::new(docker, "labels");
    let good_label = format!("cairn.service=web.{ns}");
    let bad_port = containers.run(
        "badport",
        &["--label", &good_label, "--label", "cairn.port=http"],
        &["sleep", "600"],
    );
    let unknown = format!("cairn.service=nope.{ns}");
    let no_service = containers.run(
        "nosvc",
        &["--label", &unknown, "--expose", "80"],
        &["sleep", "600"],
    );
    // Breaks the template: SRV needs a port, and this one has none.
    let no_port = containers.run("noport", &["--label", &good_label], &["sleep", "600"]);
    let agent = Agent::start(&server, docker, "host-labels", &["--resync-secs", "1"]);
    let good = containers.run(
        "good",
        &["--label", &good_label, "--expose", "80"],
        &["sleep", "600"],
    );
    eventually("the good container registered", || {
        instance_ids(&server, &web).contains(&good).then_some(())
    });
    // Several more reconciles, each seeing the same bad labels again.
    eventually("three more reconciles", || {
        (agent.log().matches("reconciled").count() >= 4).then_some(())
    });
    let log = agent.log();
    for (name, reason) in [
        (&bad_port, "cairn.port='http' is not a port number"),
        (&no_service, "has no service 'nope'"),
        (&no_port, "InvalidInput"),
    ] {
        let lines: Vec<&str> = log
            .lines()
            .filter(|line| line.contains(&format!("container={name}")))
            .collect();
        assert_eq!(lines.len(), 1, "one line for {name}:\n{log}");
        assert!(lines[0].contains(reason), "{name}: {}", lines[0]);
    }
    assert_eq!(instance_ids(&server, &web), [good]);
}
