//! The input guard: one place that refuses malformed requests for every RPC
//! of every service, before any handler runs, and turns a handler's panic
//! into an error instead of a dropped call.
//!
//! The rules are per kind of field, read from the request's own descriptor
//! (the one the server reflects), so a new RPC is guarded without a line of
//! code. A field's kind is told by its name, the convention the protos follow:
//!
//! | kind | fields | rule |
//! |---|---|---|
//! | id | `*_id`, elements of `*_ids` | at most [`MAX_ID_BYTES`] bytes; no white space, control or invisible formatting character (bidi overrides, zero-width); empty is left to the handler (absent) |
//! | short text | names, titles, codes, phones ([`SHORT_TEXT_FIELDS`]) | at most [`MAX_SHORT_TEXT_CHARS`] characters, no control character |
//! | text | every other string | at most [`MAX_TEXT_CHARS`] characters; no control character but tab and line breaks |
//! | page token | `page_token` | at most [`MAX_PAGE_TOKEN_BYTES`] bytes |
//! | list | every repeated field | at most [`MAX_LIST_LEN`] elements |
//! | enum | every enum field | one of the values the proto declares |
//! | timestamp | `google.protobuf.Timestamp` | years 1 to 9999, nanos 0..1e9 |
//! | floating point | `double`, `float` | finite |
//!
//! A request that is not valid protobuf (invalid UTF-8 in a string, a
//! truncated field) is INVALID_ARGUMENT too: it is the client's error, never
//! INTERNAL. Services keep their own, tighter rules (a shop id's alphabet, a
//! query's length); this is the floor under all of them. Field paths in the
//! BadRequest are the request's own (`spec.targeting.regions[3]`).

use crate::errors;
use bytes::{Buf, Bytes};
use futures::FutureExt;
use http_body_util::{BodyExt, Full, Limited};
use prost_reflect::{
    DescriptorPool, DynamicMessage, Kind, MessageDescriptor, MethodDescriptor, Value,
};
use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use tonic::{body::Body, Status};

pub const MAX_ID_BYTES: usize = 128;
pub const MAX_SHORT_TEXT_CHARS: usize = 200;
pub const MAX_TEXT_CHARS: usize = 10_000;
pub const MAX_PAGE_TOKEN_BYTES: usize = 1_024;
pub const MAX_LIST_LEN: usize = 1_000;
pub const MAX_BYTES_LEN: usize = 65_536;
/// The largest request message (tonic's own default decoding limit).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// BadRequest lists at most this many fields (the first ones found).
const MAX_VIOLATIONS: usize = 20;

/// Strings that name or label something: short.
pub const SHORT_TEXT_FIELDS: &[&str] = &[
    "name",
    "title",
    "buyer_name",
    "handle",
    "phone",
    "brand",
    "category",
    "region",
    "code",
    "violation_type",
    "time_zone",
    "date",
    "person",
    "representative",
    "age_band",
    "main_age_band",
    "preset_key",
    "transferred_by",
];

/// Why one field is refused, with the request's own path.
pub type Violation = (String, String);

/// The guard's rules for every method of the services in a descriptor set.
#[derive(Debug, Clone)]
pub struct InputGuard {
    methods: Arc<HashMap<String, MethodDescriptor>>,
}

impl InputGuard {
    /// Guards every method of every `sellerdesk.*` service in `descriptor_set`.
    pub fn new(descriptor_set: &[u8]) -> Result<Self, String> {
        let pool = DescriptorPool::decode(descriptor_set).map_err(|e| e.to_string())?;
        let methods = pool
            .services()
            .filter(|s| s.full_name().starts_with("sellerdesk."))
            .flat_map(|s| s.methods().collect::<Vec<_>>())
            .map(|m| {
                (
                    format!("/{}/{}", m.parent_service().full_name(), m.name()),
                    m,
                )
            })
            .collect();
        Ok(Self {
            methods: Arc::new(methods),
        })
    }

    /// The guard for this build's API.
    pub fn for_api() -> Self {
        Self::new(sellerdesk_api::FILE_DESCRIPTOR_SET).expect("the API's descriptor set decodes")
    }

    /// What is wrong with `message` (the encoded request of `path`), or
    /// nothing; `None` when `path` is not a guarded method.
    pub fn check(&self, path: &str, message: &[u8]) -> Option<Vec<Violation>> {
        let method = self.methods.get(path)?;
        Some(check_message(&method.input(), message))
    }
}

/// Every rule above, for one encoded message of type `descriptor`.
pub fn check_message(descriptor: &MessageDescriptor, message: &[u8]) -> Vec<Violation> {
    match DynamicMessage::decode(descriptor.clone(), message) {
        Err(e) => {
            let path = invalid_utf8_path(descriptor, message, 0).unwrap_or_else(|| {
                descriptor
                    .fields()
                    .next()
                    .map(|f| f.name().to_owned())
                    .unwrap_or_default()
            });
            vec![(path, not_protobuf(&e))]
        }
        Ok(decoded) => {
            let mut out = Vec::new();
            check_fields(&decoded, "", &mut out);
            out.truncate(MAX_VIOLATIONS);
            out
        }
    }
}

fn not_protobuf(e: &prost_reflect::prost::DecodeError) -> String {
    let text = e.to_string();
    if text.contains("UTF-8") {
        "not valid UTF-8".to_owned()
    } else {
        format!(
            "not a valid protobuf message: {}",
            errors::short(&text, 120)
        )
    }
}

fn read_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The field that made a message undecodable: the string whose bytes are not
/// UTF-8, found by walking the wire format with the descriptor; `None` when the
/// damage is elsewhere (a truncated varint, a bad tag).
fn invalid_utf8_path(descriptor: &MessageDescriptor, bytes: &[u8], depth: usize) -> Option<String> {
    if depth > 16 {
        return None;
    }
    for (number, value) in delimited_fields(bytes) {
        let Some(field) = descriptor.get_field(number) else {
            continue;
        };
        match field.kind() {
            Kind::String if std::str::from_utf8(value).is_err() => {
                return Some(field.name().to_owned());
            }
            Kind::Message(inner) => {
                if let Some(path) = invalid_utf8_path(&inner, value, depth + 1) {
                    return Some(format!("{}.{path}", field.name()));
                }
            }
            _ => {}
        }
    }
    None
}

/// The length-delimited fields (strings, bytes, messages) of an encoded
/// message in wire order, as (field number, bytes), read without its type;
/// the walk stops where the wire is damaged (a truncated varint or value, a
/// wire type that does not exist).
fn delimited_fields(message: &[u8]) -> impl Iterator<Item = (u32, &[u8])> + '_ {
    let mut buf = message;
    std::iter::from_fn(move || loop {
        if buf.is_empty() {
            return None;
        }
        let key = read_varint(&mut buf)?;
        match key & 7 {
            0 => {
                read_varint(&mut buf)?;
            }
            1 => buf = buf.get(8..)?,
            5 => buf = buf.get(4..)?,
            2 => {
                let len = usize::try_from(read_varint(&mut buf)?).ok()?;
                let value = buf.get(..len)?;
                buf = &buf[len..];
                return Some(((key >> 3) as u32, value));
            }
            _ => return None,
        }
    })
}

fn check_fields(message: &DynamicMessage, prefix: &str, out: &mut Vec<Violation>) {
    for (field, value) in message.fields() {
        if out.len() >= MAX_VIOLATIONS {
            return;
        }
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        match value {
            Value::List(items) => {
                if items.len() > MAX_LIST_LEN {
                    out.push((path, format!("at most {MAX_LIST_LEN} elements")));
                    continue;
                }
                // An element of `creator_ids` is an id, as `creator_id` is.
                let element = field.name().strip_suffix('s').unwrap_or(field.name());
                for (i, item) in items.iter().enumerate() {
                    check_value(&field.kind(), element, item, &format!("{path}[{i}]"), out);
                }
            }
            Value::Map(_) => {}
            single => check_value(&field.kind(), field.name(), single, &path, out),
        }
    }
}

fn check_value(kind: &Kind, name: &str, value: &Value, path: &str, out: &mut Vec<Violation>) {
    match (kind, value) {
        (_, Value::String(s)) => {
            if let Some(why) = string_problem(name, s) {
                out.push((path.to_owned(), why));
            }
        }
        (_, Value::Bytes(b)) if b.len() > MAX_BYTES_LEN => {
            out.push((path.to_owned(), format!("at most {MAX_BYTES_LEN} bytes")));
        }
        (Kind::Enum(e), Value::EnumNumber(n)) if e.get_value(*n).is_none() => {
            out.push((
                path.to_owned(),
                "not one of the values this field takes".to_owned(),
            ));
        }
        (_, Value::F64(f)) if !f.is_finite() => {
            out.push((path.to_owned(), "a finite number".to_owned()));
        }
        (_, Value::F32(f)) if !f.is_finite() => {
            out.push((path.to_owned(), "a finite number".to_owned()));
        }
        (Kind::Message(m), Value::Message(inner))
            if m.full_name() == "google.protobuf.Timestamp" =>
        {
            if let Some(why) = timestamp_problem(inner) {
                out.push((path.to_owned(), why));
            }
        }
        (_, Value::Message(inner)) => check_fields(inner, path, out),
        _ => {}
    }
}

/// The rule for a string field named `name`, or `None` when `s` keeps it.
pub fn string_problem(name: &str, s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    if name == "page_token" {
        return (s.len() > MAX_PAGE_TOKEN_BYTES)
            .then(|| format!("at most {MAX_PAGE_TOKEN_BYTES} bytes"));
    }
    if is_id_field(name) {
        return id_problem(s);
    }
    let (max, multiline) = if SHORT_TEXT_FIELDS.contains(&name) {
        (MAX_SHORT_TEXT_CHARS, false)
    } else {
        (MAX_TEXT_CHARS, true)
    };
    if s.chars().nth(max).is_some() {
        return Some(format!("at most {max} characters"));
    }
    let bad_control = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\t' | '\r'));
    if s.chars().any(bad_control) {
        return Some(if multiline {
            "no control characters but tab and line breaks".to_owned()
        } else {
            "no control characters".to_owned()
        });
    }
    None
}

/// `*_id` and `id`: identifiers, compared byte for byte.
pub fn is_id_field(name: &str) -> bool {
    name == "id" || name.ends_with("_id")
}

/// The one rule for an identifier: at most [`MAX_ID_BYTES`] bytes, nothing
/// that prints as nothing or as something else.
pub fn id_problem(s: &str) -> Option<String> {
    if s.len() > MAX_ID_BYTES {
        return Some(format!("at most {MAX_ID_BYTES} bytes"));
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_invisible_format(c))
    {
        return Some("no white space, control or invisible formatting characters".to_owned());
    }
    None
}

/// Unicode format characters that change how text displays without showing:
/// bidi controls, zero-width characters, the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

fn timestamp_problem(t: &DynamicMessage) -> Option<String> {
    let seconds = match t.get_field_by_name("seconds").as_deref() {
        Some(Value::I64(s)) => *s,
        _ => 0,
    };
    let nanos = match t.get_field_by_name("nanos").as_deref() {
        Some(Value::I32(n)) => *n,
        _ => 0,
    };
    // 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, as google.protobuf.Timestamp says.
    let in_range = (-62_135_596_800..=253_402_300_799).contains(&seconds)
        && (0..1_000_000_000).contains(&nanos);
    (!in_range).then(|| "a time from year 1 to 9999 with nanos 0 to 999,999,999".to_owned())
}

/// The tower layer that puts the guard, and the panic net, in front of every service.
#[derive(Debug, Clone)]
pub struct GuardLayer {
    guard: InputGuard,
    draining: Option<Draining>,
    forwarding: Option<Forwarding>,
}

/// Which requests go to the replica that owns their shop
/// ([`crate::ownership`]): the methods of one service whose request names
/// the shop in `shop_id`, field 1, live streams included: the owner's desk
/// feeds them as it commits, where another replica would learn of the
/// owner's commits only by polling the log.
#[derive(Debug, Clone)]
pub struct Forwarding {
    ownership: Arc<crate::ownership::Ownership>,
    /// Forwarded methods: whether each answers with a stream.
    methods: Arc<HashMap<String, bool>>,
}

impl Forwarding {
    pub fn by_shop(
        ownership: Arc<crate::ownership::Ownership>,
        guard: &InputGuard,
        service: &str,
    ) -> Self {
        let methods = guard
            .methods
            .iter()
            .filter(|(_, m)| {
                m.parent_service().full_name() == service
                    && !m.is_client_streaming()
                    && m.input()
                        .get_field(SHOP_FIELD)
                        .is_some_and(|f| f.name() == "shop_id" && f.kind() == Kind::String)
            })
            .map(|(path, m)| (path.clone(), m.is_server_streaming()))
            .collect();
        Self {
            ownership,
            methods: Arc::new(methods),
        }
    }

    /// Whether `path` is forwarded; tests and the docs list them.
    pub fn forwards(&self, path: &str) -> bool {
        self.methods.contains_key(path)
    }

    /// The owner's answer, or `None` when the request is served here: this
    /// replica owns the shop, the request was forwarded already, or the owner
    /// could not be reached.
    async fn route(
        &self,
        path: &str,
        parts: &http::request::Parts,
        body: &Bytes,
        draining: Option<&Draining>,
    ) -> Option<http::Response<Body>> {
        let streams = *self.methods.get(path)?;
        if parts.headers.contains_key(crate::ownership::FORWARDED) {
            return None;
        }
        let message = single_frame(body)?;
        // A shop's own roles may leave `shop_id` empty: their token names it.
        let shop = match string_field(&message, SHOP_FIELD) {
            Some(shop) => shop.to_owned(),
            None => crate::TokenVerifier::unverified_shop(&parts.headers)?,
        };
        let owner = self.ownership.owner(&shop)?;
        match self.ownership.forward(&owner, parts, body.clone()).await {
            Ok(response) => Some(match draining {
                // A stream relayed from the owner ends when this replica
                // stops, as its own streams do: the client resumes from its
                // last position through another replica.
                Some(d) if streams => response.map(|b| Body::new(EndsOnDrain::new(b, d.clone()))),
                _ => response,
            }),
            Err(e) => {
                tracing::warn!(rpc = %path, error = %e, "the shop's owner is unreachable: serving here");
                None
            }
        }
    }
}

/// The field number of `shop_id` in every request that names a shop.
const SHOP_FIELD: u32 = 1;

/// A relayed response body that ends with UNAVAILABLE once the server drains.
struct EndsOnDrain {
    inner: Body,
    drained: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ended: bool,
}

impl EndsOnDrain {
    fn new(inner: Body, draining: Draining) -> Self {
        let Draining(mut rx) = draining;
        Self {
            inner,
            drained: Box::pin(async move {
                // A closed sender means the server is gone: drained too.
                let _ = rx.wait_for(|d| *d).await;
            }),
            ended: false,
        }
    }
}

impl http_body::Body for EndsOnDrain {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.drained.as_mut().poll(cx).is_ready() {
            self.ended = true;
            let mut trailers = http::HeaderMap::new();
            let stopping = Status::unavailable(
                "the server is stopping: reconnect, resuming from your last position",
            );
            return Poll::Ready(Some(match stopping.add_header(&mut trailers) {
                Ok(()) => Ok(http_body::Frame::trailers(trailers)),
                Err(e) => Err(e),
            }));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.ended = true;
        }
        polled
    }
}

/// Becomes true when the server starts its graceful stop: live streams end
/// (UNAVAILABLE, resume from your position) so the stop is not held open by
/// a client. Handlers find it in the request's extensions.
#[derive(Debug, Clone)]
pub struct Draining(pub tokio::sync::watch::Receiver<bool>);

impl GuardLayer {
    pub fn new(guard: InputGuard) -> Self {
        Self {
            guard,
            draining: None,
            forwarding: None,
        }
    }

    /// Sends requests for a shop another replica owns to that replica.
    pub fn with_forwarding(mut self, forwarding: Option<Forwarding>) -> Self {
        self.forwarding = forwarding;
        self
    }

    /// Hands every request the server's drain signal.
    pub fn with_draining(mut self, draining: Draining) -> Self {
        self.draining = Some(draining);
        self
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guarded<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            guard: self.guard.clone(),
            draining: self.draining.clone(),
            forwarding: self.forwarding.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Guarded<S> {
    inner: S,
    guard: InputGuard,
    draining: Option<Draining>,
    forwarding: Option<Forwarding>,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for Guarded<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The clone is ready-polled on the next call; this one was polled now.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        let forwarding = self.forwarding.clone();
        let draining = self.draining.clone();
        if let Some(d) = &self.draining {
            request.extensions_mut().insert(d.clone());
        }
        Box::pin(async move {
            let started = std::time::Instant::now();
            let path = request.uri().path().to_owned();
            let known = guard.methods.contains_key(&path);
            // Only our own methods name a metric series: any other path a
            // client sends is counted together, so none can grow the set.
            let method = if known {
                path.trim_start_matches('/')
            } else {
                "other"
            };
            let answered = |headers: &http::HeaderMap| {
                crate::telemetry::record_grpc_status(headers);
                crate::metrics::record_request(
                    method,
                    crate::metrics::response_code(headers),
                    started.elapsed(),
                );
            };
            let request = if known {
                match screen(&guard, &path, request).await {
                    Ok((parts, body)) => {
                        if let Some(f) = &forwarding {
                            if let Some(response) =
                                f.route(&path, &parts, &body, draining.as_ref()).await
                            {
                                answered(response.headers());
                                return Ok(response);
                            }
                        }
                        http::Request::from_parts(parts, Body::new(Full::new(body)))
                    }
                    Err(status) => {
                        let response = status.into_http();
                        answered(response.headers());
                        return Ok(response);
                    }
                }
            } else {
                request
            };
            let response = match AssertUnwindSafe(inner.call(request)).catch_unwind().await {
                Ok(result) => result,
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(rpc = %path, panic = %what, "a handler panicked: this is a bug");
                    Ok(Status::internal("internal error").into_http())
                }
            };
            if let Ok(r) = &response {
                answered(r.headers());
            }
            response
        })
    }
}

/// Reads the request's one message, checks it, and hands the same bytes on.
async fn screen(
    guard: &InputGuard,
    path: &str,
    request: http::Request<Body>,
) -> Result<(http::request::Parts, Bytes), Status> {
    let (parts, body) = request.into_parts();
    let bytes = Limited::new(body, MAX_MESSAGE_BYTES + 5)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Status::resource_exhausted(format!(
                    "a request may be at most {MAX_MESSAGE_BYTES} bytes"
                ))
            } else {
                Status::cancelled("the request body did not arrive")
            }
        })?
        .to_bytes();
    if let Some(message) = single_frame(&bytes) {
        if let Some(violations) = guard.check(path, &message) {
            if !violations.is_empty() {
                let v: Vec<(&str, String)> = violations
                    .iter()
                    .map(|(f, w)| (f.as_str(), w.clone()))
                    .collect();
                return Err(errors::invalid_argument(&v));
            }
        }
    }
    Ok((parts, bytes))
}

/// The string in field `number` of an encoded message (the last one, as a
/// decoder keeps), read off the wire without the message's type; `None`
/// when it is absent or not UTF-8.
fn string_field(message: &[u8], number: u32) -> Option<&str> {
    delimited_fields(message)
        .filter(|(n, _)| *n == number)
        .last()
        .and_then(|(_, value)| std::str::from_utf8(value).ok())
}

/// The message of a body that is one uncompressed gRPC frame; `None` for
/// anything else (compressed, several frames), which tonic then decodes itself.
fn single_frame(body: &Bytes) -> Option<Bytes> {
    let mut b = body.clone();
    if b.remaining() < 5 || b.get_u8() != 0 {
        return None;
    }
    let len = b.get_u32() as usize;
    (b.remaining() == len).then(|| b.copy_to_bytes(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_what_prints_as_nothing_or_something_else() {
        for bad in [
            "a b",
            "a\u{0}b",
            "\u{7}",
            "x\u{202e}exe",
            "\u{200b}",
            "\u{feff}x",
            "   ",
        ] {
            assert!(id_problem(bad).is_some(), "{bad:?}");
        }
        assert!(id_problem(&"x".repeat(129)).is_some());
        for good in ["o-1", "订单-1", "a.b_c:d", &"x".repeat(128)] {
            assert_eq!(id_problem(good), None, "{good:?}");
        }
    }

    #[test]
    fn texts_have_a_size_and_no_control_characters() {
        assert_eq!(string_problem("answer", "第一行\n第二行\t"), None);
        assert!(string_problem("answer", "a\u{0}b").is_some());
        assert!(string_problem("answer", &"长".repeat(MAX_TEXT_CHARS + 1)).is_some());
        assert!(string_problem("title", &"长".repeat(MAX_SHORT_TEXT_CHARS + 1)).is_some());
        assert!(string_problem("title", "a\nb").is_some());
        assert!(string_problem("creator_id", "a b").is_some());
        assert_eq!(string_problem("conversation_id", ""), None);
    }

    fn guard() -> InputGuard {
        InputGuard::for_api()
    }

    fn encode<M: prost_reflect::prost::Message>(m: &M) -> Vec<u8> {
        m.encode_to_vec()
    }

    #[test]
    fn field_paths_are_the_requests_own() {
        use sellerdesk_api::ads::v1 as ads;
        let request = ads::PlaceOrderRequest {
            shop_id: "s".into(),
            order_id: "o 1".into(),
            spec: Some(ads::OrderSpec {
                objective: 99,
                targeting: Some(ads::Targeting {
                    regions: vec!["ok".into(), "a\u{0}b".into()],
                    ..Default::default()
                }),
                ..Default::default()
            }),
        };
        let v = guard()
            .check(
                "/sellerdesk.ads.v1.AdsService/PlaceOrder",
                &encode(&request),
            )
            .unwrap();
        let fields: Vec<&str> = v.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["order_id", "spec.objective", "spec.targeting.regions[1]"],
            "{v:?}"
        );
    }

    #[test]
    fn invalid_utf8_names_its_field() {
        // PlaceOrderRequest.order_id (field 2) with bytes that are not UTF-8.
        let raw = [0x12, 0x03, 0xff, 0xfe, 0x80];
        let v = guard()
            .check("/sellerdesk.ads.v1.AdsService/PlaceOrder", &raw)
            .unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].1, "not valid UTF-8");
        assert_eq!(v[0].0, "order_id", "{v:?}");
    }

    #[test]
    fn long_lists_and_bad_timestamps_are_refused() {
        use sellerdesk_api::compliance::v1 as c;
        let request = c::FileAppealRequest {
            attachments: vec!["a".into(); MAX_LIST_LEN + 1],
            ..Default::default()
        };
        let v = guard()
            .check(
                "/sellerdesk.compliance.v1.ComplianceService/FileAppeal",
                &encode(&request),
            )
            .unwrap();
        assert_eq!(v[0].0, "attachments");
        let request = c::GetStandingRequest {
            as_of: Some(prost_types::Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
            ..Default::default()
        };
        let v = guard()
            .check(
                "/sellerdesk.compliance.v1.ComplianceService/GetStanding",
                &encode(&request),
            )
            .unwrap();
        assert_eq!(v[0].0, "as_of");
        assert!(guard().check("/grpc.health.v1.Health/Check", &[]).is_none());
    }

    #[test]
    fn the_shop_is_read_off_the_wire() {
        use sellerdesk_api::chat::v1 as chat;
        let request = chat::SendBuyerMessageRequest {
            shop_id: "店-1".into(),
            conversation_id: "c-1".into(),
            text: "在吗".into(),
            ..Default::default()
        };
        assert_eq!(string_field(&encode(&request), 1), Some("店-1"));
        assert_eq!(
            string_field(&encode(&chat::SendBuyerMessageRequest::default()), 1),
            None
        );
        assert_eq!(string_field(&[0x0a, 0x05, b'a'], 1), None, "truncated");
        assert_eq!(
            string_field(&[0x0a, 0x01, b'a', 0x0a, 0x01, b'b'], 1),
            Some("b"),
            "the last"
        );
    }

    #[test]
    fn forwarding_takes_the_calls_that_name_a_shop() {
        let ownership = crate::ownership::Ownership::new("chat", "http://127.0.0.1:1".into());
        let f = Forwarding::by_shop(ownership, &guard(), "sellerdesk.chat.v1.ChatService");
        assert!(f.forwards("/sellerdesk.chat.v1.ChatService/SendBuyerMessage"));
        assert!(f.forwards("/sellerdesk.chat.v1.ChatService/ListConversations"));
        assert!(
            f.forwards("/sellerdesk.chat.v1.ChatService/WatchInbox"),
            "a live stream too"
        );
        assert!(
            !f.forwards("/sellerdesk.faq.v1.FaqService/Match"),
            "another service"
        );
        assert!(!f.forwards("/grpc.health.v1.Health/Check"));
    }

    /// A service whose every call panics, as a handler with a bug would.
    #[derive(Clone)]
    struct Panics;

    impl tower::Service<http::Request<Body>> for Panics {
        type Response = http::Response<Body>;
        type Error = std::convert::Infallible;
        type Future = BoxFuture<Result<Self::Response, Self::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            Box::pin(async { panic!("a bug in a handler") })
        }
    }

    fn grpc_status(response: &http::Response<Body>) -> Option<&str> {
        response.headers().get("grpc-status")?.to_str().ok()
    }

    /// Hardening item 4: a panic in a handler is INTERNAL for that call (and
    /// logged as a bug), not a dropped stream the client sees as CANCELLED.
    #[tokio::test]
    async fn a_panicking_handler_answers_internal() {
        use tower::{Layer, Service};
        let mut service = GuardLayer::new(guard()).layer(Panics);
        let request = http::Request::builder()
            .uri("/grpc.health.v1.Health/Check")
            .body(Body::empty())
            .unwrap();
        let response = service.call(request).await.unwrap();
        assert_eq!(grpc_status(&response), Some("13"));
        // A malformed request never reaches the handler.
        let mut framed = vec![0u8, 0, 0, 0, 5];
        framed.extend([0x12, 0x03, 0xff, 0xfe, 0x80]);
        let request = http::Request::builder()
            .uri("/sellerdesk.ads.v1.AdsService/PlaceOrder")
            .body(Body::new(Full::new(Bytes::from(framed))))
            .unwrap();
        let response = service.call(request).await.unwrap();
        assert_eq!(grpc_status(&response), Some("3"));
    }
}
