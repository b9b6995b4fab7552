//! Bearer tokens naming shop, account and role, and the shop boundary (R-X-1).
//!
//! Tokens are standard JWTs (RFC 7519) signed with EdDSA (Ed25519) or RS256
//! and verified against a JWKS (RFC 7517): services hold only public keys, so
//! any identity provider a platform already runs can issue them, and keys
//! rotate by `kid`. The claims are `sub` (the account), `shop`, `role`, `exp`,
//! `aud` and `jti` (so one token can be revoked). [`TokenSigner`] mints
//! development tokens with a local key pair (`sellerdesk up` creates one,
//! `sellerdesk token` uses it); production tokens come from the platform's issuer.
//!
//! The [`Authenticator`] interceptor verifies a token once per call and
//! leaves a [`Caller`] in the request extensions; handlers ask the caller
//! which shop they may act for ([`Caller::shop`]) and whether the role may do
//! something ([`Caller::require`]). Those two functions are the whole of
//! R-X-1 and the role checks: no handler compares shop ids itself.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use jsonwebtoken::{
    jwk::{AlgorithmParameters, Jwk, JwkSet},
    Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::{
    collections::{HashMap, HashSet},
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};
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
    #[serde(default)]
    pub shop: String,
    /// The account acting.
    pub sub: String,
    pub role: Role,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
}

/// The audience sellerdesk's tokens are for, unless configured otherwise.
pub const DEFAULT_AUDIENCE: &str = "sellerdesk";

/// The claims as they travel: the domain's [`Claims`] and the JWT's own.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    #[serde(flatten)]
    claims: Claims,
    #[serde(default)]
    iat: i64,
    aud: String,
    #[serde(default)]
    jti: String,
}

/// An Ed25519 key pair that mints tokens (development, tests, benchmarks).
/// Production services never hold one: they verify with [`TokenVerifier`].
#[derive(Clone)]
pub struct TokenSigner {
    seed: [u8; 32],
    public: [u8; 32],
    kid: String,
    encoding: EncodingKey,
    audience: String,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenSigner {{ kid: {:?}, key: <hidden> }}", self.kid)
    }
}

/// PKCS#8 v1 for an Ed25519 private key: this fixed prefix, then the 32-byte seed (RFC 8410).
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A private key as a JWK file holds it (RFC 8037).
#[derive(Debug, Serialize, Deserialize)]
struct PrivateJwk {
    kty: String,
    crv: String,
    kid: String,
    x: String,
    d: String,
}

impl TokenSigner {
    /// A key derived from `seed` (tests and embedded benchmarks: the same seed,
    /// the same key).
    pub fn new(seed: impl AsRef<[u8]>) -> Self {
        Self::from_seed(Sha256::digest(seed.as_ref()).into())
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        use rand::Rng;
        Self::from_seed(rand::rng().random())
    }

    fn from_seed(seed: [u8; 32]) -> Self {
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
            .expect("any 32 bytes are an Ed25519 seed");
        let public: [u8; 32] = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .try_into()
            .expect("Ed25519 public keys are 32 bytes");
        let mut pkcs8 = ED25519_PKCS8_PREFIX.to_vec();
        pkcs8.extend_from_slice(&seed);
        // kid: a digest of the public key, so rotated keys never collide.
        let kid = B64.encode(&Sha256::digest(public)[..12]);
        Self {
            seed,
            public,
            kid,
            encoding: EncodingKey::from_ed_der(&pkcs8),
            audience: DEFAULT_AUDIENCE.to_owned(),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Mints a token with a fresh `jti`.
    pub fn mint(&self, claims: &Claims) -> String {
        self.mint_with_id(claims, &uuid::Uuid::now_v7().to_string())
    }

    /// Mints a token whose `jti` is `token_id` (to revoke it later by that id).
    pub fn mint_with_id(&self, claims: &Claims, token_id: &str) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let wire = Wire {
            claims: claims.clone(),
            iat: chrono::Utc::now().timestamp(),
            aud: self.audience.clone(),
            jti: token_id.to_owned(),
        };
        jsonwebtoken::encode(&header, &wire, &self.encoding).expect("Ed25519 signing does not fail")
    }

    /// The public half, as a JWK.
    pub fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": self.kid, "x": B64.encode(self.public),
        })
    }

    /// A verifier that trusts this key alone.
    pub fn verifier(&self) -> TokenVerifier {
        let jwks: JwkSet =
            serde_json::from_value(serde_json::json!({ "keys": [self.public_jwk()] }))
                .expect("a JWK set of one Ed25519 key");
        TokenVerifier::from_jwks(&jwks, DEFAULT_AUDIENCE).expect("our own key is usable")
    }

    /// Reads a private JWK file, refusing one that others may read.
    pub fn load(path: &Path) -> Result<Self, String> {
        check_private(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let jwk: PrivateJwk = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a private JWK: {e}", path.display()))?;
        let seed: [u8; 32] = B64
            .decode(jwk.d.as_bytes())
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| format!("{}: `d` is not a 32-byte Ed25519 key", path.display()))?;
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return Err(format!(
                "{}: only Ed25519 (OKP) signing keys are supported",
                path.display()
            ));
        }
        Ok(Self::from_seed(seed))
    }

    /// Writes the private key (mode 0600) and the public JWKS beside it.
    pub fn save(&self, private: &Path, jwks: &Path) -> Result<(), String> {
        let jwk = PrivateJwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            kid: self.kid.clone(),
            x: B64.encode(self.public),
            d: B64.encode(self.seed),
        };
        write_private(
            private,
            &serde_json::to_string_pretty(&jwk).expect("serialises"),
        )?;
        let set = serde_json::json!({ "keys": [self.public_jwk()] });
        std::fs::write(
            jwks,
            serde_json::to_string_pretty(&set).expect("serialises"),
        )
        .map_err(|e| format!("{}: {e}", jwks.display()))
    }

    /// The key pair in `dir` (`signing-key.jwk`, `jwks.json`), created on
    /// first use: what `sellerdesk up` and `sellerdesk token` share.
    pub fn load_or_create(dir: &Path) -> Result<Self, String> {
        let private = dir.join(SIGNING_KEY_FILE);
        if private.exists() {
            return Self::load(&private);
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let signer = Self::generate();
        signer.save(&private, &dir.join(JWKS_FILE))?;
        Ok(signer)
    }
}

/// File names in the development key directory.
pub const SIGNING_KEY_FILE: &str = "signing-key.jwk";
pub const JWKS_FILE: &str = "jwks.json";
pub const REVOKED_FILE: &str = "revoked-tokens";

/// Writes a secret readable by its owner alone (0600), replacing any file.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Refuses a secret file that its group or others may read (hardening item 7).
pub fn check_private(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} is readable by others (mode {:o}): a secret must be 0600 (chmod 600 it)",
                path.display(),
                mode & 0o777
            ));
        }
    }
    Ok(())
}

/// Public keys by `kid`, the ids of revoked tokens, and the tokens whose
/// signature was checked already.
#[derive(Default)]
struct Trust {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    revoked: HashSet<String>,
    /// A client sends the same token with every call; checking an Ed25519
    /// signature costs tens of microseconds, so a token checked once is
    /// remembered (its claims and `jti`) until the keys change. Expiry and
    /// revocation are still checked on every use.
    verified: std::sync::Mutex<HashMap<String, (Claims, String)>>,
}

/// Tokens remembered at most; the memory is forgotten whole past it.
const VERIFIED_CACHE: usize = 10_000;

/// Where the verifier reloads its keys and revocations from.
#[derive(Debug, Clone)]
struct Sources {
    jwks: PathBuf,
    revoked: Option<PathBuf>,
    seen: Arc<RwLock<(Option<SystemTime>, Option<SystemTime>)>>,
}

/// Verifies tokens against a JWKS; holds public keys only.
#[derive(Clone)]
pub struct TokenVerifier {
    trust: Arc<RwLock<Trust>>,
    audience: String,
    sources: Option<Sources>,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let trust = self.trust.read().expect("trust lock");
        f.debug_struct("TokenVerifier")
            .field("kids", &trust.keys.keys().collect::<Vec<_>>())
            .field("revoked", &trust.revoked.len())
            .field("audience", &self.audience)
            .finish()
    }
}

fn algorithm_of(jwk: &Jwk) -> Result<Algorithm, String> {
    match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(_) => Ok(Algorithm::EdDSA),
        AlgorithmParameters::RSA(_) => Ok(Algorithm::RS256),
        _ => Err("only EdDSA (OKP) and RS256 (RSA) keys are accepted".into()),
    }
}

fn parse_jwks(jwks: &JwkSet) -> Result<HashMap<String, (DecodingKey, Algorithm)>, String> {
    let mut keys = HashMap::new();
    for jwk in &jwks.keys {
        let kid = jwk
            .common
            .key_id
            .clone()
            .ok_or("every key in the JWKS needs a `kid`")?;
        let alg = algorithm_of(jwk).map_err(|e| format!("key {kid:?}: {e}"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {kid:?}: {e}"))?;
        keys.insert(kid, (key, alg));
    }
    if keys.is_empty() {
        return Err("the JWKS has no keys".into());
    }
    Ok(keys)
}

fn read_revoked(path: &Path) -> Result<HashSet<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl TokenVerifier {
    pub fn from_jwks(jwks: &JwkSet, audience: &str) -> Result<Self, String> {
        Ok(Self {
            trust: Arc::new(RwLock::new(Trust {
                keys: parse_jwks(jwks)?,
                ..Trust::default()
            })),
            audience: audience.to_owned(),
            sources: None,
        })
    }

    /// Keys from a JWKS file and revoked token ids from a file of one `jti` a
    /// line; [`TokenVerifier::refresh`] rereads both when they change (a
    /// Kubernetes Secret or ConfigMap mount is updated in place).
    pub fn from_files(jwks: &Path, revoked: Option<&Path>, audience: &str) -> Result<Self, String> {
        let verifier = Self {
            trust: Arc::new(RwLock::new(Trust::default())),
            audience: audience.to_owned(),
            sources: Some(Sources {
                jwks: jwks.to_owned(),
                revoked: revoked.map(Path::to_owned),
                seen: Arc::new(RwLock::new((None, None))),
            }),
        };
        verifier.refresh()?;
        Ok(verifier)
    }

    /// Rereads the files if they changed. A file that no longer parses keeps
    /// the keys already loaded (and says why).
    pub fn refresh(&self) -> Result<(), String> {
        let Some(sources) = &self.sources else {
            return Ok(());
        };
        let now = (
            modified(&sources.jwks),
            sources.revoked.as_deref().and_then(modified),
        );
        if *sources.seen.read().expect("seen lock") == now && now.0.is_some() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&sources.jwks)
            .map_err(|e| format!("{}: {e}", sources.jwks.display()))?;
        let jwks: JwkSet = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a JWKS: {e}", sources.jwks.display()))?;
        let keys = parse_jwks(&jwks).map_err(|e| format!("{}: {e}", sources.jwks.display()))?;
        let revoked = match &sources.revoked {
            Some(p) => read_revoked(p)?,
            None => HashSet::new(),
        };
        *self.trust.write().expect("trust lock") = Trust {
            keys,
            revoked,
            ..Trust::default()
        };
        *sources.seen.write().expect("seen lock") = now;
        Ok(())
    }

    /// Rereads the files every `every` until the process ends.
    pub fn spawn_refresh(&self, every: Duration) {
        if self.sources.is_none() {
            return;
        }
        let verifier = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = verifier.refresh() {
                    tracing::warn!(error = %e, "token keys not reloaded; keeping the last good ones");
                }
            }
        });
    }

    /// Revokes one token by its `jti` (in this process; the file is what
    /// every replica reads).
    pub fn revoke(&self, token_id: &str) {
        self.trust
            .write()
            .expect("trust lock")
            .revoked
            .insert(token_id.to_owned());
    }

    /// The `shop` claim of a request's bearer token, read without checking
    /// anything: only to choose which replica serves a request that leaves
    /// `shop_id` to its token ([`crate::ownership`]). The replica that serves
    /// it verifies the token as always; a forged claim only picks the replica.
    pub fn unverified_shop(headers: &http::HeaderMap) -> Option<String> {
        #[derive(Deserialize)]
        struct ShopClaim {
            #[serde(default)]
            shop: String,
        }
        let token = headers
            .get("authorization")?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        let payload = B64.decode(token.split('.').nth(1)?).ok()?;
        let claim: ShopClaim = serde_json::from_slice(&payload).ok()?;
        Some(claim.shop).filter(|s| !s.is_empty())
    }

    /// Checks signature, key, audience, expiry (`now` in Unix seconds) and revocation.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, String> {
        let trust = self.trust.read().expect("trust lock");
        let remembered = trust
            .verified
            .lock()
            .expect("verified lock")
            .get(token)
            .cloned();
        if let Some((claims, jti)) = remembered {
            return Self::still_valid(&trust, claims, &jti, now);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed token")?;
        let kid = header.kid.ok_or("the token names no key (`kid`)")?;
        let (key, alg) = trust.keys.get(&kid).ok_or("the token's key is unknown")?;
        if header.alg != *alg {
            return Err("the token's algorithm does not fit its key".into());
        }
        let mut validation = Validation::new(*alg);
        validation.set_audience(&[&self.audience]);
        // Expiry is checked below against the caller's clock, not the library's.
        validation.validate_exp = false;
        validation.required_spec_claims = ["sub", "aud"].into_iter().map(String::from).collect();
        let data = jsonwebtoken::decode::<Wire>(token, key, &validation)
            .map_err(|e| format!("token refused: {e}"))?;
        let wire = data.claims;
        if wire.claims.role != Role::Platform && wire.claims.shop.is_empty() {
            return Err("token names no shop".into());
        }
        {
            let mut verified = trust.verified.lock().expect("verified lock");
            if verified.len() >= VERIFIED_CACHE {
                verified.clear();
            }
            verified.insert(token.to_owned(), (wire.claims.clone(), wire.jti.clone()));
        }
        Self::still_valid(&trust, wire.claims, &wire.jti, now)
    }

    /// What a signed token must still be at `now`: unexpired, unrevoked.
    fn still_valid(trust: &Trust, claims: Claims, jti: &str, now: i64) -> Result<Claims, String> {
        if claims.exp <= now {
            return Err("token expired".into());
        }
        if !jti.is_empty() && trust.revoked.contains(jti) {
            return Err("token revoked".into());
        }
        Ok(claims)
    }
}

/// The verified caller of one request.
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    pub claims: Claims,
    /// The bearer token it came with, to pass on to a service called on its
    /// behalf (chat-svc asking faq-svc): services mint nothing themselves.
    pub token: String,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

impl Caller {
    pub fn role(&self) -> Role {
        self.claims.role
    }

    pub fn account(&self) -> &str {
        &self.claims.sub
    }

    /// A caller with these claims (tests).
    pub fn with_claims(claims: Claims) -> Self {
        Self {
            claims,
            token: String::new(),
        }
    }

    /// Seconds since the Unix epoch at which the caller's token expires.
    pub fn expires_at(&self) -> i64 {
        self.claims.exp
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
    verifier: TokenVerifier,
}

impl Authenticator {
    pub fn new(verifier: TokenVerifier) -> Self {
        Self { verifier }
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
        let token = token.trim().to_owned();
        let claims = self
            .verifier
            .verify(&token, chrono::Utc::now().timestamp())
            .map_err(Status::unauthenticated)?;
        // A shop's token names its shop; the platform's names none, and the
        // handler records the shop the request is about.
        if !claims.shop.is_empty() {
            tracing::Span::current().record("shop_id", claims.shop.as_str());
        }
        request.extensions_mut().insert(Caller { claims, token });
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
    fn the_shop_a_token_names_picks_the_replica_without_a_check() {
        let signer = TokenSigner::new("t");
        let mut headers = http::HeaderMap::new();
        assert_eq!(TokenVerifier::unverified_shop(&headers), None);
        let token = signer.mint(&claims("店-1", Role::Owner));
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        assert_eq!(
            TokenVerifier::unverified_shop(&headers).as_deref(),
            Some("店-1")
        );
        let platform = signer.mint(&claims("", Role::Platform));
        headers.insert(
            "authorization",
            format!("Bearer {platform}").parse().unwrap(),
        );
        assert_eq!(TokenVerifier::unverified_shop(&headers), None);
        headers.insert("authorization", "Bearer not.a-token".parse().unwrap());
        assert_eq!(TokenVerifier::unverified_shop(&headers), None);
    }

    /// Hardening item 5: standard JWTs, verified with public keys only;
    /// another key, a tampered body, an expired or revoked token are refused.
    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let signer = TokenSigner::new("s3cret");
        let verifier = signer.verifier();
        let token = signer.mint(&claims("shop-a", Role::Owner));
        assert_eq!(
            token.split('.').count(),
            3,
            "a JWT: header.claims.signature"
        );
        assert_eq!(
            verifier.verify(&token, 0).unwrap(),
            claims("shop-a", Role::Owner)
        );
        // Another key pair with the same kid would not verify; an unknown kid is refused.
        assert!(TokenSigner::new("other")
            .verifier()
            .verify(&token, 0)
            .is_err());
        let parts: Vec<&str> = token.split('.').collect();
        let mut body: serde_json::Value =
            serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        body["role"] = "platform".into();
        let forged = format!("{}.{}.{}", parts[0], B64.encode(body.to_string()), parts[2]);
        assert!(verifier.verify(&forged, 0).is_err());
        assert_eq!(
            verifier.verify(&token, 2_000_000_000).unwrap_err(),
            "token expired"
        );
        let revocable = signer.mint_with_id(&claims("shop-a", Role::Owner), "t-1");
        // Verified once (and remembered), then revoked: refused from then on.
        assert!(verifier.verify(&revocable, 0).is_ok());
        verifier.revoke("t-1");
        assert_eq!(verifier.verify(&revocable, 0).unwrap_err(), "token revoked");
        assert!(verifier.verify(&token, 0).is_ok(), "only that token");
        // A symmetric (HS256) token is never accepted, whatever its kid.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(signer.kid().to_owned());
        let hs = jsonwebtoken::encode(
            &header,
            &serde_json::json!({"sub": "x", "role": "platform", "exp": 2_000_000_000, "aud": "sellerdesk"}),
            &EncodingKey::from_secret(b"guess"),
        )
        .unwrap();
        assert!(verifier.verify(&hs, 0).is_err());
    }

    /// Hardening item 7: the signing key is written 0600, and a key file that
    /// others may read is refused.
    #[test]
    fn the_signing_key_is_private_and_a_readable_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let signer = TokenSigner::load_or_create(dir.path()).unwrap();
        let again = TokenSigner::load_or_create(dir.path()).unwrap();
        assert_eq!(signer.kid(), again.kid(), "the same key after a restart");
        let key = dir.path().join(SIGNING_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(TokenSigner::load(&key)
                .unwrap_err()
                .contains("readable by others"));
        }
        // Services read only the public JWKS, and see key rotation and revocation.
        let jwks = dir.path().join(JWKS_FILE);
        let revoked = dir.path().join(REVOKED_FILE);
        let verifier = TokenVerifier::from_files(&jwks, Some(&revoked), DEFAULT_AUDIENCE).unwrap();
        let token = signer.mint_with_id(&claims("s", Role::Owner), "t-9");
        assert!(verifier.verify(&token, 0).is_ok());
        std::fs::write(&revoked, "t-9\n").unwrap();
        verifier.refresh().unwrap();
        assert_eq!(verifier.verify(&token, 0).unwrap_err(), "token revoked");
        let rotated = TokenSigner::generate();
        rotated.save(&dir.path().join("k2.jwk"), &jwks).unwrap();
        // mtime granularity: force the change to be seen.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&revoked, "").unwrap();
        verifier.refresh().unwrap();
        assert!(verifier
            .verify(&rotated.mint(&claims("s", Role::Owner)), 0)
            .is_ok());
        assert!(
            verifier.verify(&token, 0).is_err(),
            "the old key was rotated out"
        );
    }

    #[test]
    fn interceptor_requires_a_valid_bearer_token() {
        let signer = TokenSigner::new("k");
        let mut auth = Authenticator::new(signer.verifier());
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
        let caller = Caller::of(&passed).unwrap();
        assert_eq!(caller.claims.shop, "shop-a");
        assert_eq!(caller.token, token);
    }

    #[test]
    fn r_x_1_a_shop_caller_never_reaches_another_shop() {
        let owner = Caller::with_claims(claims("shop-a", Role::Owner));
        assert_eq!(owner.shop("", "shop_id").unwrap(), "shop-a");
        assert_eq!(owner.shop("shop-a", "shop_id").unwrap(), "shop-a");
        assert_eq!(
            owner.shop("shop-b", "shop_id").unwrap_err().code(),
            Code::NotFound
        );
        let platform = Caller::with_claims(claims("", Role::Platform));
        assert_eq!(platform.shop("shop-b", "shop_id").unwrap(), "shop-b");
        assert_eq!(
            platform.shop("", "shop_id").unwrap_err().code(),
            Code::InvalidArgument
        );
    }

    #[test]
    fn roles_are_enforced() {
        let agent = Caller::with_claims(claims("shop-a", Role::Agent));
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
