//! Scoped keys, a cairn extension: a read-only key can discover but not
//! change anything; a key limited to a namespace cannot touch another.

use hickory_proto::rr::RecordType;
use serde_json::json;

use super::{ApiServer, Key, python};
use crate::admin::{ZONE, call};

const OTHER: &str = r#"
[namespace]
name = "other.test"
type = "DNS_PRIVATE"

[[services]]
name = "web"
records = [{ type = "A", ttl = 10 }]
"#;

#[test]
fn scoped_keys_are_denied_what_their_scope_leaves_out() {
    let Some(python) = python() else { return };
    let reader = Key {
        id: "AKIDREADER",
        secret: "reader-secret",
        extra: "read_only = true",
    };
    let writer = Key {
        id: "AKIDSVCTEST",
        secret: "writer-secret",
        extra: "namespaces = [\"svc.test\"]",
    };
    let api = ApiServer::start(
        &[("svc.test.toml", ZONE), ("other.test.toml", OTHER)],
        &[reader, writer],
        "",
    );
    let socket = &api.server;
    let id_of = |namespace: &str| {
        let namespaces = call(socket, "ListNamespaces", json!({}));
        let namespace_id = namespaces.body["Namespaces"]
            .as_array()
            .and_then(|all| all.iter().find(|n| n["Name"] == namespace))
            .and_then(|n| n["Id"].as_str())
            .expect("the namespace")
            .to_string();
        let services = call(
            socket,
            "ListServices",
            json!({"Filters": [{"Name": "NAMESPACE_ID", "Values": [namespace_id]}]}),
        );
        // Both namespaces have a `web`; svc.test has `api` too, and list
        // order among services created in the same millisecond is by id.
        let service_id = services.body["Services"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["Name"] == "web"))
            .and_then(|s| s["Id"].as_str())
            .expect("the web service")
            .to_string();
        (namespace_id, service_id)
    };
    let (_, web_id) = id_of("svc.test");
    let (other_namespace_id, other_id) = id_of("other.test");
    call(
        socket,
        "RegisterInstance",
        json!({"ServiceId": web_id, "InstanceId": "web-1", "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}}),
    );
    let state = json!({
        "reader_id": "AKIDREADER",
        "reader_secret": "reader-secret",
        "web_id": web_id,
        "other_id": other_id,
        "other_namespace_id": other_namespace_id,
    });
    let results = api.boto3(&python, "scoped", ("AKIDSVCTEST", "writer-secret"), &state);
    let denied = json!("AccessDeniedException");
    assert_eq!(results["reader_list"], json!(null), "{results:#}");
    assert_eq!(results["reader_discover"], json!(null), "{results:#}");
    assert_eq!(results["reader_register"], denied, "{results:#}");
    assert_eq!(results["reader_deregister"], denied, "{results:#}");
    assert_eq!(results["writer_register_own"], json!(null), "{results:#}");
    assert_eq!(results["writer_register_other"], denied, "{results:#}");
    assert_eq!(results["writer_discover_other"], denied, "{results:#}");
    assert_eq!(
        results["writer_delete_other_namespace"], denied,
        "{results:#}"
    );
    assert_eq!(results["writer_create_namespace"], denied, "{results:#}");
    assert_eq!(
        results["writer_list_namespaces"],
        json!(["svc.test"]),
        "{results:#}"
    );
    // Nothing the denied calls asked for happened.
    assert_eq!(
        api.server
            .udp("web.other.test.", RecordType::A)
            .answers
            .len(),
        0
    );
    let web = api.server.udp("web.svc.test.", RecordType::A);
    assert_eq!(web.answers.len(), 2, "{web:?}");
}
