//! The FAQ robot, asked over faq-svc's public gRPC API (never its data, R-X-2).
//!
//! chat-svc asks on behalf of its caller, the buyer gateway: it passes the
//! caller's own bearer token on, so faq-svc checks the same identity and
//! chat-svc holds no key to mint tokens with (services verify, never sign).
//! A failed call
//! opens a short circuit breaker so that, while faq-svc is down, buyer
//! messages go straight to humans instead of each waiting for a timeout.

use crate::domain::{BuyerNotice, Card, RobotVerdict, Topic};
use sellerdesk_api::faq::v1::{self as pb, faq_service_client::FaqServiceClient};
use sellerdesk_runtime::Caller;
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};
use tonic::{transport::Channel, Request};
use tracing::Instrument;

/// faq-svc's gRPC service, as spans name it.
const FAQ_SERVICE: &str = "sellerdesk.faq.v1.FaqService";

/// One call to faq-svc in a CLIENT span; the request is built inside it, so
/// the `traceparent` it carries makes faq-svc's SERVER span its child.
async fn traced<T>(
    method: &str,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<tonic::Response<T>, tonic::Status> {
    let span = sellerdesk_runtime::telemetry::grpc_client_span(FAQ_SERVICE, method);
    let answer = call.instrument(span.clone()).await;
    let code = answer
        .as_ref()
        .map_or_else(|s| s.code(), |_| tonic::Code::Ok);
    sellerdesk_runtime::telemetry::record_client_status(&span, code);
    answer
}

/// What a buyer sees when faq-svc cannot give the shop's greeting.
pub const FALLBACK_GREETING: &str = "您好，欢迎光临，请问有什么可以帮您？";
/// How long the breaker stays open after a failure.
const BREAK_FOR: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct Robot {
    client: FaqServiceClient<Channel>,
    timeout: Duration,
    open_until: Mutex<Option<Instant>>,
    failures: AtomicU64,
}

impl Robot {
    /// A client of faq-svc at `endpoint` (connected lazily, so chat-svc starts
    /// and serves while faq-svc is down).
    pub fn new(endpoint: &str, timeout: Duration) -> Result<Self, String> {
        let channel = sellerdesk_runtime::peer::lazy_channel(endpoint, timeout)
            .map_err(|e| format!("faq endpoint: {e}"))?;
        Ok(Self {
            client: FaqServiceClient::new(channel),
            timeout,
            open_until: Mutex::new(None),
            failures: AtomicU64::new(0),
        })
    }

    /// Calls that failed since start (the degradation, for logs and tests).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn request<T>(&self, on_behalf_of: &Caller, message: T) -> Request<T> {
        let mut r = Request::new(message);
        r.set_timeout(self.timeout);
        if let Ok(v) = format!("Bearer {}", on_behalf_of.token).parse() {
            r.metadata_mut().insert("authorization", v);
        }
        sellerdesk_runtime::telemetry::inject_traceparent(r.metadata_mut());
        r
    }

    fn broken(&self) -> bool {
        let open = self.open_until.lock().expect("breaker lock");
        open.is_some_and(|until| Instant::now() < until)
    }

    /// Counts `status` against faq-svc only when it says faq-svc itself is
    /// unwell. An answer about the request (NOT_FOUND, INVALID_ARGUMENT, a
    /// response too large for one call ...) is no outage: opening the
    /// breaker on it would let one bad request turn the robot off for every shop.
    fn failed(&self, what: &str, status: &tonic::Status) {
        if !is_outage(status.code()) {
            return;
        }
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut open = self.open_until.lock().expect("breaker lock");
        if open.is_none_or(|until| Instant::now() >= until) {
            tracing::warn!(
                code = ?status.code(),
                error = status.message(),
                what,
                "faq-svc unavailable: buyer messages go to humans for {BREAK_FOR:?}"
            );
        }
        *open = Some(Instant::now() + BREAK_FOR);
    }

    /// R-CHAT-6: the robot's verdict on a buyer's message.
    pub async fn ask(
        &self,
        caller: &Caller,
        shop: &str,
        conversation_id: &str,
        text: &str,
    ) -> RobotVerdict {
        if self.broken() {
            return RobotVerdict::Unavailable;
        }
        let answer = traced("Match", async {
            let request = self.request(
                caller,
                pb::MatchRequest {
                    shop_id: shop.to_owned(),
                    query: text.to_owned(),
                    conversation_id: conversation_id.to_owned(),
                    knowledge_base: pb::KnowledgeBase::Shop as i32,
                },
            );
            self.client.clone().r#match(request).await
        })
        .await;
        match answer {
            Ok(r) => {
                let r = r.into_inner();
                match r.best {
                    Some(best) if r.auto_answer => RobotVerdict::Answered {
                        topic: match pb::Category::try_from(best.category) {
                            Ok(pb::Category::PreSale) => Some(Topic::PreSale),
                            Ok(pb::Category::AfterSale) => Some(Topic::AfterSale),
                            _ => None,
                        },
                        entry_id: best.entry_id,
                        answer: best.answer,
                        confidence: best.confidence,
                    },
                    best => RobotVerdict::NoAnswer {
                        confidence: best.map_or(0.0, |b| b.confidence),
                    },
                }
            }
            // A query faq-svc refuses (too long for it, say) is no outage: humans answer.
            Err(s) if !is_outage(s.code()) => RobotVerdict::NoAnswer { confidence: 0.0 },
            Err(s) => {
                self.failed("match", &s);
                RobotVerdict::Unavailable
            }
        }
    }

    /// R-FAQ-5: the shop's greeting and cards, or a plain greeting when faq-svc is down.
    pub async fn greeting(&self, caller: &Caller, shop: &str) -> BuyerNotice {
        let fallback = || BuyerNotice::Greeting {
            text: FALLBACK_GREETING.into(),
            cards: Vec::new(),
        };
        if self.broken() {
            return fallback();
        }
        let answer = traced("GetGreeting", async {
            let request = self.request(
                caller,
                pb::GetGreetingRequest {
                    shop_id: shop.to_owned(),
                },
            );
            self.client.clone().get_greeting(request).await
        })
        .await;
        match answer {
            Ok(r) => {
                let r = r.into_inner();
                BuyerNotice::Greeting {
                    text: if r.greeting.is_empty() {
                        FALLBACK_GREETING.into()
                    } else {
                        r.greeting
                    },
                    cards: r
                        .cards
                        .into_iter()
                        .map(|c| Card {
                            entry_id: c.entry_id,
                            question: c.question,
                        })
                        .collect(),
                }
            }
            Err(s) => {
                self.failed("greeting", &s);
                fallback()
            }
        }
    }

    /// The answer of a tapped card; faq-svc records the tap (R-FAQ-8).
    pub async fn tap_card(
        &self,
        caller: &Caller,
        shop: &str,
        conversation_id: &str,
        entry_id: &str,
    ) -> Result<String, tonic::Status> {
        let answer = traced("TapCard", async {
            let request = self.request(
                caller,
                pb::TapCardRequest {
                    shop_id: shop.to_owned(),
                    entry_id: entry_id.to_owned(),
                    conversation_id: conversation_id.to_owned(),
                },
            );
            self.client.clone().tap_card(request).await
        })
        .await;
        match answer {
            Ok(r) => Ok(r.into_inner().answer),
            Err(s) => {
                self.failed("tap card", &s);
                Err(s)
            }
        }
    }
}

/// Codes that say the callee (or the way to it) is failing, whatever was asked.
pub fn is_outage(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(
        code,
        Unavailable | DeadlineExceeded | Internal | Unknown | Cancelled | DataLoss
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hardening item 6: client errors never open the breaker.
    #[tokio::test]
    async fn only_outages_open_the_breaker() {
        let robot = Robot::new("http://127.0.0.1:9", Duration::from_secs(1)).unwrap();
        for code in [
            tonic::Code::NotFound,
            tonic::Code::InvalidArgument,
            tonic::Code::ResourceExhausted,
            tonic::Code::PermissionDenied,
            tonic::Code::FailedPrecondition,
        ] {
            robot.failed("tap card", &tonic::Status::new(code, "x"));
            assert!(!robot.broken(), "{code:?} opened the breaker");
        }
        assert_eq!(robot.failures(), 0);
        robot.failed("match", &tonic::Status::unavailable("down"));
        assert!(robot.broken());
    }
}
