//! Hardening item 12: a stopping server is not held open by a client's
//! stream. On SIGTERM every live stream ends with UNAVAILABLE (the client
//! reconnects and resumes from its position), in-flight calls drain within
//! the grace period, and the process exits 0.

mod common;

use common::{start, token};
use sellerdesk_api::compliance::v1::{
    compliance_service_client::ComplianceServiceClient, WatchStandingRequest,
};
use std::time::{Duration, Instant};
use tonic::{transport::Channel, Code};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_live_streams_with_unavailable_and_exits() {
    let data = tempfile::tempdir().unwrap();
    let platform = token(data.path(), "", "platform", "shutdown-test");
    let (mut stack, endpoints) = start(data.path());
    let channel = Channel::from_shared(format!("http://{}", endpoints["compliance"]))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ComplianceServiceClient::new(channel);
    let mut request = tonic::Request::new(WatchStandingRequest {
        shop_id: "drain-shop".into(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {platform}").parse().unwrap(),
    );
    let mut stream = client.watch_standing(request).await.unwrap().into_inner();
    stream
        .message()
        .await
        .unwrap()
        .expect("the current standing first");

    let child = stack.0.as_mut().expect("running");
    let pid = child.id().to_string();
    let started = Instant::now();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("the stream ends within 10 s of SIGTERM");
    assert_eq!(
        ended.unwrap_err().code(),
        Code::Unavailable,
        "the client is told to reconnect"
    );
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "sellerdesk did not exit within 15 s of SIGTERM with a stream open"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    println!("exited {:?} after SIGTERM", started.elapsed());
}
