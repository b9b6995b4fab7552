//! affiliate-svc.
pub mod domain;
