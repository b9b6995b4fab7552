//! Which replica serves a shop (issue 15 item 2, decision 0016).
//!
//! Every replica of a service that keeps per-shop state in memory (chat's
//! desks) could serve any shop: the event store's version check keeps them
//! correct. But a shop served by several replicas at once pays for it with
//! conflicts, catch-ups and a desk loaded on each. So each shop has one
//! owner, and a request that reaches another replica is forwarded to it.
//!
//! - **Who is alive** comes from the engine that already frees a killed
//!   process's leases: each replica holds a PostgreSQL session lock named
//!   after itself, and records its address beside it. A replica whose
//!   session ends (SIGKILL closes the socket; a vanished machine is caught by
//!   the server's keepalive) is out of the membership at the survivors' next
//!   look, within [`REFRESH`].
//! - **Who owns a shop** is decided by rendezvous hashing over the live
//!   members: every replica computes the same owner from the same list, and
//!   when a member goes only its shops move.
//! - **Ownership is an optimisation, never what keeps data right.** Two
//!   replicas may disagree for a moment (one has seen a member die, the other
//!   not yet), and an owner that cannot be reached is served around: the
//!   request is served here. Either way the append's version check decides,
//!   as it did before there were owners.

use crate::metrics::{Counter, Gauge};
use bytes::Bytes;
use http_body_util::Full;
use sellerdesk_eventstore::{EventStore, Lease, Snapshot, StoreError};
use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex, RwLock},
    time::{Duration, Instant},
};
use tonic::{body::Body, transport::Channel};

/// The header a forwarded request carries: its receiver serves it whatever
/// it thinks of the owner, so a request is forwarded at most once.
pub const FORWARDED: &str = "x-sellerdesk-forwarded";

/// How often a replica looks at who is alive (and checks its own lease).
pub const REFRESH: Duration = Duration::from_millis(500);

/// How long an owner that could not be reached is passed over.
const SUSPECT_FOR: Duration = Duration::from_secs(2);

/// How long connecting to an owner may take before the request is served here.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

static FORWARDS: LazyLock<Counter> = LazyLock::new(|| {
    Counter::new(
        "sellerdesk_forwarded_requests_total",
        "Requests for a shop another replica owns: forwarded to it, or served here because it could not be reached.",
        &["service", "outcome"],
    )
});

static MEMBERS: LazyLock<Gauge> = LazyLock::new(|| {
    Gauge::new(
        "sellerdesk_live_replicas",
        "Replicas of the service this replica sees alive (0 while it holds no membership lease).",
        &["service"],
    )
});

/// A replica: its id and the address other replicas reach it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub url: String,
}

/// This replica's view of who owns which shop.
#[derive(Debug)]
pub struct Ownership {
    service: &'static str,
    me: Member,
    /// Live members, this one included while it holds its lease; empty
    /// while it does not (then it serves every shop itself).
    members: RwLock<Arc<Vec<Member>>>,
    channels: Mutex<HashMap<String, Channel>>,
    suspects: Mutex<HashMap<String, Instant>>,
}

impl Ownership {
    /// A new member of `service`, reached at `url` (`http://10.0.0.7:50053`).
    pub fn new(service: &'static str, url: String) -> Arc<Self> {
        Arc::new(Self {
            service,
            me: Member {
                id: uuid::Uuid::now_v7().simple().to_string(),
                url,
            },
            members: RwLock::new(Arc::new(Vec::new())),
            channels: Mutex::new(HashMap::new()),
            suspects: Mutex::new(HashMap::new()),
        })
    }

    pub fn me(&self) -> &Member {
        &self.me
    }

    /// The live members as this replica last saw them.
    pub fn members(&self) -> Vec<Member> {
        self.members.read().expect("members lock").to_vec()
    }

    /// The replica that owns `key` when it is another one; `None` when this
    /// replica serves it: it owns it, or it holds no membership now.
    pub fn owner(&self, key: &str) -> Option<Member> {
        let members = self.members.read().expect("members lock").clone();
        let suspects = self.suspects.lock().expect("suspects lock");
        let now = Instant::now();
        let passed_over = |m: &Member| suspects.get(&m.id).is_some_and(|until| *until > now);
        let owner = members
            .iter()
            .filter(|m| m.id == self.me.id || !passed_over(m))
            .max_by_key(|m| (rendezvous(&m.id, key), m.id.as_str()))?;
        (owner.id != self.me.id).then(|| owner.clone())
    }

    /// Sends a request for a shop `owner` owns, as it came, marked forwarded.
    /// `Err` when the owner cannot be reached: the caller serves it here.
    pub async fn forward(
        &self,
        owner: &Member,
        parts: &http::request::Parts,
        message: Bytes,
    ) -> Result<http::Response<Body>, String> {
        use tower::ServiceExt;
        use tracing::Instrument;
        let channel = self.channel(owner)?;
        let mut request = http::Request::new(Body::new(Full::new(message)));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.headers_mut() = parts.headers.clone();
        request
            .headers_mut()
            .insert(FORWARDED, http::HeaderValue::from_static("1"));
        // The hop is a CLIENT span of this replica's server span, and the
        // owner's span its child: a trace shows where the request went.
        let path = parts.uri.path().trim_start_matches('/');
        let (service, method) = path.split_once('/').unwrap_or((path, ""));
        let span = crate::telemetry::grpc_client_span(service, method);
        let sent = async {
            if let Some(tp) = crate::telemetry::current_traceparent()
                .and_then(|tp| http::HeaderValue::from_str(&tp).ok())
            {
                request.headers_mut().insert("traceparent", tp);
            }
            channel.oneshot(request).await
        }
        .instrument(span.clone())
        .await;
        match sent {
            Ok(response) => {
                FORWARDS.inc(&[self.service, "forwarded"]);
                crate::telemetry::record_client_status(
                    &span,
                    crate::metrics::response_code(response.headers()),
                );
                Ok(response)
            }
            Err(e) => {
                // Served here instead; the owner is passed over for a while so
                // the next requests do not each wait to find it gone.
                crate::telemetry::record_client_status(&span, tonic::Code::Unavailable);
                FORWARDS.inc(&[self.service, "owner_unreachable"]);
                self.suspects
                    .lock()
                    .expect("suspects lock")
                    .insert(owner.id.clone(), Instant::now() + SUSPECT_FOR);
                self.channels
                    .lock()
                    .expect("channels lock")
                    .remove(&owner.id);
                Err(format!("{}: {e}", owner.url))
            }
        }
    }

    fn channel(&self, member: &Member) -> Result<Channel, String> {
        let mut channels = self.channels.lock().expect("channels lock");
        if let Some(c) = channels.get(&member.id) {
            return Ok(c.clone());
        }
        let channel = crate::peer::lazy_channel(&member.url, CONNECT_TIMEOUT)?;
        channels.insert(member.id.clone(), channel.clone());
        Ok(channel)
    }

    fn lease_name(&self, id: &str) -> String {
        format!("{}:member:{id}", self.service)
    }

    fn doc_prefix(&self) -> String {
        format!("member:{}:", self.service)
    }

    /// Holds this replica's membership and keeps its view of the others
    /// current, for ever (the host aborts it when the service stops).
    pub async fn keep_membership(self: Arc<Self>, store: Arc<dyn EventStore>) {
        let mut lease: Option<Box<dyn Lease>> = None;
        loop {
            if let Err(e) = self.refresh(store.as_ref(), &mut lease).await {
                tracing::warn!(error = %e, "cannot read the replicas' membership; serving every shop here");
                self.publish(Vec::new());
            }
            tokio::time::sleep(REFRESH).await;
        }
    }

    /// One look: keep (or take again) this replica's lease, then read who
    /// else holds one.
    pub async fn refresh(
        &self,
        store: &dyn EventStore,
        lease: &mut Option<Box<dyn Lease>>,
    ) -> Result<(), StoreError> {
        if let Some(held) = lease.as_mut() {
            if !held.held().await {
                tracing::warn!(member = %self.me.id, "membership lease lost");
                *lease = None;
            }
        }
        if lease.is_none() {
            // The lease first, then the address: a document whose lease is
            // free is a dead member's, and is removed.
            *lease = store.try_lease(&self.lease_name(&self.me.id)).await?;
            if lease.is_some() {
                store
                    .save_snapshots(&[Snapshot {
                        key: format!("{}{}", self.doc_prefix(), self.me.id),
                        version: 0,
                        position: 0,
                        body: self.me.url.clone(),
                    }])
                    .await?;
                tracing::info!(member = %self.me.id, url = %self.me.url, "joined the replicas");
            }
        }
        if lease.is_none() {
            self.publish(Vec::new());
            return Ok(());
        }
        let prefix = self.doc_prefix();
        let docs = store.load_snapshots(&prefix).await?;
        let ids: Vec<String> = docs
            .iter()
            .map(|d| d.key[prefix.len()..].to_owned())
            .collect();
        let names: Vec<String> = ids.iter().map(|id| self.lease_name(id)).collect();
        let held = store.leases_held(&names).await?;
        let mut live = Vec::new();
        for ((doc, id), alive) in docs.into_iter().zip(ids).zip(held) {
            if alive || id == self.me.id {
                live.push(Member { id, url: doc.body });
            } else {
                store.delete_snapshots(&doc.key).await?;
            }
        }
        live.sort_by(|a, b| a.id.cmp(&b.id));
        self.publish(live);
        Ok(())
    }

    fn publish(&self, live: Vec<Member>) {
        MEMBERS.set(&[self.service], live.len() as f64);
        let mut members = self.members.write().expect("members lock");
        if **members != live {
            tracing::info!(
                replicas = live.len(),
                "the replicas' membership changed; shops move with it"
            );
            *members = Arc::new(live);
        }
    }
}

/// The weight of `member` for `key` (highest random weight): FNV-1a over
/// both, then a finaliser so that near keys spread.
fn rendezvous(member: &str, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in member.bytes().chain([0xff]).chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finaliser.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str) -> Member {
        Member {
            id: id.into(),
            url: format!("http://{id}"),
        }
    }

    fn with_members(me: &str, ids: &[&str]) -> Arc<Ownership> {
        let o = Ownership::new("t", format!("http://{me}"));
        let mut o = Arc::try_unwrap(o).unwrap();
        o.me.id = me.into();
        o.publish(ids.iter().map(|id| member(id)).collect());
        Arc::new(o)
    }

    fn owner_of(views: &[Arc<Ownership>], shop: &str) -> String {
        let o = &views[0];
        o.owner(shop).map_or(o.me.id.clone(), |m| m.id)
    }

    #[test]
    fn every_replica_names_the_same_owner_and_shops_spread() {
        let ids = ["a", "b", "c"];
        let views: Vec<_> = ids.iter().map(|me| with_members(me, &ids)).collect();
        let mut per_owner: HashMap<String, usize> = HashMap::new();
        for shop in (0..3000).map(|i| format!("shop-{i}")) {
            let owners: Vec<String> = views
                .iter()
                .map(|v| v.owner(&shop).map_or(v.me.id.clone(), |m| m.id))
                .collect();
            assert!(
                owners.windows(2).all(|w| w[0] == w[1]),
                "{shop}: {owners:?}"
            );
            *per_owner.entry(owners[0].clone()).or_default() += 1;
        }
        for id in ids {
            let n = per_owner[id];
            assert!((850..=1150).contains(&n), "{id} owns {n} of 3000");
        }
    }

    #[test]
    fn when_a_replica_goes_only_its_shops_move() {
        let before = [with_members("a", &["a", "b", "c"])];
        let after = [with_members("a", &["a", "c"])];
        for shop in (0..2000).map(|i| format!("s{i}")) {
            let (was, is) = (owner_of(&before, &shop), owner_of(&after, &shop));
            if was != "b" {
                assert_eq!(was, is, "{shop} moved though its owner lives");
            } else {
                assert_ne!(is, "b");
            }
        }
    }

    #[test]
    fn without_a_membership_a_replica_serves_every_shop_itself() {
        let alone = with_members("a", &[]);
        assert_eq!(alone.owner("any"), None);
        let only = with_members("a", &["a"]);
        assert_eq!(only.owner("any"), None);
    }

    #[test]
    fn an_unreachable_owner_is_passed_over_for_a_while() {
        let o = with_members("a", &["a", "b"]);
        let shop = (0..100)
            .map(|i| format!("s{i}"))
            .find(|s| o.owner(s).is_some())
            .expect("b owns some shop");
        o.suspects
            .lock()
            .unwrap()
            .insert("b".into(), Instant::now() + SUSPECT_FOR);
        assert_eq!(o.owner(&shop), None, "served here while b is passed over");
        o.suspects
            .lock()
            .unwrap()
            .insert("b".into(), Instant::now() - Duration::from_millis(1));
        assert_eq!(o.owner(&shop).map(|m| m.id), Some("b".into()));
    }
}
