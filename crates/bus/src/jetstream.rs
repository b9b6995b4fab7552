use crate::{Acker, BusError, BusMessage, Delivery, EventBus, Subscription};
use async_nats::{
    jetstream::{self, consumer::pull, stream},
    HeaderMap,
};
use async_trait::async_trait;
use futures::StreamExt;
use std::time::Duration;

/// How long JetStream remembers a message id for deduplication. The relay
/// republishes at most the batch that was in flight at a crash, well inside this.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Messages a pull may ask for at most. Every message a pull brings is
/// delivered, its ack wait running, from the moment it arrives, while the
/// consumer handles the ones before it one at a time. So a pull asks for as
/// many as the consumer handles in a quarter of its ack wait
/// ([`PULL_WORTH_OF_ACK_WAIT`]) at the pace measured ([`Pace`]), from one
/// to this. A fixed pull of 1,000 left most of a backlog waiting past
/// ACK_WAIT whenever a message took more than 5 ms (the server delivered
/// each of those again to the other replica; under a chaos run's load,
/// 60-100 ms a message, two ads replicas handled 3,358 deliveries of 750
/// events, 2,604 of them duplicates); a fixed pull of 10 halved the bus's
/// throughput for consumers that are fast (docs/benchmarks.md, "Pulls sized
/// by the consumer's pace").
const PULL_MOST: usize = 1000;
/// How much handling one pull may hold, at the pace measured: the last
/// message of a pull waits about this long, a quarter of ACK_WAIT, so its
/// pace may quadruple before that message's ack wait runs out.
const PULL_WORTH_OF_ACK_WAIT: u32 = 4;
/// How long the server holds a pull that finds nothing; it then says so
/// (a timeout status) and the next pull goes out.
const PULL_EXPIRES: Duration = Duration::from_secs(3);
/// A pull that has brought nothing and heard nothing for this long was not
/// answered by any server: it went to a node that died, to a consumer
/// whose leader moved (a node killed, every node restarted at once, a
/// consumer made while the cluster was still choosing its leaders), or to
/// a consumer that was deleted. The subscription then reports
/// [`BusError::Gone`], so the consumer subscribes anew at once. The
/// streaming pull this replaced heard of it after two idle heartbeats,
/// 10 s; a chaos run's ads replicas were deaf that long after each node
/// kill.
const PULL_UNANSWERED: Duration = Duration::from_secs(5);
/// Unacknowledged messages are delivered again after this. It bounds how long
/// a consumer that crashed holding a message leaves that message unapplied
/// (ordered consumers apply by source position, so a late redelivery cannot
/// undo a newer event; this bounds the window before it lands at all).
const ACK_WAIT: Duration = Duration::from_secs(5);

const H_EVENT_TYPE: &str = "Sellerdesk-Event-Type";
const H_SCHEMA: &str = "Sellerdesk-Schema-Version";
const H_SHOP: &str = "Sellerdesk-Shop-Id";
const H_STREAM: &str = "Sellerdesk-Stream-Id";
const H_POSITION: &str = "Sellerdesk-Global-Position";
const H_OCCURRED: &str = "Sellerdesk-Occurred-At";
const H_TRACEPARENT: &str = "traceparent";

/// How long a stream keeps messages unless configured: long enough for a
/// consumer that was down for days to catch up, bounded so the bus does not
/// grow with history (the logs are the record, the bus only carries).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// How many bytes a stream keeps unless configured (1 GiB): a second bound
/// beside the age, so a burst cannot fill the servers' disks.
pub const DEFAULT_MAX_BYTES: i64 = 1 << 30;

/// NATS JetStream: one stream per service (`SELLERDESK_<SERVICE>`), durable
/// pull consumers with explicit acks, dedup by `Nats-Msg-Id` = event id.
///
/// A namespace (`prod`, a test's id) keeps deployments that share one NATS
/// apart: stream `SELLERDESK_PROD_<SERVICE>`, subjects `prod.sellerdesk.…`,
/// consumers `prod-<name>`. Without one, names are as they always were.
#[derive(Debug, Clone)]
pub struct JetStreamBus {
    client: async_nats::Client,
    context: jetstream::Context,
    ack_wait: Duration,
    namespace: String,
    max_age: Duration,
    max_bytes: i64,
    replicas: usize,
}

/// How often the client asks a quiet server whether it is there. The
/// client gives the connection up after two pings unanswered (async-nats's
/// own bound) and connects to another server of the list. Its default, a
/// minute, let a connection that went silent (a network cut of one path: no
/// FIN, no RST) hold every publish of the process for three minutes. A ping
/// goes only on a connection that has heard nothing for this long.
const PING_INTERVAL: Duration = Duration::from_secs(5);

impl JetStreamBus {
    /// Connects, or keeps trying in the background when NATS is not there
    /// yet: a service starts and takes writes into its outbox while the bus
    /// is down (the relay publishes once it is up). Only a malformed URL fails.
    pub async fn connect(url: &str) -> Result<Self, BusError> {
        // A cluster is named by a comma-separated list of its servers; the
        // client also learns the others from whichever it reaches.
        let servers = url
            .split(',')
            .map(|u| u.trim().parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BusError::Connect(format!("{url}: {e}")))?;
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .ping_interval(PING_INTERVAL)
            .connect(servers)
            .await
            .map_err(|e| BusError::Connect(format!("{url}: {e}")))?;
        Ok(Self {
            context: jetstream::new(client.clone()),
            client,
            ack_wait: ACK_WAIT,
            namespace: String::new(),
            max_age: DEFAULT_MAX_AGE,
            max_bytes: DEFAULT_MAX_BYTES,
            replicas: 1,
        })
    }

    /// Keeps this deployment's streams, subjects and consumers apart from
    /// another's on the same NATS (letters, digits, `-` and `_`).
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    /// How long streams this bus creates keep messages.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// How many bytes a stream keeps at most (the oldest go first); 0 or
    /// less: no limit but the age.
    pub fn with_max_bytes(mut self, max_bytes: i64) -> Self {
        self.max_bytes = if max_bytes > 0 { max_bytes } else { -1 };
        self
    }

    /// How many servers of a JetStream cluster keep each stream (1, 3 or 5;
    /// 3 survives one server lost).
    pub fn with_replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    fn stream(&self, service: &str) -> String {
        if self.namespace.is_empty() {
            stream_name(service)
        } else {
            stream_name(&format!("{}_{service}", self.namespace))
        }
    }

    /// The subject on the wire for a subject in sellerdesk's own terms.
    fn wire_subject(&self, subject: &str) -> String {
        if self.namespace.is_empty() {
            subject.to_owned()
        } else {
            format!("{}.{subject}", self.namespace)
        }
    }

    /// The subject in sellerdesk's terms for one received on the wire.
    fn own_subject<'a>(&self, wire: &'a str) -> &'a str {
        if self.namespace.is_empty() {
            wire
        } else {
            wire.strip_prefix(&self.namespace)
                .and_then(|s| s.strip_prefix('.'))
                .unwrap_or(wire)
        }
    }

    fn consumer(&self, name: &str) -> String {
        if self.namespace.is_empty() {
            name.to_owned()
        } else {
            format!("{}-{name}", self.namespace)
        }
    }

    /// How long an unacknowledged message waits before redelivery (default 30 s).
    pub fn with_ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// The service's stream, created on first use; a stream created with
    /// other limits or replicas is brought to this bus's (configuration
    /// changes take effect on the next start, not only for new streams).
    pub async fn ensure_stream(&self, service: &str) -> Result<stream::Stream, BusError> {
        let wanted = stream::Config {
            name: self.stream(service),
            subjects: vec![self.wire_subject(&format!("sellerdesk.{service}.>"))],
            duplicate_window: DUPLICATE_WINDOW,
            max_age: self.max_age,
            max_bytes: self.max_bytes,
            num_replicas: self.replicas,
            ..Default::default()
        };
        let mut stream = self
            .context
            .get_or_create_stream(wanted.clone())
            .await
            .map_err(|e| BusError::Connect(e.to_string()))?;
        let have = &stream.cached_info().config;
        if (have.max_age, have.max_bytes, have.num_replicas)
            != (wanted.max_age, wanted.max_bytes, wanted.num_replicas)
        {
            let name = wanted.name.clone();
            self.context
                .update_stream(wanted)
                .await
                .map_err(|e| BusError::Connect(format!("updating stream {name}: {e}")))?;
            stream = self
                .context
                .get_stream(&name)
                .await
                .map_err(|e| BusError::Connect(e.to_string()))?;
        }
        Ok(stream)
    }
}

impl JetStreamBus {
    /// Deletes a service's stream and everything in it (tests, benchmarks).
    pub async fn delete_stream(&self, service: &str) -> Result<(), BusError> {
        self.context
            .delete_stream(self.stream(service))
            .await
            .map(|_| ())
            .map_err(|e| BusError::Connect(e.to_string()))
    }
}

/// `SELLERDESK_COMPLIANCE` for `compliance`.
pub fn stream_name(service: &str) -> String {
    format!(
        "SELLERDESK_{}",
        service.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

#[async_trait]
impl EventBus for JetStreamBus {
    fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    async fn publish(&self, messages: &[BusMessage]) -> Result<(), BusError> {
        let mut services: Vec<&str> = messages
            .iter()
            .filter_map(|m| m.subject.split('.').nth(1))
            .collect();
        services.dedup();
        for s in services {
            self.ensure_stream(s).await?;
        }
        // Pipelined: send all, then wait for every ack.
        let mut acks = Vec::with_capacity(messages.len());
        for m in messages {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", m.event_id.to_string().as_str());
            headers.insert(H_EVENT_TYPE, m.event_type.as_str());
            headers.insert(H_SCHEMA, m.schema_version.to_string().as_str());
            headers.insert(H_SHOP, m.shop_id.as_str());
            headers.insert(H_STREAM, m.stream_id.as_str());
            headers.insert(H_POSITION, m.global_position.to_string().as_str());
            headers.insert(H_OCCURRED, m.occurred_at.to_rfc3339().as_str());
            if let Some(tp) = &m.traceparent {
                headers.insert(H_TRACEPARENT, tp.as_str());
            }
            let ack = self
                .context
                .publish_with_headers(self.wire_subject(&m.subject), headers, m.payload.clone())
                .await
                .map_err(|e| BusError::Publish(e.to_string()))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.map_err(|e| BusError::Publish(e.to_string()))?;
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        service: &str,
        consumer: &str,
        filter: &str,
    ) -> Result<Box<dyn Subscription>, BusError> {
        let stream = self.ensure_stream(service).await?;
        let durable = self.consumer(consumer);
        let consumer = stream
            .get_or_create_consumer(
                &durable,
                pull::Config {
                    durable_name: Some(durable.clone()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    filter_subject: self.wire_subject(filter),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| BusError::Subscribe(e.to_string()))?;
        // The consumer's own ack wait: one made earlier keeps the one it was
        // made with.
        let ack_wait = consumer.cached_info().config.ack_wait;
        Ok(Box::new(JetStreamSubscription {
            consumer,
            pull: None,
            pace: Pace::default(),
            handed_out: None,
            bus: self.clone(),
            ack_wait,
        }))
    }
}

/// How long the consumer takes over a message: the time from handing one
/// out to being asked for the next. It follows a slowdown at once and a
/// recovery slowly (a sixteenth of the difference a message), since a pull
/// sized for a pace that did not last leaves its tail waiting past the ack
/// wait: on a loaded machine a consumer's messages take 10 ms and 500 ms by
/// turns, and a pull sized on the fast ones was delivered again.
#[derive(Debug, Default, Clone, Copy)]
struct Pace {
    per_message: Option<Duration>,
}

impl Pace {
    fn observe(&mut self, took: Duration) {
        self.per_message = Some(match self.per_message {
            Some(was) if took < was => (was * 15 + took) / 16,
            _ => took,
        });
    }

    /// Messages to ask for: as many as fit a quarter of the ack wait at this
    /// pace, one before any is measured (what a consumer fresh from a
    /// restart takes is unknown) and at least one.
    fn pull_size(&self, ack_wait: Duration) -> usize {
        let Some(per_message) = self.per_message else {
            return 1;
        };
        let worth = ack_wait / PULL_WORTH_OF_ACK_WAIT;
        let fits = worth.as_nanos() / per_message.as_nanos().max(1);
        fits.clamp(1, PULL_MOST as u128) as usize
    }
}

/// One pull in hand: the messages it brings, when it was asked for, how
/// many came.
struct Pull {
    messages: pull::Batch,
    asked: std::time::Instant,
    came: usize,
}

struct JetStreamSubscription {
    consumer: jetstream::consumer::PullConsumer,
    pull: Option<Pull>,
    pace: Pace,
    handed_out: Option<std::time::Instant>,
    bus: JetStreamBus,
    ack_wait: Duration,
}

impl std::fmt::Debug for JetStreamSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamSubscription")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Subscription for JetStreamSubscription {
    async fn next(&mut self) -> Option<Result<Delivery, BusError>> {
        if let Some(handed_out) = self.handed_out.take() {
            let took = handed_out.elapsed();
            self.pace.observe(took);
            // A message that held the consumer for half its ack wait (the
            // database away, a stall) kept the rest of its pull waiting as
            // long: the server delivers those again after their ack wait,
            // to whichever replica pulls then, so they are left to it rather
            // than handled twice.
            if took >= self.ack_wait / 2 {
                self.pull = None;
            }
        }
        let message = loop {
            let pull = match &mut self.pull {
                Some(pull) => pull,
                None => {
                    let asked = std::time::Instant::now();
                    let messages = match self
                        .consumer
                        .batch()
                        .max_messages(self.pace.pull_size(self.ack_wait))
                        .expires(PULL_EXPIRES)
                        .messages()
                        .await
                    {
                        Ok(messages) => messages,
                        Err(e) => return Some(Err(received(e.to_string()))),
                    };
                    self.pull.insert(Pull {
                        messages,
                        asked,
                        came: 0,
                    })
                }
            };
            // What the pull brought is taken first, even past the bound
            // (a timeout polls the messages before its clock).
            let left = PULL_UNANSWERED.saturating_sub(pull.asked.elapsed());
            match tokio::time::timeout(left, pull.messages.next()).await {
                Ok(Some(Ok(message))) => {
                    pull.came += 1;
                    break message;
                }
                Ok(Some(Err(e))) => {
                    self.pull = None;
                    return Some(Err(received(e.to_string())));
                }
                // The server ended the pull: it is there; ask again.
                Ok(None) => self.pull = None,
                Err(_) => {
                    let unanswered = pull.came == 0;
                    self.pull = None;
                    // A pull that brought messages was answered; one whose
                    // end did not come in time is simply asked anew.
                    if unanswered {
                        return Some(Err(BusError::Gone(format!(
                            "no server answered the pull within {PULL_UNANSWERED:?}"
                        ))));
                    }
                }
            }
        };
        self.handed_out = Some(std::time::Instant::now());
        Some(decode(message, self.ack_wait).map(|mut d| {
            d.message.subject = self.bus.own_subject(&d.message.subject).to_owned();
            d
        }))
    }
}

/// A receive error, as [`BusError::Gone`] where it says the subscription
/// will get nothing more as it is: its consumer or stream no longer exists
/// (deleted, or lost with a server's store; the server answers a waiting
/// pull "409 Consumer Deleted"), or nobody serves its pulls. The client
/// reports a pull's failures as text (the server's status and
/// description), so the text is what is read. "missed idle heartbeat" is
/// the client's own wording for a pull that asked for heartbeats; these
/// pulls do not, and it is kept for a pull that does.
fn received(error: String) -> BusError {
    let lower = error.to_ascii_lowercase();
    let gone = [
        "consumer not found",
        "stream not found",
        "no responders",
        "consumer deleted",
        "missed idle heartbeat",
    ]
    .iter()
    .any(|what| lower.contains(what));
    if gone {
        BusError::Gone(error)
    } else {
        BusError::Receive(error)
    }
}

fn decode(message: jetstream::Message, ack_wait: Duration) -> Result<Delivery, BusError> {
    let headers = message
        .headers
        .clone()
        .ok_or_else(|| BusError::Malformed("no headers".into()))?;
    let get = |name: &str| -> Result<String, BusError> {
        headers
            .get(name)
            .map(|v| v.as_str().to_owned())
            .ok_or_else(|| BusError::Malformed(format!("missing header {name}")))
    };
    let parse = |name: &str| -> Result<i64, BusError> {
        get(name)?
            .parse()
            .map_err(|_| BusError::Malformed(format!("bad header {name}")))
    };
    let (delivered, pending) = message
        .info()
        .map(|i| (i.delivered.max(1) as u64, i.pending))
        .unwrap_or((1, 0));
    let msg = BusMessage {
        subject: message.subject.to_string(),
        event_id: get("Nats-Msg-Id")?
            .parse()
            .map_err(|_| BusError::Malformed("bad Nats-Msg-Id".into()))?,
        event_type: get(H_EVENT_TYPE)?,
        schema_version: parse(H_SCHEMA)? as i32,
        shop_id: get(H_SHOP)?,
        stream_id: get(H_STREAM)?,
        global_position: parse(H_POSITION)?,
        occurred_at: chrono::DateTime::parse_from_rfc3339(&get(H_OCCURRED)?)
            .map_err(|_| BusError::Malformed("bad occurred-at".into()))?
            .with_timezone(&chrono::Utc),
        traceparent: headers.get(H_TRACEPARENT).map(|v| v.as_str().to_owned()),
        payload: message.payload.clone(),
    };
    Ok(Delivery {
        message: msg,
        delivered,
        pending,
        acker: Acker::JetStream(Box::new(message), ack_wait),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_S: Duration = Duration::from_secs(5);

    // A subscription that will hear nothing more is made again at once,
    // not after RESUBSCRIBE_AFTER failures in a row.
    #[test]
    fn a_subscription_nobody_answers_is_reported_gone() {
        for error in [
            "error while processing messages from the stream: 409, Some(\"Consumer Deleted\")",
            "consumer not found",
            "Stream Not Found",
            "no responders",
            "missed idle heartbeat",
        ] {
            assert!(
                matches!(received(error.into()), BusError::Gone(_)),
                "{error}"
            );
        }
        assert!(matches!(received("timed out".into()), BusError::Receive(_)));
    }

    #[test]
    fn a_pull_holds_a_quarter_of_the_ack_wait_at_the_pace_measured() {
        let mut pace = Pace::default();
        // Nothing measured yet: one message, whatever the consumer is.
        assert_eq!(pace.pull_size(FIVE_S), 1);
        // 40 ms a message: 1.25 s of work is 31 messages.
        pace.observe(Duration::from_millis(40));
        assert_eq!(pace.pull_size(FIVE_S), 31);
        // A consumer that only acks: the most a pull asks for.
        let mut fast = Pace::default();
        fast.observe(Duration::from_micros(20));
        assert_eq!(fast.pull_size(FIVE_S), PULL_MOST);
        // Slower than the whole budget: the one in hand, kept alive.
        let mut slow = Pace::default();
        slow.observe(Duration::from_secs(3));
        assert_eq!(slow.pull_size(FIVE_S), 1);
        // The ack wait a consumer was made with counts, not the default.
        assert_eq!(pace.pull_size(Duration::from_secs(30)), 187);
    }

    #[test]
    fn the_pace_follows_a_slowdown_at_once_and_a_recovery_gradually() {
        let mut pace = Pace::default();
        pace.observe(Duration::from_millis(1));
        pace.observe(Duration::from_millis(100));
        assert_eq!(pace.per_message, Some(Duration::from_millis(100)));
        pace.observe(Duration::from_millis(4));
        assert_eq!(pace.per_message, Some(Duration::from_millis(94)));
        for _ in 0..120 {
            pace.observe(Duration::from_millis(4));
        }
        let recovered = pace.per_message.unwrap();
        assert!(recovered < Duration::from_millis(5), "{recovered:?}");
    }
}
