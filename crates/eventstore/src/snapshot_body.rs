//! How a snapshot's body is stored: as text, or from [`COMPRESS_FROM`] bytes
//! on lz4-compressed by the store with the text column left empty.
//!
//! A 100,000-event compliance shop's snapshot is ~3.8 MB of JSON; the
//! database compressing and storing that as text was a quarter of a rebuild
//! (PostgreSQL ~50 ms, SQLite ~30-40 ms). lz4 here takes a few milliseconds
//! and leaves ~1 MB to store. Callers see a `String` either way.

use crate::{
    documents::{Bind, Dialect},
    StoreError,
};

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

/// The key range `[prefix, end)` that holds exactly the keys starting with
/// `prefix`, compared byte by byte (UTF-8 bytes sort as code points do): the
/// prefix with its last character replaced by the next one. `None` when
/// nothing bounds it (an empty prefix, or one of only the last code point).
///
/// Why a range and not `left(key, n) = prefix`: a range is one index scan;
/// the function is a scan of the whole table, which holds every desk and
/// shop snapshot, on every ownership refresh of every replica.
pub(crate) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// What is done to the snapshots whose key starts with a prefix.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ByPrefix {
    /// Read them, in key order.
    Load,
    /// Delete them (the count is the rows affected).
    Delete,
}

/// The statement for [`ByPrefix`] in `dialect`, and what it binds: the
/// range `[prefix, end)` over the key compared byte by byte.
pub(crate) fn by_prefix_sql(
    what: ByPrefix,
    dialect: &Dialect,
    prefix: &str,
) -> (String, Vec<Bind>) {
    let key = dialect.key_bytes;
    let mut binds = vec![Bind::Text(prefix.to_owned())];
    let mut range = format!("{key} >= {}", (dialect.placeholder)(1));
    if let Some(end) = prefix_end(prefix) {
        binds.push(Bind::Text(end));
        range += &format!(" AND {key} < {}", (dialect.placeholder)(2));
    }
    let sql = match what {
        ByPrefix::Load => format!(
            "SELECT key, version, position, body, body_lz4 FROM snapshots WHERE {range} ORDER BY key"
        ),
        ByPrefix::Delete => format!("DELETE FROM snapshots WHERE {range}"),
    };
    (sql, binds)
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

    #[test]
    fn a_prefix_range_ends_at_the_next_character() {
        assert_eq!(prefix_end("chat:desk/").as_deref(), Some("chat:desk0"));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("ab\u{10FFFF}").as_deref(), Some("ac"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("\u{10FFFF}"), None);
    }
}
