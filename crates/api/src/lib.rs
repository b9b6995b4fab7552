//! The public gRPC API of sellerdesk, generated at build time from `proto/`.
//!
//! This crate owns no behaviour: it is the wire contract shared by the servers,
//! the `sellerdesk` binary's clients (scenario runner, load drivers) and tests.
//! Never hand-edit generated types; change the `.proto` files instead.

#![allow(unreachable_pub, missing_debug_implementations, clippy::all)]

/// Encoded `FileDescriptorSet` of every sellerdesk proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/sellerdesk_descriptor.bin"));

pub mod common {
    pub mod v1 {
        tonic::include_proto!("sellerdesk.common.v1");
    }
}

pub mod compliance {
    pub mod v1 {
        tonic::include_proto!("sellerdesk.compliance.v1");
    }
}

pub mod faq {
    pub mod v1 {
        tonic::include_proto!("sellerdesk.faq.v1");
    }
}

pub mod chat {
    pub mod v1 {
        tonic::include_proto!("sellerdesk.chat.v1");
    }
}

pub mod ads {
    pub mod v1 {
        tonic::include_proto!("sellerdesk.ads.v1");
    }
}

pub mod affiliate {
    pub mod v1 {
        tonic::include_proto!("sellerdesk.affiliate.v1");
    }
}
