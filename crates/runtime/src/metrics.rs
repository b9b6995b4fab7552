//! The metrics every service exports, and the `/metrics` endpoint that
//! Prometheus scrapes on its own port (`metrics_port`), apart from gRPC so a
//! scrape never competes with calls for a connection or a deadline.

pub use sellerdesk_metrics::{render, Counter, Gauge, Histogram, LATENCY_BUCKETS, WAIT_BUCKETS};
use std::{sync::LazyLock, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

static REQUESTS: LazyLock<Counter> = LazyLock::new(|| {
    Counter::new(
        "sellerdesk_grpc_requests_total",
        "gRPC calls answered, by method and status code.",
        &["method", "code"],
    )
});

static LATENCY: LazyLock<Histogram> = LazyLock::new(|| {
    Histogram::new(
        "sellerdesk_grpc_request_duration_seconds",
        "Time to answer a gRPC call (to the response headers for a stream), by method.",
        &["method"],
        LATENCY_BUCKETS,
    )
});

/// Counts one answered call. `method` must come from a fixed set (the
/// guard passes "other" for a path that is not one of ours), so a client
/// cannot grow the series without bound.
pub fn record_request(method: &str, code: tonic::Code, took: Duration) {
    REQUESTS.inc(&[method, code_name(code)]);
    LATENCY.observe(&[method], took);
}

/// The code as gRPC writes it (`INVALID_ARGUMENT`).
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The gRPC status a response's headers carry (OK when it has none yet: a
/// stream that started).
pub fn response_code(headers: &http::HeaderMap) -> tonic::Code {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from_i32)
}

/// Starts the `/metrics` endpoint if the configuration asks for one.
pub async fn start(config: &crate::Config) -> Result<(), String> {
    let Some(port) = config.metrics_port else {
        return Ok(());
    };
    let listener = TcpListener::bind((config.host.as_str(), port))
        .await
        .map_err(|e| format!("metrics port {}:{port}: {e}", config.host))?;
    tracing::info!(port, "metrics at /metrics");
    tokio::spawn(serve(listener));
    Ok(())
}

/// Serves `GET /metrics` on `listener` for ever: a plain HTTP/1.1 answer per
/// connection, which is all a scraper needs.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        tokio::spawn(async move {
            let mut request = Vec::with_capacity(512);
            let mut buf = [0u8; 1024];
            // Read the request head only (a scrape has no body); give up on
            // a slow or oversized one.
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                true
            })
            .await;
            if !matches!(read, Ok(true)) {
                return;
            }
            let line = request.split(|b| *b == b'\r').next().unwrap_or_default();
            let mut parts = line.split(|b| *b == b' ');
            let (method, path) = (parts.next(), parts.next());
            let path = path.map(|p| p.split(|b| *b == b'?').next().unwrap_or_default());
            let (status, content_type, body) = match (method, path) {
                (Some(b"GET"), Some(b"/metrics")) => (
                    "200 OK",
                    sellerdesk_metrics::CONTENT_TYPE,
                    sellerdesk_metrics::render(),
                ),
                (Some(b"GET"), _) => ("404 Not Found", "text/plain", "GET /metrics\n".into()),
                _ => (
                    "405 Method Not Allowed",
                    "text/plain",
                    "GET /metrics\n".into(),
                ),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
            let _ = socket.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_endpoint_serves_what_was_recorded() {
        record_request(
            "sellerdesk.test.v1.T/Call",
            tonic::Code::InvalidArgument,
            Duration::from_millis(3),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(serve(listener));
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let page = get("/metrics").await;
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains(
            "sellerdesk_grpc_requests_total{method=\"sellerdesk.test.v1.T/Call\",code=\"INVALID_ARGUMENT\"} 1"
        ));
        assert!(page.contains(
            "sellerdesk_grpc_request_duration_seconds_bucket{method=\"sellerdesk.test.v1.T/Call\",le=\"0.005\"} 1"
        ));
        assert!(get("/other").await.starts_with("HTTP/1.1 404"));
        server.abort();
    }
}
