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
