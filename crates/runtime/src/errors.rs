//! gRPC errors with machine-readable details (google.rpc.BadRequest and friends).

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// INVALID_ARGUMENT naming every bad field and why.
pub fn invalid_argument(violations: &[(&str, String)]) -> Status {
    let mut details = ErrorDetails::new();
    for (field, why) in violations {
        details.add_bad_request_violation(*field, why.clone());
    }
    let message = violations
        .iter()
        .map(|(f, w)| format!("{f}: {w}"))
        .collect::<Vec<_>>()
        .join("; ");
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// FAILED_PRECONDITION with a PreconditionFailure detail (type, subject, why).
pub fn failed_precondition(kind: &str, subject: &str, why: String) -> Status {
    let mut details = ErrorDetails::new();
    details.add_precondition_failure_violation(kind, subject, why.clone());
    Status::with_error_details(Code::FailedPrecondition, why, details)
}

/// NOT_FOUND with a ResourceInfo detail. Also the answer for another shop's
/// resources, so a caller cannot learn they exist (R-X-1).
pub fn not_found(resource_type: &str, name: &str) -> Status {
    let mut details = ErrorDetails::new();
    details.set_resource_info(
        resource_type,
        name,
        "",
        format!("no {resource_type} {name:?}"),
    );
    Status::with_error_details(
        Code::NotFound,
        format!("{resource_type} {name:?} not found"),
        details,
    )
}

/// ALREADY_EXISTS with a ResourceInfo detail.
pub fn already_exists(resource_type: &str, name: &str, why: String) -> Status {
    let mut details = ErrorDetails::new();
    details.set_resource_info(resource_type, name, "", why.clone());
    Status::with_error_details(Code::AlreadyExists, why, details)
}

/// INTERNAL without leaking the cause to the caller; the cause is logged.
pub fn internal(cause: impl std::fmt::Display) -> Status {
    tracing::error!(error = %cause, "internal error");
    Status::internal("internal error")
}

/// Why a service's domain refused a command, in the terms every service
/// shares. Plain data (no I/O): pure domains return it, and the one
/// conversion below turns it into the gRPC status a client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Bad input: each field and why (INVALID_ARGUMENT with a BadRequest).
    #[error("invalid: {0:?}")]
    Invalid(Vec<(String, String)>),
    /// NOT_FOUND; also what another shop's resource looks like (R-X-1).
    #[error("no {kind} {id:?}")]
    NotFound { kind: &'static str, id: String },
    /// The id is taken by other content (ALREADY_EXISTS); the same content
    /// again is a retry and is not refused.
    #[error("{kind} {id:?} already exists with other content")]
    AlreadyExists { kind: &'static str, id: String },
    /// The state forbids it (FAILED_PRECONDITION with a PreconditionFailure
    /// whose type is `reason`).
    #[error("{why}")]
    Precondition {
        reason: &'static str,
        subject: String,
        why: String,
    },
    /// A configured limit (RESOURCE_EXHAUSTED).
    #[error("{0}")]
    LimitReached(String),
}

impl Refusal {
    pub fn invalid(field: &str, why: impl Into<String>) -> Self {
        Refusal::Invalid(vec![(field.to_owned(), why.into())])
    }

    pub fn precondition(reason: &'static str, subject: &str, why: impl Into<String>) -> Self {
        Refusal::Precondition {
            reason,
            subject: subject.to_owned(),
            why: why.into(),
        }
    }
}

impl From<Refusal> for Status {
    fn from(r: Refusal) -> Self {
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
                format!("{kind} {id:?} already exists with other content"),
            ),
            Refusal::Precondition {
                reason,
                subject,
                why,
            } => failed_precondition(reason, &subject, why),
            Refusal::LimitReached(why) => Status::resource_exhausted(why),
        }
    }
}
