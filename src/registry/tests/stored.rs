//! The serde form of the model is the store's row format: rows written by
//! earlier builds must still decode, and rows written now must read the
//! same, whatever the in-memory representation became.

use std::collections::BTreeMap;

use crate::registry::validate::{ATTR_IPV4, ATTR_PORT};
use crate::registry::{HealthStatus, Instance, Service};

const PORT: (&str, &str) = (ATTR_PORT, "8080");

fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// An instance row as the store wrote it before attributes were packed.
const INSTANCE_ROW: &str = r#"{"id":"Web-1","attributes":{"AWS_INSTANCE_IPV4":"10.1.2.3","AWS_INSTANCE_PORT":"8080","zone":"b"},"endpoint":{"ipv4":"10.1.2.3","ipv6":null,"port":8080,"cname":null,"weight":3},"health":"Unhealthy","creator_request_id":"create-1","created_at":1700000000002,"updated_at":1700000000003}"#;

/// A service row as the store wrote it before services were slimmed.
const SERVICE_ROW: &str = r#"{"id":"srv-n85snu3ejgmka14r","namespace_id":"ns-n1aq4o1bu6f50fdw","name":"s02080","description":null,"dns":{"routing_policy":"Multivalue","records":[{"kind":"A","ttl":60},{"kind":"Aaaa","ttl":60},{"kind":"Srv","ttl":60}]},"health_check":null,"custom_health_check":null,"heartbeat":null,"creator_request_id":null,"created_at":1795607926936,"tags":{},"revision":1,"instance_count":0}"#;

#[test]
fn an_instance_row_from_an_earlier_build_decodes_and_encodes_unchanged() {
    let instance: Instance = serde_json::from_str(INSTANCE_ROW).expect("the row decodes");
    assert_eq!(instance.id, "Web-1");
    assert_eq!(
        instance.attributes,
        attributes(&[(ATTR_IPV4, "10.1.2.3"), PORT, ("zone", "b")])
    );
    assert_eq!(instance.attributes.get(ATTR_PORT), Some("8080"));
    assert_eq!(instance.endpoint.weight, 3);
    assert_eq!(instance.health, HealthStatus::Unhealthy);
    assert_eq!(instance.creator_request_id.as_deref(), Some("create-1"));
    let written = serde_json::to_string(&instance).expect("the instance encodes");
    assert_eq!(written, INSTANCE_ROW);
}

#[test]
fn a_service_row_from_an_earlier_build_decodes_and_encodes_unchanged() {
    let service: Service = serde_json::from_str(SERVICE_ROW).expect("the row decodes");
    assert_eq!(service.name, "s02080");
    let written = serde_json::to_string(&service).expect("the service encodes");
    assert_eq!(written, SERVICE_ROW);
}
