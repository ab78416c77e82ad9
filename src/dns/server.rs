//! The DNS listeners: hickory-server owns the sockets, framing, parsing and
//! encoding (with truncation); this shell checks the request, asks the
//! answer core and hands the records back to be written.

use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::DNSClass;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use super::answer::answer;
use super::zones::Zones;

/// Answers queries from a [`Zones`] table.
pub struct Responder {
    zones: Zones,
    max_udp_payload: u16,
}

impl Responder {
    /// A responder that never sends UDP answers above `max_udp_payload`
    /// bytes, whatever the client advertises.
    pub fn new(zones: Zones, max_udp_payload: u16) -> Self {
        Self {
            zones,
            max_udp_payload,
        }
    }
}

fn send_failed(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

async fn reply_error<R: ResponseHandler>(
    request: &Request,
    edns: Option<&Edns>,
    rcode: ResponseCode,
    mut response_handle: R,
) -> ResponseInfo {
    let response =
        MessageResponseBuilder::new(&request.queries, edns).error_msg(&request.metadata, rcode);
    match response_handle.send_response(response).await {
        Ok(info) => info,
        Err(error) => {
            tracing::debug!(%error, "could not send an error response");
            send_failed(request)
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for Responder {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut response_edns = Edns::new();
        let edns = match &request.edns {
            Some(client) => {
                // The UDP limit hickory applies is the payload size of the
                // OPT we answer with: the client's, capped at ours.
                response_edns
                    .set_max_payload(client.max_payload().clamp(512, self.max_udp_payload));
                response_edns.set_version(0);
                if client.version() > 0 {
                    return reply_error(
                        request,
                        Some(&response_edns),
                        ResponseCode::BADVERS,
                        response_handle,
                    )
                    .await;
                }
                Some(&response_edns)
            }
            None => None,
        };
        if request.metadata.op_code != OpCode::Query {
            return reply_error(request, edns, ResponseCode::NotImp, response_handle).await;
        }
        let Ok(info) = request.request_info() else {
            return reply_error(request, edns, ResponseCode::FormErr, response_handle).await;
        };
        let query = info.query;
        if query.query_class() != DNSClass::IN {
            return reply_error(request, edns, ResponseCode::Refused, response_handle).await;
        }
        let found = answer(
            &self.zones,
            query.name(),
            query.original().name(),
            query.query_type(),
            request.src().ip(),
        );
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = found.authoritative;
        metadata.response_code = found.rcode;
        let response = MessageResponseBuilder::new(&request.queries, edns).build(
            metadata,
            found.answers.iter().map(|record| &**record),
            std::iter::empty(),
            found.authority.iter().map(|record| &**record),
            found.additionals.iter().map(|record| &**record),
        );
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, "could not send a response");
                send_failed(request)
            }
        }
    }
}

/// The bound DNS sockets; each UDP socket and TCP listener gets its own task.
pub struct DnsSockets {
    pub udp: Vec<UdpSocket>,
    pub tcp: Vec<TcpListener>,
}

/// How many responses a TCP connection may have queued.
const TCP_RESPONSE_QUEUE: usize = 64;

/// Serves DNS until `shutdown` is cancelled.
pub async fn serve(
    sockets: DnsSockets,
    responder: Responder,
    tcp_idle_timeout: Duration,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut server = Server::new(responder);
    for socket in sockets.udp {
        server.register_socket(socket);
    }
    for listener in sockets.tcp {
        server.register_listener(listener, tcp_idle_timeout, TCP_RESPONSE_QUEUE);
    }
    let outcome = tokio::select! {
        () = shutdown.cancelled() => Ok(()),
        done = server.block_until_done() => done,
    };
    if let Err(error) = outcome {
        return Err(std::io::Error::other(format!(
            "DNS server stopped: {error}"
        )));
    }
    if let Err(error) = server.shutdown_gracefully().await {
        tracing::debug!(%error, "DNS server shutdown");
    }
    Ok(())
}
