//! The machinery every sellerdesk service stands on, written once.
//!
//! Configuration ([`config`]), telemetry with trace propagation ([`telemetry`]),
//! bearer-token authentication and the shop boundary of R-X-1 ([`auth`]), the
//! clock that domain code never reads directly ([`clock`]), gRPC errors with
//! field details ([`errors`]) and the server bootstrap with health, reflection,
//! deadlines and graceful shutdown ([`server`]). No business rule lives here.

pub mod auth;
pub mod bounded;
pub mod clock;
pub mod command;
pub mod config;
pub mod errors;
pub mod guard;
pub mod host;
pub mod lease;
pub mod metrics;
pub mod ownership;
pub mod page;
pub mod peer;
pub mod records;
pub mod server;
pub mod telemetry;
pub mod wire;

pub use auth::{Caller, Role, TokenSigner, TokenVerifier};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
