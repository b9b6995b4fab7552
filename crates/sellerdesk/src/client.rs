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

/// The canonical name of a gRPC code, as scenario files spell it (and
/// metrics label it).
pub use sellerdesk_runtime::metrics::code_name;
