//! Why a domain refused a command, in the terms every service shares.

/// Why a service's domain refused a command. Plain data (no I/O): pure
/// domains return it; the runtime turns it into the gRPC status a client
/// sees, in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Bad input: each field (the request's own path) and why
    /// (INVALID_ARGUMENT with a BadRequest).
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
    /// The caller is known but may not do this, by a permission the domain
    /// holds (an agent's, R-CHAT-3): PERMISSION_DENIED naming it.
    #[error("{why}")]
    Denied {
        permission: &'static str,
        why: String,
    },
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

    /// The gRPC code's name this refusal is answered with.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => "INVALID_ARGUMENT",
            Refusal::NotFound { .. } => "NOT_FOUND",
            Refusal::AlreadyExists { .. } => "ALREADY_EXISTS",
            Refusal::Precondition { .. } => "FAILED_PRECONDITION",
            Refusal::LimitReached(_) => "RESOURCE_EXHAUSTED",
            Refusal::Denied { .. } => "PERMISSION_DENIED",
        }
    }

    /// The precondition's reason (`SELLING_RIGHTS_REVOKED`), the fields of
    /// an invalid request, or the code: what a test names a refusal by.
    pub fn names(&self) -> Vec<String> {
        match self {
            Refusal::Invalid(fields) => fields.iter().map(|(f, _)| f.clone()).collect(),
            Refusal::Precondition { reason, .. } => vec![(*reason).to_owned()],
            Refusal::Denied { permission, .. } => vec![(*permission).to_owned()],
            other => vec![other.code().to_owned()],
        }
    }
}
