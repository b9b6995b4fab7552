//! Bearer tokens naming shop, account and role, and the shop boundary (R-X-1).
//!
//! A token is `sd1.<claims>.<mac>`: base64url JSON claims and their
//! HMAC-SHA256 under the deployment's secret. The [`Authenticator`] interceptor
//! verifies it once per call and leaves a [`Caller`] in the request extensions;
//! handlers ask the caller which shop they may act for ([`Caller::shop`]) and
//! whether the role may do something ([`Caller::require`]). Those two functions
//! are the whole of R-X-1 and the role checks: no handler compares shop ids itself.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use tonic::{Request, Status};

/// Who a caller is to a shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The shop's main account (店铺主账号).
    Owner,
    /// A sub-account with full management rights (总管理员).
    Admin,
    /// A customer-service sub-account (客服专员).
    Agent,
    /// The platform itself: presets, violation judgements, reviews. Acts for any shop.
    Platform,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Platform => "platform",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "agent" => Ok(Role::Agent),
            "platform" => Ok(Role::Platform),
            other => Err(format!(
                "unknown role {other:?}: owner, admin, agent or platform"
            )),
        }
    }
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The shop; empty for the platform role.
    pub shop: String,
    /// The account acting.
    pub sub: String,
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
}

/// Mints and verifies tokens with one secret.
#[derive(Clone)]
pub struct TokenSigner {
    secret: Vec<u8>,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSigner { secret: <hidden> }")
    }
}

const PREFIX: &str = "sd1";

impl TokenSigner {
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self {
            secret: secret.as_ref().to_vec(),
        }
    }

    fn mac(&self, data: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(data.as_bytes());
        mac
    }

    pub fn mint(&self, claims: &Claims) -> String {
        let body = B64.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let signed = format!("{PREFIX}.{body}");
        let tag = B64.encode(self.mac(&signed).finalize().into_bytes());
        format!("{signed}.{tag}")
    }

    /// Checks signature and expiry (`now` in Unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, String> {
        let (signed, tag) = token.rsplit_once('.').ok_or("malformed token")?;
        let body = signed.strip_prefix("sd1.").ok_or("unknown token format")?;
        let tag = B64.decode(tag).map_err(|_| "malformed token signature")?;
        self.mac(signed)
            .verify_slice(&tag)
            .map_err(|_| "bad token signature")?;
        let claims: Claims =
            serde_json::from_slice(&B64.decode(body).map_err(|_| "malformed token")?)
                .map_err(|_| "malformed token claims")?;
        if claims.exp <= now {
            return Err("token expired".into());
        }
        if claims.role != Role::Platform && claims.shop.is_empty() {
            return Err("token names no shop".into());
        }
        Ok(claims)
    }
}

/// The verified caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub claims: Claims,
}

impl Caller {
    pub fn role(&self) -> Role {
        self.claims.role
    }

    pub fn account(&self) -> &str {
        &self.claims.sub
    }

    /// The caller of a request that passed the [`Authenticator`].
    pub fn of<T>(request: &Request<T>) -> Result<Caller, Status> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("missing credentials"))
    }

    /// The shop this request acts for (R-X-1). Shop roles act for their own
    /// shop: an empty `requested` means it, another shop's id answers NOT_FOUND,
    /// exactly as a shop that does not exist would. The platform must name one.
    pub fn shop(&self, requested: &str, field: &str) -> Result<String, Status> {
        match self.claims.role {
            Role::Platform if requested.is_empty() => Err(crate::errors::invalid_argument(&[(
                field,
                "the platform role must name the shop it acts for".into(),
            )])),
            Role::Platform => Ok(requested.to_owned()),
            _ if requested.is_empty() || requested == self.claims.shop => {
                Ok(self.claims.shop.clone())
            }
            _ => Err(crate::errors::not_found("shop", requested)),
        }
    }

    /// PERMISSION_DENIED unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], action: &str) -> Result<(), Status> {
        if roles.contains(&self.claims.role) {
            Ok(())
        } else {
            let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(Status::permission_denied(format!(
                "{action} needs role {}; the caller is {}",
                allowed.join(" or "),
                self.claims.role.as_str()
            )))
        }
    }
}

/// Interceptor: verifies `authorization: Bearer <token>` and stores the [`Caller`].
#[derive(Debug, Clone)]
pub struct Authenticator {
    signer: TokenSigner,
}

impl Authenticator {
    pub fn new(signer: TokenSigner) -> Self {
        Self { signer }
    }
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <token>"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .ok_or_else(|| Status::unauthenticated("authorization must be Bearer <token>"))?;
        let claims = self
            .signer
            .verify(token.trim(), chrono::Utc::now().timestamp())
            .map_err(Status::unauthenticated)?;
        tracing::Span::current().record("shop_id", claims.shop.as_str());
        request.extensions_mut().insert(Caller { claims });
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::{service::Interceptor, Code};

    fn claims(shop: &str, role: Role) -> Claims {
        Claims {
            shop: shop.into(),
            sub: "acct".into(),
            role,
            exp: 2_000_000_000,
        }
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let signer = TokenSigner::new("s3cret");
        let token = signer.mint(&claims("shop-a", Role::Owner));
        assert_eq!(
            signer.verify(&token, 0).unwrap(),
            claims("shop-a", Role::Owner)
        );
        assert!(TokenSigner::new("other").verify(&token, 0).is_err());
        let forged = token.replacen("sd1.", "sd1.x", 1);
        assert!(signer.verify(&forged, 0).is_err());
        assert_eq!(
            signer.verify(&token, 2_000_000_000).unwrap_err(),
            "token expired"
        );
    }

    #[test]
    fn interceptor_requires_a_valid_bearer_token() {
        let signer = TokenSigner::new("k");
        let mut auth = Authenticator::new(signer.clone());
        assert_eq!(
            auth.call(Request::new(())).unwrap_err().code(),
            Code::Unauthenticated
        );
        let mut bad = Request::new(());
        bad.metadata_mut()
            .insert("authorization", "Bearer nope".parse().unwrap());
        assert_eq!(auth.call(bad).unwrap_err().code(), Code::Unauthenticated);
        let mut good = Request::new(());
        let token = signer.mint(&claims("shop-a", Role::Agent));
        good.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let passed = auth.call(good).unwrap();
        assert_eq!(Caller::of(&passed).unwrap().claims.shop, "shop-a");
    }

    #[test]
    fn r_x_1_a_shop_caller_never_reaches_another_shop() {
        let owner = Caller {
            claims: claims("shop-a", Role::Owner),
        };
        assert_eq!(owner.shop("", "shop_id").unwrap(), "shop-a");
        assert_eq!(owner.shop("shop-a", "shop_id").unwrap(), "shop-a");
        assert_eq!(
            owner.shop("shop-b", "shop_id").unwrap_err().code(),
            Code::NotFound
        );
        let platform = Caller {
            claims: claims("", Role::Platform),
        };
        assert_eq!(platform.shop("shop-b", "shop_id").unwrap(), "shop-b");
        assert_eq!(
            platform.shop("", "shop_id").unwrap_err().code(),
            Code::InvalidArgument
        );
    }

    #[test]
    fn roles_are_enforced() {
        let agent = Caller {
            claims: claims("shop-a", Role::Agent),
        };
        assert_eq!(
            agent
                .require(&[Role::Owner, Role::Admin], "filing an appeal")
                .unwrap_err()
                .code(),
            Code::PermissionDenied
        );
        assert!(agent.require(&[Role::Agent], "reading").is_ok());
    }
}
