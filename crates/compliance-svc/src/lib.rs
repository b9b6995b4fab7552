//! compliance-svc: violation points, penalty tiers and appeals (R-CMP-1..12).
//!
//! It owns the compliance event log and nothing else. [`domain`] is pure
//! (decide/evolve, no I/O, no clock); [`app`] loads, decides and appends with
//! retries and keeps the read models; [`grpc`] maps the public API onto it.
//! It must never read another service's database: others learn of its changes
//! from the bus (`SellingRightsRevoked`, `SellingRightsRestored`, ...).

pub mod domain;
