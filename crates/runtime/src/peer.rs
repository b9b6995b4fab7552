//! Channels from one service to another, or to another replica of itself
//! (chat's robot to faq-svc, a request forwarded to the replica that owns
//! its shop).
//!
//! A connection that goes silent (a network cut of that one path, a peer's
//! machine gone: no FIN, no RST) is not noticed by HTTP/2 or TCP while
//! nothing is left unacknowledged, so a channel kept answering every call
//! with its deadline until the kernel gave up on data it had sent, many
//! minutes later. Its calls came back after their deadline one by one, and
//! a robot call that times out opens chat's circuit to faq-svc. The channel
//! pings its server over HTTP/2, idle or not, and drops a connection whose
//! ping has gone unanswered; the next call connects again. The server side
//! pings its clients the same way ([`crate::server`]), so a vanished
//! client's streams (an inbox watched for good) are ended too.

use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// How often a connection is pinged, and how long the answer may take.
pub const PING_EVERY: Duration = Duration::from_secs(5);
pub const PING_ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// A channel to `url`, connected on its first call (so a service starts
/// and serves while the other is down), with `connect_timeout` for each
/// connection and HTTP/2 pings as above.
pub fn lazy_channel(url: &str, connect_timeout: Duration) -> Result<Channel, String> {
    Ok(Endpoint::from_shared(url.to_owned())
        .map_err(|e| format!("{url}: {e}"))?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(PING_EVERY)
        .keep_alive_timeout(PING_ANSWER_WITHIN)
        .keep_alive_while_idle(true)
        .connect_lazy())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

    /// The connection to a server silenced after a first call: without the
    /// pings every later call waited for its deadline for as long as the
    /// test looked (40 s); with them the channel drops the connection and
    /// a call goes through on a new one within seconds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_go_on_when_the_connection_goes_silent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (_reporter, health) = tonic_health::server::health_reporter();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(incoming),
        );
        let channel =
            lazy_channel(&format!("http://127.0.0.1:{port}"), Duration::from_secs(1)).unwrap();
        let mut client = HealthClient::new(channel);
        let check = || HealthCheckRequest {
            service: String::new(),
        };
        client.check(check()).await.unwrap();

        let (server, client_port) = sellerdesk_testkit::the_connection_to(&[port]);
        let Some(_cut) = sellerdesk_testkit::silenced_or_skip(server, client_port) else {
            return;
        };
        let started = std::time::Instant::now();
        let answered = loop {
            let call = tokio::time::timeout(Duration::from_secs(2), client.check(check())).await;
            match call {
                Ok(Ok(_)) => break Some(started.elapsed()),
                _ if started.elapsed() > Duration::from_secs(40) => break None,
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let answered = answered.expect("no call went through in 40 s after the cut");
        println!("a call went through {answered:?} after the connection went silent");
    }
}
