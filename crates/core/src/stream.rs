//! Stream names: one prefix per kind of stream, the shop (or other key) after it.

/// A kind of stream, e.g. `ads-account-` + the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamKind {
    pub prefix: &'static str,
    /// The schema version new events of this stream are written with.
    pub schema_version: i32,
}

impl StreamKind {
    pub const fn new(prefix: &'static str, schema_version: i32) -> Self {
        Self {
            prefix,
            schema_version,
        }
    }

    /// The stream of `key` (a shop id, a creator id).
    pub fn of(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The key of a stream of this kind.
    pub fn key_of<'a>(&self, stream: &'a str) -> Option<&'a str> {
        stream.strip_prefix(self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let kind = StreamKind::new("ads-account-", 1);
        assert_eq!(kind.of("shop-1"), "ads-account-shop-1");
        assert_eq!(kind.key_of("ads-account-shop-1"), Some("shop-1"));
        assert_eq!(kind.key_of("faq-kb-shop-1"), None);
    }
}
