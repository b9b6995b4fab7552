//! The `sellerdesk` binary's pieces, as a library so tests drive them too:
//! starting services ([`stack`]), the compliance scenario runner ([`scenario`]),
//! load drivers ([`bench`], [`load`]) and gRPC client helpers ([`client`]).

pub mod bench;
pub mod client;
pub mod creators;
pub mod load;
pub mod scenario;
pub mod stack;
