//! ads-svc: promotion orders (小店随心推) (R-ADS-1..13).
pub mod domain;
