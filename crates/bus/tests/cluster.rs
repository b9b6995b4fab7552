//! The bus on a 3-node JetStream cluster (issue 15): streams kept by three
//! servers, one killed with SIGKILL mid-way; every published message is
//! still delivered, and none twice once acknowledged.

use chrono::Utc;
use sellerdesk_bus::{subject, BusMessage, EventBus, JetStreamBus};
use sellerdesk_testkit::free_port;
use std::{
    collections::HashSet,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Three nats-server processes with cluster routes to each other, killed
/// when dropped.
struct Cluster {
    nodes: Vec<Option<Child>>,
    client_ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let client_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let route_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes = route_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let nodes = (0..3)
            .map(|i| {
                let store = dir.path().join(format!("n{i}"));
                Some(
                    Command::new("nats-server")
                        .args(["-js", "-a", "127.0.0.1", "-p"])
                        .arg(client_ports[i].to_string())
                        .args(["--server_name", &format!("n{i}"), "--cluster_name", "sd"])
                        .arg("--cluster")
                        .arg(format!("nats://127.0.0.1:{}", route_ports[i]))
                        .args(["--routes", &routes, "-sd"])
                        .arg(&store)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("nats-server is installed (scripts/test.sh installs it)"),
                )
            })
            .collect();
        Self {
            nodes,
            client_ports,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        self.client_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn kill_9(&mut self, node: usize) {
        if let Some(mut c) = self.nodes[node].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in 0..self.nodes.len() {
            self.kill_9(n);
        }
    }
}

fn message(service: &str, n: i64) -> BusMessage {
    BusMessage {
        subject: subject(service, "ThingHappened"),
        event_id: uuid::Uuid::now_v7(),
        event_type: "ThingHappened".into(),
        schema_version: 1,
        shop_id: "s".into(),
        stream_id: "things-s".into(),
        global_position: n,
        occurred_at: Utc::now(),
        traceparent: None,
        payload: format!(r#"{{"n":{n}}}"#).into_bytes().into(),
    }
}

/// Publishes until the cluster takes the batch (a leader is being elected
/// at start and after a kill); the bus deduplicates what was stored twice.
async fn publish(bus: &JetStreamBus, batch: &[BusMessage]) -> Duration {
    let started = Instant::now();
    loop {
        match bus.publish(batch).await {
            Ok(()) => return started.elapsed(),
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "cluster never took the batch: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_stream_loses_nothing_when_a_node_is_killed() {
    let mut cluster = Cluster::start();
    let bus = JetStreamBus::connect(&cluster.url())
        .await
        .unwrap()
        .with_namespace(&format!(
            "c{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        ))
        .with_replicas(3)
        .with_max_bytes(64 << 20)
        .with_ack_wait(Duration::from_secs(1));
    let service = "things";
    let first: Vec<BusMessage> = (1..=200).map(|n| message(service, n)).collect();
    let formed = publish(&bus, &first).await;

    let info = bus
        .ensure_stream(service)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.config.num_replicas, 3);
    assert_eq!(info.config.max_bytes, 64 << 20);
    let peers = info.cluster.as_ref().map(|c| c.replicas.len()).unwrap_or(0);
    assert_eq!(peers, 2, "two followers beside the leader");

    // One node dies; the other two keep the stream and elect a leader.
    cluster.kill_9(0);
    let second: Vec<BusMessage> = (201..=400).map(|n| message(service, n)).collect();
    let after_kill = publish(&bus, &second).await;

    let mut published: HashSet<uuid::Uuid> = first.iter().map(|m| m.event_id).collect();
    published.extend(second.iter().map(|m| m.event_id));
    let mut subscription = loop {
        match bus
            .subscribe(service, "cluster-test", "sellerdesk.things.>")
            .await
        {
            Ok(s) => break s,
            Err(e) => {
                eprintln!("subscribe: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let mut seen = HashSet::new();
    let started = Instant::now();
    while seen.len() < published.len() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {} of 400 delivered",
            seen.len()
        );
        let next = tokio::time::timeout(Duration::from_secs(5), subscription.next()).await;
        let Ok(Some(Ok(delivery))) = next else {
            continue;
        };
        assert!(
            published.contains(&delivery.message.event_id),
            "a message nobody published"
        );
        seen.insert(delivery.message.event_id);
        delivery.ack().await.unwrap();
    }
    println!(
        "3-node cluster: first batch taken after {formed:?} (election), 200 more after a SIGKILL in {after_kill:?}; {} of {} delivered",
        seen.len(),
        published.len()
    );
}

/// A client's connection to a node gone silent (a network cut of that one
/// path: no FIN, no RST) was noticed only after three unanswered pings a
/// minute apart: for three minutes every publish of the process timed out.
/// The bus pings every 5 s, gives the connection up after two unanswered
/// pings, and reconnects to another node of the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_goes_on_when_the_connection_to_a_node_goes_silent() {
    let cluster = Cluster::start();
    let bus = JetStreamBus::connect(&cluster.url())
        .await
        .unwrap()
        .with_namespace(&format!(
            "s{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        ))
        .with_replicas(3);
    let service = "things";
    publish(&bus, &[message(service, 1)]).await;
    let (server, client) = sellerdesk_testkit::the_connection_to(&cluster.client_ports);
    let Some(_cut) = sellerdesk_testkit::silenced_or_skip(server, client) else {
        return;
    };
    let started = Instant::now();
    let taken = loop {
        match tokio::time::timeout(Duration::from_secs(5), bus.publish(&[message(service, 2)]))
            .await
        {
            Ok(Ok(())) => break Some(started.elapsed()),
            _ if started.elapsed() > Duration::from_secs(40) => break None,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let taken = taken.expect("no publish went through in 40 s after the cut");
    println!("a publish went through {taken:?} after the connection went silent");
}
