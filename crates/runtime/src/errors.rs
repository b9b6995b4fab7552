//! gRPC errors with machine-readable details (google.rpc.BadRequest and friends).

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// How much of a caller's value an error quotes: enough to recognise it, never
/// so much that the status outgrows gRPC's metadata limit (8 KiB by default
/// in clients) and the caller sees RESOURCE_EXHAUSTED instead of the real code.
pub const QUOTE_CHARS: usize = 48;
/// The longest explanation an error carries.
pub const WHY_CHARS: usize = 300;

/// At most `max` characters of `s`, with an ellipsis where it was cut.
pub fn short(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

/// A caller's value as errors quote it.
pub fn quote(s: &str) -> String {
    format!("{:?}", short(s, QUOTE_CHARS))
}

/// INVALID_ARGUMENT naming every bad field and why.
pub fn invalid_argument(violations: &[(&str, String)]) -> Status {
    let mut details = ErrorDetails::new();
    let violations: Vec<(String, String)> = violations
        .iter()
        .take(20)
        .map(|(f, w)| (short(f, 120), short(w, WHY_CHARS)))
        .collect();
    for (field, why) in &violations {
        details.add_bad_request_violation(field.clone(), why.clone());
    }
    let message = violations
        .iter()
        .map(|(f, w)| format!("{f}: {w}"))
        .collect::<Vec<_>>()
        .join("; ");
    Status::with_error_details(Code::InvalidArgument, short(&message, 1_000), details)
}

/// FAILED_PRECONDITION with a PreconditionFailure detail (type, subject, why).
pub fn failed_precondition(kind: &str, subject: &str, why: String) -> Status {
    let mut details = ErrorDetails::new();
    let why = short(&why, WHY_CHARS);
    details.add_precondition_failure_violation(kind, short(subject, QUOTE_CHARS), why.clone());
    Status::with_error_details(Code::FailedPrecondition, why, details)
}

/// NOT_FOUND with a ResourceInfo detail. Also the answer for another shop's
/// resources, so a caller cannot learn they exist (R-X-1).
pub fn not_found(resource_type: &str, name: &str) -> Status {
    let mut details = ErrorDetails::new();
    let quoted = quote(name);
    details.set_resource_info(
        resource_type,
        short(name, QUOTE_CHARS),
        "",
        format!("no {resource_type} {quoted}"),
    );
    Status::with_error_details(
        Code::NotFound,
        format!("{resource_type} {quoted} not found"),
        details,
    )
}

/// ALREADY_EXISTS with a ResourceInfo detail.
pub fn already_exists(resource_type: &str, name: &str, why: String) -> Status {
    let mut details = ErrorDetails::new();
    let why = short(&why, WHY_CHARS);
    details.set_resource_info(resource_type, short(name, QUOTE_CHARS), "", why.clone());
    Status::with_error_details(Code::AlreadyExists, why, details)
}

/// INTERNAL without leaking the cause to the caller; the cause is logged.
pub fn internal(cause: impl std::fmt::Display) -> Status {
    tracing::error!(error = %cause, "internal error");
    Status::internal("internal error")
}

pub use sellerdesk_core::Refusal;

/// A domain's refusal as the gRPC status a client sees: the one mapping.
pub fn refused(r: Refusal) -> Status {
    match r {
        Refusal::Invalid(fields) => {
            let v: Vec<(&str, String)> = fields
                .iter()
                .map(|(f, w)| (f.as_str(), w.clone()))
                .collect();
            invalid_argument(&v)
        }
        Refusal::NotFound { kind, id } => not_found(kind, &id),
        Refusal::AlreadyExists { kind, id } => already_exists(
            kind,
            &id,
            format!("{kind} {} already exists with other content", quote(&id)),
        ),
        Refusal::Precondition {
            reason,
            subject,
            why,
        } => failed_precondition(reason, &subject, why),
        Refusal::LimitReached(why) => Status::resource_exhausted(short(&why, WHY_CHARS)),
        Refusal::Denied { why, .. } => Status::permission_denied(short(&why, WHY_CHARS)),
    }
}

/// Why a command or a read did not go through: the domain refused it, the
/// store failed, or the stream kept changing under it. Every service answers
/// with these, mapped to gRPC in one place ([`From<AppError> for Status`]).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Domain(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] sellerdesk_eventstore::StoreError),
    /// Every attempt met a concurrent append (ABORTED: the client retries).
    #[error("stream {0} kept changing under this command; try again")]
    Contended(String),
    /// The shop's single writer is restarting (UNAVAILABLE: retry).
    #[error("the writer of shop {0} is restarting; retry")]
    Stopped(String),
}

impl From<sellerdesk_eventstore::AppendError> for AppError {
    fn from(e: sellerdesk_eventstore::AppendError) -> Self {
        match e {
            sellerdesk_eventstore::AppendError::Store(s) => AppError::Store(s),
            other => AppError::Store(sellerdesk_eventstore::StoreError::Corrupt(
                other.to_string(),
            )),
        }
    }
}

impl From<AppError> for Status {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Domain(r) => refused(r),
            // The cause is logged, never sent: it may name tables or hosts.
            AppError::Store(s) if sellerdesk_eventstore::unavailable(&s) => {
                tracing::warn!(error = %s, "database unavailable");
                Status::unavailable("the database is unavailable; retry")
            }
            AppError::Store(s) => internal(s),
            AppError::Contended(stream) => Status::aborted(format!(
                "{} kept changing; retry the command",
                short(&stream, 80)
            )),
            AppError::Stopped(shop) => Status::unavailable(format!(
                "the writer of shop {} is restarting; retry",
                quote(&shop)
            )),
        }
    }
}

/// [`From<AppError> for Status`] as a function, for `map_err`.
pub fn to_status(e: AppError) -> Status {
    e.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    /// Hardening item 8: an error quotes at most a short prefix of what the
    /// caller sent, so the status always fits gRPC's metadata limit and the
    /// client sees the real code.
    #[test]
    fn errors_quote_a_short_prefix_of_the_input() {
        let huge = "x".repeat(1_000_000);
        for status in [
            not_found("entry", &huge),
            refused(Refusal::AlreadyExists {
                kind: "order",
                id: huge.clone(),
            }),
            invalid_argument(&[("query", format!("{huge} is too long"))]),
            failed_precondition("NOT_IN_REVIEW", &huge, huge.clone()),
        ] {
            assert!(status.message().len() < 1_100, "{}", status.message().len());
            assert!(status.details().len() < 2_000, "{}", status.details().len());
        }
        let s = not_found("entry", &huge);
        assert!(s.message().contains("xxxx…"));
        assert_eq!(
            s.get_details_resource_info()
                .unwrap()
                .resource_name
                .chars()
                .count(),
            QUOTE_CHARS + 1
        );
        assert_eq!(short("短文本", 10), "短文本");
    }
}
