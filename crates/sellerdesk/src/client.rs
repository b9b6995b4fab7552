//! A thin authenticated gRPC client, as any internal caller would write it.

use sellerdesk_api::compliance::v1::compliance_service_client::ComplianceServiceClient;
use sellerdesk_runtime::{auth::Claims, Role, TokenSigner};
use tonic::{metadata::MetadataValue, transport::Channel, Request};

pub async fn channel(endpoint: &str) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(endpoint.to_owned())?.connect().await?)
}

pub fn compliance(channel: Channel) -> ComplianceServiceClient<Channel> {
    ComplianceServiceClient::new(channel)
}

/// A token for `shop` (empty for the platform) valid for `hours`.
pub fn token(signer: &TokenSigner, shop: &str, role: Role, account: &str, hours: i64) -> String {
    signer.mint(&claims(shop, role, account, hours))
}

/// The claims of such a token.
pub fn claims(shop: &str, role: Role, account: &str, hours: i64) -> Claims {
    Claims {
        shop: shop.to_owned(),
        sub: account.to_owned(),
        role,
        exp: chrono::Utc::now().timestamp() + hours * 3600,
    }
}

/// A request carrying `authorization: Bearer <token>`.
pub fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().expect("token is ASCII");
    r.metadata_mut().insert("authorization", value);
    r
}

/// The canonical name of a gRPC code, as scenario files spell it.
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
