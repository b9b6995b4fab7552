//! Compiles `proto/` with protox (pure Rust), so no system `protoc` is needed.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not baked in when it compiles: a target
    // directory shared by two checkouts would otherwise reuse the script
    // built for the other one, with its path.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "sellerdesk/common/v1/common.proto",
        "sellerdesk/compliance/v1/compliance.proto",
        "sellerdesk/faq/v1/faq.proto",
        "sellerdesk/chat/v1/chat.proto",
        "sellerdesk/ads/v1/ads.proto",
        "sellerdesk/affiliate/v1/affiliate.proto",
    ];
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("sellerdesk_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
