//! How a snapshot's body is stored: as text, or from [`COMPRESS_FROM`] bytes
//! on lz4-compressed by the store with the text column left empty.
//!
//! A 100,000-event compliance shop's snapshot is ~3.8 MB of JSON; the
//! database compressing and storing that as text was a quarter of a rebuild
//! (PostgreSQL ~50 ms, SQLite ~30-40 ms). lz4 here takes a few milliseconds
//! and leaves ~1 MB to store. Callers see a `String` either way.

use crate::StoreError;

/// Bodies at least this long are stored compressed.
pub(crate) const COMPRESS_FROM: usize = 64 * 1024;

/// The two stored columns of a body: text, and the compressed form.
pub(crate) fn pack(body: &str) -> (&str, Option<Vec<u8>>) {
    if body.len() < COMPRESS_FROM {
        (body, None)
    } else {
        ("", Some(lz4_flex::compress_prepend_size(body.as_bytes())))
    }
}

/// The body from its two stored columns.
pub(crate) fn unpack(
    key: &str,
    text: String,
    compressed: Option<Vec<u8>>,
) -> Result<String, StoreError> {
    let Some(compressed) = compressed else {
        return Ok(text);
    };
    let corrupt = |what: String| StoreError::Corrupt(format!("snapshot {key:?}: {what}"));
    let bytes =
        lz4_flex::decompress_size_prepended(&compressed).map_err(|e| corrupt(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| corrupt("body is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_bodies_are_compressed_and_come_back_whole() {
        let small = r#"{"points":3}"#;
        assert_eq!(pack(small), (small, None));
        let large =
            "{\"rows\":[".to_owned() + &"[\"违规\",1,1577836800000000000,0],".repeat(4000) + "]}";
        let (text, compressed) = pack(&large);
        assert_eq!(text, "");
        let compressed = compressed.expect("compressed");
        assert!(compressed.len() < large.len() / 4);
        assert_eq!(
            unpack("k", String::new(), Some(compressed.clone())).unwrap(),
            large
        );
        assert_eq!(unpack("k", small.into(), None).unwrap(), small);
        // Damaged bytes are an error, never a wrong body.
        let mut damaged = compressed;
        damaged.truncate(damaged.len() / 2);
        assert!(unpack("k", String::new(), Some(damaged)).is_err());
    }
}
