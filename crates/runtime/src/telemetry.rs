//! Logs and traces. JSON or pretty logs through `tracing`; spans exported over
//! OTLP when an endpoint is configured; W3C trace context taken from incoming
//! gRPC metadata and handed on in event metadata (and so in NATS headers).

use crate::config::{Config, LogFormat};
use opentelemetry::{
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TracerProvider as _,
};
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SdkTracerProvider};
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

/// Keeps the trace exporter alive; flushes on drop.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Installs the global subscriber. Call once per process.
pub fn init(config: &Config, service_name: &str) -> Result<TelemetryGuard, String> {
    let filter = EnvFilter::try_new(&config.log_filter).map_err(|e| format!("log filter: {e}"))?;
    let fmt = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    // Spans always carry OpenTelemetry context, so trace ids flow from gRPC
    // metadata into events and NATS headers even when nothing is exported.
    let mut builder = SdkTracerProvider::builder().with_resource(
        opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name.to_owned())
            .build(),
    );
    if let Some(endpoint) = &config.otlp_endpoint {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| format!("OTLP exporter: {e}"))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("sellerdesk"));
    let provider = Some(provider);
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    // Messaging spans (one per message) only when someone reads them.
    sellerdesk_bus::traced::set_exporting(config.otlp_endpoint.is_some());
    // The log filter quiets the log output only; spans (and so trace context)
    // exist regardless. Traces keep INFO and above: request and handler spans
    // carry the context, while DEBUG/TRACE callsites (a span or event per SQL
    // query, per HTTP/2 frame) would cost every request for nothing anyone
    // reads, and leaving them enabled would keep them hot process-wide.
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel.with_filter(tracing_subscriber::filter::LevelFilter::INFO))
        .try_init()
        .map_err(|e| format!("telemetry already initialised: {e}"))?;
    Ok(TelemetryGuard { provider })
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The span of one incoming gRPC call, child of the caller's trace if its
/// metadata carries `traceparent`: a SERVER span named
/// `package.Service/Method`, with the OpenTelemetry RPC attributes; its
/// status code is recorded when the answer is known ([`record_grpc_status`]).
pub fn grpc_request_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path().trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    let span = tracing::info_span!(
        "grpc.request",
        otel.name = %path,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        shop_id = tracing::field::Empty,
    );
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    let _ = span.set_parent(parent);
    span
}

/// The span of one outgoing gRPC call (service to service): a CLIENT span
/// with the RPC attributes; [`record_client_status`] ends it with the code.
pub fn grpc_client_span(service: &str, method: &str) -> tracing::Span {
    tracing::info_span!(
        "grpc.call",
        otel.name = %format!("{service}/{method}"),
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
    )
}

/// Records an outgoing call's outcome on `span`: any failure is an error
/// for the caller.
pub fn record_client_status(span: &tracing::Span, code: tonic::Code) {
    span.record("rpc.grpc.status_code", code as i32);
    if code != tonic::Code::Ok {
        span.record("otel.status_code", "ERROR");
    }
}

/// Records the answer's gRPC status on the current request span. A status
/// the server is to blame for marks the span an error; a caller's mistake
/// (INVALID_ARGUMENT, NOT_FOUND, ...) does not (OpenTelemetry's RPC
/// conventions). A streaming answer's status comes in its trailers, later:
/// the span records OK for the stream's start.
pub fn record_grpc_status(headers: &http::HeaderMap) {
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0);
    let span = tracing::Span::current();
    span.record("rpc.grpc.status_code", code);
    use tonic::Code;
    if matches!(
        Code::from_i32(code),
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    ) {
        span.record("otel.status_code", "ERROR");
    }
}

/// The current span's W3C `traceparent`, if it belongs to a sampled trace.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let mut carrier: HashMap<String, String> = HashMap::new();
    struct Carrier<'a>(&'a mut HashMap<String, String>);
    impl Injector for Carrier<'_> {
        fn set(&mut self, key: &str, value: String) {
            self.0.insert(key.to_owned(), value);
        }
    }
    TraceContextPropagator::new().inject_context(&context, &mut Carrier(&mut carrier));
    carrier.remove("traceparent")
}

/// Carries the current trace into an outgoing gRPC call (service to service),
/// so the callee's span joins the caller's trace.
pub fn inject_traceparent(metadata: &mut tonic::metadata::MetadataMap) {
    if let Some(tp) = current_traceparent().and_then(|tp| tp.parse().ok()) {
        metadata.insert("traceparent", tp);
    }
}
