//! chat-svc: buyer conversations, customer-service agents and routing,
//! robot-first replies through faq-svc, live inboxes and response-time
//! metrics (R-CHAT-1..11).
//!
//! It owns the chat event log and nothing else: it asks faq-svc over gRPC and
//! never reads faq-svc's data (R-X-2). [`domain`] is pure (decide and apply,
//! no I/O, no clock).

pub mod domain;
