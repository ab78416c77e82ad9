//! etcd away or forgetful: nodes keep answering, refuse writes, recover
//! and re-read.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::{Value, json};

use super::{
    Etcd, instances, nodes, own_address, registration, serial, store_status as status, try_call,
};
use crate::admin::{ok, service_id};
use crate::cli::cairn;
use crate::support::{eventually, rcode, send_signal};

#[test]
fn with_etcd_down_dns_answers_writes_are_refused_status_says_stale_and_it_recovers() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let nodes = nodes(&etcd, 2);
    let web = service_id(&nodes[0], "web");
    ok(
        &nodes[0],
        "RegisterInstance",
        registration(&web, "before", "10.8.0.1"),
    );
    eventually("B to have it", || {
        (own_address(&nodes[1], "before").is_some()).then_some(())
    });

    let current = eventually("B's status to show it caught up", || {
        let store = status(&nodes[1]);
        (store["Cluster"]["WatchLag"] == 0).then_some(store)
    });
    assert_eq!(current["Backend"], "etcd", "{current:#}");
    assert_eq!(current["Cluster"]["Reachable"], true, "{current:#}");
    assert!(
        current["Cluster"].get("StaleReason").is_none(),
        "{current:#}"
    );
    assert_eq!(current["Revision"], current["Cluster"]["AppliedRevision"]);
    let applied = current["Cluster"]["AppliedRevision"].clone();

    etcd.kill();
    // Each node says it is stale, why and since when, in JSON and in the
    // table; its applied revision stays where it was.
    for node in &nodes {
        let stale = eventually("the node's status to say it is stale", || {
            let store = status(node);
            (store["Cluster"]["Reachable"] == false).then_some(store)
        });
        let reason = stale["Cluster"]["StaleReason"].as_str().unwrap_or("");
        assert!(reason.contains("etcd"), "{stale:#}");
        assert!(
            stale["Cluster"]["StaleSince"].as_f64().is_some(),
            "{stale:#}"
        );
        let table = String::from_utf8_lossy(&cairn(node, &["status"]).stdout).into_owned();
        assert!(table.contains("stale since"), "{table}");
    }
    assert_eq!(status(&nodes[1])["Cluster"]["AppliedRevision"], applied);
    // DNS keeps answering from the last state, on both nodes.
    for node in &nodes {
        assert_eq!(own_address(node, "before").as_deref(), Some("10.8.0.1"));
        assert_eq!(
            rcode(&node.udp("svc.test.", RecordType::SOA)),
            ResponseCode::NoError
        );
    }
    let refused = eventually("a write to be refused with a server error", || {
        let (status, body) = try_call(
            &nodes[0].admin_socket,
            "RegisterInstance",
            &registration(&web, "during", "10.8.0.2"),
        )?;
        (status >= 500).then_some(body)
    });
    let message = refused["Message"].as_str().unwrap_or("");
    assert!(
        message.contains("etcd") || message.contains("cluster store"),
        "{refused}"
    );
    assert_eq!(own_address(&nodes[1], "during"), None);

    etcd.run();
    eventually("writes to be accepted again without a restart", || {
        let (status, _) = try_call(
            &nodes[0].admin_socket,
            "RegisterInstance",
            &registration(&web, "after", "10.8.0.3"),
        )?;
        (status == 200).then_some(())
    });
    eventually("B to follow again", || {
        (own_address(&nodes[1], "after").as_deref() == Some("10.8.0.3")).then_some(())
    });
    assert_eq!(serial(&nodes[0]), serial(&nodes[1]));
    for node in &nodes {
        eventually("the node's status to say it is current again", || {
            let store = status(node);
            (store["Cluster"]["Reachable"] == true
                && store["Cluster"].get("StaleReason").is_none()
                && store["Cluster"].get("StaleSince").is_none())
            .then_some(())
        });
    }
}

#[test]
fn a_node_that_missed_compacted_history_reads_everything_again_and_converges() {
    let Some(mut etcd) = Etcd::start() else {
        return;
    };
    let nodes = nodes(&etcd, 2);
    let web = service_id(&nodes[0], "web");
    for id in ["stays", "goes"] {
        ok(
            &nodes[0],
            "RegisterInstance",
            registration(&web, id, "10.6.0.1"),
        );
    }
    eventually("B to have both", || {
        (instances(&nodes[1], &web).len() == 2).then_some(())
    });
    // B stops (SIGSTOP) and etcd restarts, which ends B's watch; A then
    // changes things and etcd forgets the history B would need, so B must
    // watch again from a revision that is gone.
    let pid = nodes[1].pid();
    if send_signal(pid, "STOP").is_none() {
        return;
    }
    etcd.kill();
    etcd.run();
    let write = |action: &str, body: Value| {
        eventually("A to accept writes again", || {
            let (status, _) = try_call(&nodes[0].admin_socket, action, &body)?;
            (status == 200).then_some(())
        })
    };
    write(
        "DeregisterInstance",
        json!({"ServiceId": web, "InstanceId": "goes"}),
    );
    write("RegisterInstance", registration(&web, "stays", "10.6.0.2"));
    write("RegisterInstance", registration(&web, "new", "10.6.0.3"));
    etcd.compact();
    send_signal(pid, "CONT").expect("kill, found for STOP");
    eventually("B to converge after re-reading", || {
        (instances(&nodes[1], &web) == instances(&nodes[0], &web)
            && serial(&nodes[1]) == serial(&nodes[0])
            && own_address(&nodes[1], "goes").is_none()
            && own_address(&nodes[1], "stays").as_deref() == Some("10.6.0.2"))
        .then_some(())
    });
    assert!(
        nodes[1].log().contains("re-read the cluster store"),
        "{}",
        nodes[1].log()
    );
    // And B still follows afterwards.
    ok(
        &nodes[0],
        "RegisterInstance",
        registration(&web, "later", "10.6.0.4"),
    );
    eventually("B to follow after the re-read", || {
        (own_address(&nodes[1], "later").is_some()).then_some(())
    });
}
