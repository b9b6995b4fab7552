//! PRODUCER and CONSUMER spans for what the bus carries (OpenTelemetry's
//! messaging conventions). A message's `traceparent` is the trace of the
//! request that caused its event; the relay's PRODUCER span is that
//! request's child and the message goes out with the PRODUCER span's
//! context, so each consumer's CONSUMER span is the producer's child.
//!
//! Made only while traces are exported ([`set_exporting`]): the relay and
//! consumers move thousands of messages a second, and spans nobody reads
//! would cost them for nothing.

use crate::BusMessage;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::{
    collections::HashMap,
    sync::atomic::{AtomicBool, Ordering},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Turns messaging spans on (the process exports traces) or off.
pub fn set_exporting(on: bool) {
    EXPORTING.store(on, Ordering::Relaxed);
}

fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

struct One<'a>(Option<&'a str>);

impl Extractor for One<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0).flatten()
    }
    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

fn parent(span: &tracing::Span, traceparent: Option<&str>) {
    let context = TraceContextPropagator::new().extract(&One(traceparent));
    let _ = span.set_parent(context);
}

fn traceparent_of(span: &tracing::Span) -> Option<String> {
    struct Carrier(HashMap<String, String>);
    impl Injector for Carrier {
        fn set(&mut self, key: &str, value: String) {
            self.0.insert(key.to_owned(), value);
        }
    }
    let mut carrier = Carrier(HashMap::new());
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.0.remove("traceparent")
}

/// One PRODUCER span per message, each the child of its event's request;
/// the messages now carry their PRODUCER span's context. None while no
/// traces are exported.
pub fn produce(service: &str, messages: &mut [BusMessage]) -> Vec<tracing::Span> {
    if !exporting() {
        return Vec::new();
    }
    messages
        .iter_mut()
        .map(|m| {
            let span = tracing::info_span!(
                "bus.publish",
                otel.name = %format!("{} publish", m.subject),
                otel.kind = "producer",
                otel.status_code = tracing::field::Empty,
                messaging.system = "nats",
                messaging.operation.type = "publish",
                messaging.destination.name = %m.subject,
                messaging.message.id = %m.event_id,
                sellerdesk.service = %service,
            );
            parent(&span, m.traceparent.as_deref());
            if let Some(tp) = traceparent_of(&span) {
                m.traceparent = Some(tp);
            }
            span
        })
        .collect()
}

/// Marks every span of a batch that could not be published.
pub fn failed(spans: &[tracing::Span]) {
    for s in spans {
        s.record("otel.status_code", "ERROR");
    }
}

/// The CONSUMER span for handling `message` in `consumer`, child of its
/// PRODUCER span; a disabled span while no traces are exported.
pub fn consume(consumer: &str, message: &BusMessage) -> tracing::Span {
    if !exporting() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "bus.process",
        otel.name = %format!("{} process", message.subject),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "nats",
        messaging.operation.type = "process",
        messaging.destination.name = %message.subject,
        messaging.consumer.group.name = %consumer,
        messaging.message.id = %message.event_id,
    );
    parent(&span, message.traceparent.as_deref());
    span
}
