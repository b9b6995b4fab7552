//! Per-shop state a replica keeps in memory, with a bound (R-X-4: memory
//! does not grow with the number of shops). When an entry is added past the
//! bound, the least recently used idle entries go; the owner says what idle
//! means (nobody holds it, nothing waits on it) and reloads an entry from
//! the log when it is asked for again. faq-svc also keeps the sentence
//! model's question vectors in one, keyed by the question's text (decision
//! 0026): there every entry is idle, and a dropped one is embedded again.

use std::{collections::HashMap, sync::Arc};

/// Entries by shop, at most `bound` of those that can go.
#[derive(Debug)]
pub struct Bounded<V> {
    bound: usize,
    tick: u64,
    held: HashMap<String, (Arc<V>, u64)>,
    idle: fn(&Arc<V>) -> bool,
}

impl<V> Bounded<V> {
    /// At most `bound` entries (at least one); `idle` says which may go.
    /// An entry held elsewhere (`Arc::strong_count > 1`) never goes.
    pub fn new(bound: usize, idle: fn(&Arc<V>) -> bool) -> Self {
        Self {
            bound: bound.max(1),
            tick: 0,
            held: HashMap::new(),
            idle,
        }
    }

    /// The entry of `shop`, now the most recently used.
    pub fn get(&mut self, shop: &str) -> Option<Arc<V>> {
        self.tick += 1;
        let (entry, used) = self.held.get_mut(shop)?;
        *used = self.tick;
        Some(entry.clone())
    }

    /// The entry of `shop`, made by `make` if there is none.
    pub fn get_or_insert_with(&mut self, shop: &str, make: impl FnOnce() -> V) -> Arc<V> {
        if let Some(entry) = self.get(shop) {
            return entry;
        }
        let entry = Arc::new(make());
        self.insert(shop, entry.clone());
        entry
    }

    /// Adds `entry` for `shop`, first letting idle entries go if full.
    pub fn insert(&mut self, shop: &str, entry: Arc<V>) {
        if self.held.len() >= self.bound {
            self.evict();
        }
        self.tick += 1;
        self.held.insert(shop.to_owned(), (entry, self.tick));
    }

    /// Drops the least recently used tenth of the idle entries (at least
    /// enough to make room), so eviction costs one scan per tenth of the bound.
    fn evict(&mut self) {
        let idle = self.idle;
        let mut candidates: Vec<(u64, String)> = self
            .held
            .iter()
            .filter(|(_, (entry, _))| Arc::strong_count(entry) == 1 && idle(entry))
            .map(|(shop, (_, used))| (*used, shop.clone()))
            .collect();
        candidates.sort_unstable();
        let excess = (self.held.len() + 1).saturating_sub(self.bound);
        let drop = excess.max(self.bound / 10).min(candidates.len());
        for (_, shop) in candidates.into_iter().take(drop) {
            self.held.remove(&shop);
        }
    }

    /// Takes `shop`'s entry out, whether or not it is idle.
    pub fn remove(&mut self, shop: &str) -> Option<Arc<V>> {
        self.held.remove(shop).map(|(entry, _)| entry)
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Every entry held now.
    pub fn entries(&self) -> Vec<Arc<V>> {
        self.held.values().map(|(e, _)| e.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_idle_entries_go_and_held_ones_stay() {
        let mut shops: Bounded<u32> = Bounded::new(3, |e| **e != 0);
        let held = shops.get_or_insert_with("a", || 1);
        shops.get_or_insert_with("b", || 0); // never idle
        shops.get_or_insert_with("c", || 1);
        shops.get("c");
        shops.get_or_insert_with("d", || 1);
        assert_eq!(shops.len(), 3);
        assert!(shops.get("a").is_some(), "held elsewhere: stays");
        assert!(shops.get("b").is_some(), "not idle: stays");
        assert!(
            shops.get("c").is_none(),
            "the least recently used idle one went"
        );
        drop(held);
        shops.get_or_insert_with("e", || 1);
        assert!(shops.len() <= 3);
    }
}
