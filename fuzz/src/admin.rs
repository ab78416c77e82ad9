//! The admin API's request bodies: any bytes must decode into the request
//! type or be refused, never panic, and whatever decodes must encode and
//! decode back to the same value (the CLI encodes with the same types).
//!
//! The first byte picks the request type; the rest is the body. Decoding
//! goes the way the server's `admin::actions::parse` goes (serde_json
//! through serde_path_to_error, then nothing but whitespace after the
//! value); that function is private, so its steps are repeated here.

use cairn::admin::api::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn decode<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    // A call without input may come with no body at all.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let mut parser = serde_json::Deserializer::from_slice(body);
    let request: T = serde_path_to_error::deserialize(&mut parser).ok()?;
    parser.end().ok()?;
    Some(request)
}

fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(body: &[u8]) {
    let Some(request) = decode::<T>(body) else {
        return;
    };
    let encoded = serde_json::to_vec(&request)
        .unwrap_or_else(|error| panic!("{request:?} decoded but does not encode: {error}"));
    let again = decode::<T>(&encoded).unwrap_or_else(|| {
        panic!(
            "{request:?} encodes as {} but that does not decode",
            String::from_utf8_lossy(&encoded)
        )
    });
    assert_eq!(request, again, "a request changed on its way through JSON");
}

/// Every request type of the admin API, in a fixed order: a seed's first
/// byte keeps naming the same type as the list grows at its end.
const REQUESTS: [fn(&[u8]); 17] = [
    round_trip::<CreateNamespaceRequest>,
    round_trip::<UpdateNamespaceRequest>,
    round_trip::<IdRequest>,
    round_trip::<ListRequest>,
    round_trip::<CreateServiceRequest>,
    round_trip::<UpdateServiceRequest>,
    round_trip::<RegisterInstanceRequest>,
    round_trip::<InstanceRequest>,
    round_trip::<ListInstancesRequest>,
    round_trip::<UpdateInstanceCustomHealthStatusRequest>,
    round_trip::<GetInstancesHealthStatusRequest>,
    round_trip::<DiscoverInstancesRequest>,
    round_trip::<DiscoverInstancesRevisionRequest>,
    round_trip::<GetOperationRequest>,
    round_trip::<TagResourceRequest>,
    round_trip::<UntagResourceRequest>,
    round_trip::<ListTagsForResourceRequest>,
];

pub fn request(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    REQUESTS[usize::from(kind) % REQUESTS.len()](body);
}
