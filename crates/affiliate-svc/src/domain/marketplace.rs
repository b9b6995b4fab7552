//! R-AFF-2 and R-AFF-5: the creator marketplace (达人广场). Profiles come from
//! the platform; reliability comes from what happens in every shop's
//! outreach: samples shipped and the content that followed, invitations and
//! how fast they were answered.
//!
//! A platform holds millions of creators and every search looks at all of
//! them, so the marketplace is kept compact (decision 0014): the strings
//! that repeat across creators (categories, regions, brands, age bands) are
//! interned once, a creator is one flat record in a vector, and a search is
//! one pass over it that counts every match and keeps only the page it
//! returns (a bounded heap), never sorting the whole result.

use super::{CreatorProfile, Event, Fen, Instant};
use serde::{Deserialize, Serialize};
use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
};

/// R-AFF-5: folded from events, never typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreatorMetrics {
    pub samples_shipped: u32,
    /// Samples that led to the agreed video or live stream by the deadline.
    pub samples_fulfilled: u32,
    /// Samples whose deadline passed first (R-AFF-6): content posted late,
    /// or none by the time these metrics were judged.
    #[serde(default)]
    pub samples_missed: u32,
    pub invitations_received: u32,
    pub invitations_answered: u32,
    pub reply_secs_total: i64,
}

/// `part` over `whole` in basis points; u64 so that no count overflows it.
fn bps(part: u32, whole: u32) -> Option<u32> {
    (whole > 0).then(|| {
        let r = u64::from(part.min(whole)) * 10_000 / u64::from(whole);
        u32::try_from(r).unwrap_or(10_000)
    })
}

impl CreatorMetrics {
    /// 达人可信度: fulfilled samples over judged ones (fulfilled or missed),
    /// basis points; a sample whose deadline is still ahead is not judged
    /// yet (R-AFF-6).
    pub fn fulfilment_bps(&self) -> Option<u32> {
        bps(
            self.samples_fulfilled,
            self.samples_fulfilled.saturating_add(self.samples_missed),
        )
    }

    /// 建联回复率, basis points.
    pub fn reply_rate_bps(&self) -> Option<u32> {
        bps(self.invitations_answered, self.invitations_received)
    }

    pub fn mean_reply_secs(&self) -> Option<i64> {
        (self.invitations_answered > 0)
            .then(|| self.reply_secs_total / i64::from(self.invitations_answered))
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CreatorView {
    pub profile: CreatorProfile,
    pub metrics: CreatorMetrics,
    /// Content deadlines of delivered samples without content yet, still
    /// open where the view was judged (R-AFF-6).
    #[serde(default)]
    pub open_deadlines: Vec<Instant>,
}

/// Filters of a marketplace search (R-AFF-2); every one optional, all of
/// them must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreatorQuery {
    /// Part of the handle, or of a category or brand name; any case.
    pub keyword: Option<String>,
    /// Exactly this handle (抖音号), any case.
    pub handle: Option<String>,
    pub category: Option<String>,
    pub min_followers: Option<u64>,
    pub max_followers: Option<u64>,
    /// Followers mostly female (true) or male (false).
    pub mostly_female: Option<bool>,
    pub age_band: Option<String>,
    pub region: Option<String>,
    pub min_engagement_bps: Option<u32>,
    pub min_fulfilment_bps: Option<u32>,
    pub min_reply_rate_bps: Option<u32>,
    pub max_mean_reply_secs: Option<i64>,
    pub brand: Option<String>,
    /// Products at this price (fen) fall in the creator's usual band.
    pub price_fen: Option<Fen>,
    /// Video and live content statistics.
    pub min_videos: Option<u32>,
    pub min_lives: Option<u32>,
    pub min_avg_video_views: Option<u64>,
    pub min_avg_live_viewers: Option<u64>,
    pub sort: SortBy,
    /// When reliability is judged: a sample whose deadline passed by then
    /// counts as missed (R-AFF-6). Not part of a page token's query.
    pub at: Instant,
}

/// Best first; a creator without the metric (no sample, no invitation yet)
/// comes after every creator with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    Followers,
    Engagement,
    Fulfilment,
    ReplyRate,
    /// Fastest mean reply first.
    ReplyTime,
    Videos,
    Lives,
    AvgVideoViews,
    AvgLiveViewers,
}

/// Where a page ended: the last creator's sort key and id. The next page
/// starts strictly after it, so creators that change meanwhile are neither
/// skipped twice nor repeated unless their key moved across the cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: i64,
    pub creator_id: String,
}

impl Cursor {
    /// The opaque page token: the cursor bound to the query it pages through
    /// (`fingerprint`), so a token replayed with other filters is refused.
    pub fn token(&self, fingerprint: u64) -> String {
        let plain = format!("{fingerprint:016x}:{}:{}", self.key, self.creator_id);
        plain.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// The cursor a token names, if it is one of ours for this query.
    pub fn from_token(token: &str, fingerprint: u64) -> Option<Cursor> {
        let bytes: Vec<u8> = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
            .collect::<Option<_>>()?;
        let plain = String::from_utf8(bytes).ok()?;
        let mut parts = plain.splitn(3, ':');
        let (print, key, id) = (parts.next()?, parts.next()?, parts.next()?);
        let key = key.parse().ok()?;
        (u64::from_str_radix(print, 16).ok()? == fingerprint && !id.is_empty()).then(|| Cursor {
            key,
            creator_id: id.to_owned(),
        })
    }
}

impl CreatorQuery {
    /// A stable digest of the filters and the order (FNV-1a over their
    /// debug form): equal on every replica of one build, which is all a
    /// page token needs.
    pub fn fingerprint(&self) -> u64 {
        let filters = CreatorQuery {
            at: Instant::default(),
            ..self.clone()
        };
        format!("{filters:?}")
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
    }
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub creators: Vec<CreatorView>,
    /// Every creator that passes the filters, on all pages.
    pub total: usize,
    /// Set when more follow.
    pub next: Option<Cursor>,
}

/// Strings shared by many creators, stored once.
#[derive(Debug, Clone, Default)]
struct Symbols {
    names: Vec<Box<str>>,
    ids: HashMap<Box<str>, u32>,
}

impl Symbols {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        // Categories, regions, brands and age bands number in the
        // thousands; u32 is room enough, and saturating keeps it total.
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(s.into());
        self.ids.insert(s.into(), i);
        i
    }

    fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", |s| s)
    }
}

/// Where a creator's string or list lies in a pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// Pools: every creator's strings in one `String`, every list of symbols
/// in one `Vec`, in publication order, so a search reads memory in order
/// instead of chasing one small allocation per field. A republished
/// profile appends anew; what it leaves behind is reclaimed when a replica
/// next starts from the snapshot.
#[derive(Debug, Clone, Default)]
struct Pools {
    text: String,
    lists: Vec<u32>,
}

impl Pools {
    /// Pools hold at most 4 GiB each (u32 offsets: some 50 million
    /// creators); past that a string or list is kept empty rather than
    /// wrapping onto another creator's.
    fn push_text(&mut self, s: &str) -> Span {
        match (u32::try_from(self.text.len()), u32::try_from(s.len())) {
            (Ok(start), Ok(len)) if start.checked_add(len).is_some() => {
                self.text.push_str(s);
                Span { start, len }
            }
            _ => Span::default(),
        }
    }

    fn push_list(&mut self, ids: impl ExactSizeIterator<Item = u32>) -> Span {
        match (u32::try_from(self.lists.len()), u32::try_from(ids.len())) {
            (Ok(start), Ok(len)) if start.checked_add(len).is_some() => {
                self.lists.extend(ids);
                Span { start, len }
            }
            _ => Span::default(),
        }
    }

    fn text(&self, s: Span) -> &str {
        self.text.get(s.range()).unwrap_or("")
    }

    fn list(&self, s: Span) -> &[u32] {
        self.lists.get(s.range()).unwrap_or(&[])
    }
}

/// A creator as the marketplace keeps it: what a search reads, in one flat
/// record; strings and lists in the pools.
#[derive(Debug, Clone, Default)]
struct Entry {
    followers: u64,
    avg_video_views: u64,
    avg_live_viewers: u64,
    price_band_fen: (Fen, Fen),
    female_share_bps: u32,
    engagement_bps: u32,
    videos: u32,
    lives: u32,
    age_band: u32,
    id: Span,
    /// Empty until the platform publishes the profile.
    handle: Span,
    /// The handle in lower case (the same span when it is already).
    folded_handle: Span,
    categories: Span,
    regions: Span,
    brands: Span,
    /// Missed counts only content posted late; deadlines passed without
    /// content are counted from the open deadlines when judged.
    metrics: CreatorMetrics,
    /// Whether some delivered sample still waits for content (its deadline
    /// is in [`Marketplace::deadlines`]); false for nearly every creator.
    waiting: bool,
}

impl Entry {
    fn published(&self) -> bool {
        self.handle.len > 0
    }
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Kept as a snapshot with the log position it reflects, so a replica
/// starts from it and the tail instead of the whole log (R-X-4).
#[derive(Debug, Clone, Default)]
pub struct Marketplace {
    entries: Vec<Entry>,
    pools: Pools,
    by_id: HashMap<Box<str>, u32>,
    /// Lower-case handle -> entry, for published profiles.
    by_handle: HashMap<Box<str>, u32>,
    /// Open content deadlines of delivered samples, by entry (R-AFF-6).
    deadlines: HashMap<u32, Vec<Instant>>,
    symbols: Symbols,
}

impl Marketplace {
    /// The creator as clients see it, metrics judged at `at`; also one
    /// whose profile is not published yet.
    pub fn creator(&self, id: &str, at: Instant) -> Option<CreatorView> {
        self.by_id.get(id).map(|&i| self.view(i, Some(at)))
    }

    /// A creator's published profile as it stands.
    pub fn profile(&self, id: &str) -> Option<CreatorProfile> {
        self.by_id.get(id).map(|&i| self.view(i, None).profile)
    }

    /// Whether the marketplace knows the creator at all.
    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// R-AFF-4: the creator a handle names (any case), if published.
    pub fn creator_id_by_handle(&self, handle: &str) -> Option<&str> {
        self.by_handle
            .get(handle.trim().to_lowercase().as_str())
            .map(|&i| self.pools.text(self.entries[i as usize].id))
    }

    /// Creators known, published or not.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn names(&self, s: Span) -> Vec<String> {
        self.pools
            .list(s)
            .iter()
            .map(|&i| self.symbols.name(i).to_owned())
            .collect()
    }

    /// The metrics of entry `i` as judged at `at`.
    fn metrics_at(&self, i: u32, e: &Entry, at: Instant) -> CreatorMetrics {
        let mut m = e.metrics;
        if e.waiting {
            let passed = self
                .deadlines
                .get(&i)
                .map_or(0, |d| d.iter().filter(|d| **d < at).count());
            m.samples_missed = m
                .samples_missed
                .saturating_add(u32::try_from(passed).unwrap_or(u32::MAX));
        }
        m
    }

    /// Entry `i` as clients see it: judged at `at`, or as stored (for the
    /// snapshot).
    fn view(&self, i: u32, at: Option<Instant>) -> CreatorView {
        let e = &self.entries[i as usize];
        let t = |s| self.pools.text(s).to_owned();
        CreatorView {
            profile: CreatorProfile {
                creator_id: t(e.id),
                handle: t(e.handle),
                categories: self.names(e.categories),
                followers: e.followers,
                female_share_bps: e.female_share_bps,
                main_age_band: if e.published() {
                    self.symbols.name(e.age_band).to_owned()
                } else {
                    String::new()
                },
                top_regions: self.names(e.regions),
                engagement_bps: e.engagement_bps,
                top_brands: self.names(e.brands),
                price_band_fen: e.price_band_fen,
                videos: e.videos,
                lives: e.lives,
                avg_video_views: e.avg_video_views,
                avg_live_viewers: e.avg_live_viewers,
            },
            metrics: at.map_or(e.metrics, |at| self.metrics_at(i, e, at)),
            open_deadlines: self
                .deadlines
                .get(&i)
                .into_iter()
                .flatten()
                .filter(|d| at.is_none_or(|at| **d >= at))
                .copied()
                .collect(),
        }
    }

    fn slot(&mut self, creator_id: &str) -> u32 {
        if let Some(&i) = self.by_id.get(creator_id) {
            return i;
        }
        let i = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        let id = self.pools.push_text(creator_id);
        self.entries.push(Entry {
            id,
            ..Entry::default()
        });
        self.by_id.insert(creator_id.into(), i);
        i
    }

    fn entry(&mut self, creator_id: &str) -> &mut Entry {
        let i = self.slot(creator_id);
        &mut self.entries[i as usize]
    }

    fn publish(&mut self, p: &CreatorProfile) {
        let i = self.slot(&p.creator_id);
        let folded = p.handle.trim().to_lowercase();
        let old = self
            .pools
            .text(self.entries[i as usize].folded_handle)
            .to_owned();
        let mut list = |v: &[String]| {
            let ids: Vec<u32> = v.iter().map(|s| self.symbols.intern(s)).collect();
            self.pools.push_list(ids.into_iter())
        };
        let (categories, regions, brands) = (
            list(&p.categories),
            list(&p.top_regions),
            list(&p.top_brands),
        );
        let age_band = self.symbols.intern(&p.main_age_band);
        let handle = self.pools.push_text(&p.handle);
        let folded_handle = if folded == p.handle {
            handle
        } else {
            self.pools.push_text(&folded)
        };
        let e = &mut self.entries[i as usize];
        e.handle = handle;
        e.folded_handle = folded_handle;
        e.categories = categories;
        e.regions = regions;
        e.brands = brands;
        e.age_band = age_band;
        e.followers = p.followers;
        e.avg_video_views = p.avg_video_views;
        e.avg_live_viewers = p.avg_live_viewers;
        e.price_band_fen = p.price_band_fen;
        e.female_share_bps = p.female_share_bps;
        e.engagement_bps = p.engagement_bps;
        e.videos = p.videos;
        e.lives = p.lives;
        if self.by_handle.get(old.as_str()) == Some(&i) {
            self.by_handle.remove(old.as_str());
        }
        if !folded.is_empty() {
            self.by_handle.insert(folded.into(), i);
        }
    }

    pub fn apply(&mut self, event: &Event) {
        let inc = |n: &mut u32| *n = n.saturating_add(1);
        match event {
            Event::CreatorProfiled { profile } => self.publish(profile),
            Event::InvitationSent { creator_id, .. } => {
                inc(&mut self.entry(creator_id).metrics.invitations_received)
            }
            Event::InvitationAnswered {
                creator_id,
                reply_secs,
                ..
            } => {
                let m = &mut self.entry(creator_id).metrics;
                inc(&mut m.invitations_answered);
                m.reply_secs_total = m.reply_secs_total.saturating_add(*reply_secs);
            }
            Event::SampleShipped { creator_id, .. } => {
                inc(&mut self.entry(creator_id).metrics.samples_shipped)
            }
            Event::SampleDelivered {
                creator_id,
                content_due,
                ..
            } => {
                let i = self.slot(creator_id);
                self.entries[i as usize].waiting = true;
                self.deadlines.entry(i).or_default().push(*content_due);
            }
            Event::ContentPosted {
                creator_id,
                content_due,
                late,
                ..
            } => {
                let i = self.slot(creator_id);
                if let (Some(due), Some(open)) = (content_due, self.deadlines.get_mut(&i)) {
                    if let Some(k) = open.iter().position(|d| d == due) {
                        open.swap_remove(k);
                    }
                    if open.is_empty() {
                        self.deadlines.remove(&i);
                        self.entries[i as usize].waiting = false;
                    }
                }
                let m = &mut self.entries[i as usize].metrics;
                inc(if *late {
                    &mut m.samples_missed
                } else {
                    &mut m.samples_fulfilled
                })
            }
            Event::TimeZoneSet { .. }
            | Event::SampleRequested { .. }
            | Event::SampleRequestApproved { .. }
            | Event::SampleRequestRejected { .. }
            | Event::PlanCreated { .. }
            | Event::PlanCreatorsAdded { .. }
            | Event::PlanEdited { .. }
            | Event::PlanEnded { .. }
            | Event::PlanAnswered { .. }
            | Event::PlanSaleRecorded { .. }
            | Event::OrderRefunded { .. }
            | Event::CommissionsSettled { .. }
            | Event::SellingRightsNoted { .. }
            | Event::TierChangedNoted { .. } => {}
        }
    }

    fn key(&self, i: u32, e: &Entry, sort: SortBy, at: Instant) -> i64 {
        let known = |v: Option<u32>| v.map_or(i64::MIN, i64::from);
        match sort {
            SortBy::Followers => saturating_i64(e.followers),
            SortBy::Engagement => e.engagement_bps.into(),
            SortBy::Fulfilment => known(self.metrics_at(i, e, at).fulfilment_bps()),
            SortBy::ReplyRate => known(e.metrics.reply_rate_bps()),
            SortBy::ReplyTime => e
                .metrics
                .mean_reply_secs()
                .map_or(i64::MIN, |s| s.saturating_neg()),
            SortBy::Videos => e.videos.into(),
            SortBy::Lives => e.lives.into(),
            SortBy::AvgVideoViews => saturating_i64(e.avg_video_views),
            SortBy::AvgLiveViewers => saturating_i64(e.avg_live_viewers),
        }
    }

    /// R-AFF-2: the creators with a published profile that pass every
    /// filter, best first by `sort` and then by id; `limit` of them after
    /// `after`, with how many match in all.
    pub fn search(&self, q: &CreatorQuery, after: Option<&Cursor>, limit: usize) -> Page {
        // A filter naming a value no creator has matches nobody.
        let symbol = |v: &Option<String>| match v {
            None => Ok(None),
            Some(s) => self.symbols.ids.get(s.as_str()).map(|&i| Some(i)).ok_or(()),
        };
        let (Ok(category), Ok(age_band), Ok(region), Ok(brand)) = (
            symbol(&q.category),
            symbol(&q.age_band),
            symbol(&q.region),
            symbol(&q.brand),
        ) else {
            return Page::default();
        };
        let keyword = q.keyword.as_ref().map(|k| k.trim().to_lowercase());
        let finder = keyword
            .as_ref()
            .map(|k| memchr::memmem::Finder::new(k.as_bytes()));
        // The shared names a keyword hits, found once, not once per creator.
        let named: Vec<bool> = match &keyword {
            Some(k) => self
                .symbols
                .names
                .iter()
                .map(|n| n.to_lowercase().contains(k.as_str()))
                .collect(),
            None => Vec::new(),
        };
        let pools = &self.pools;
        // Most keywords name no category or brand: then skip the lists.
        let names_hit = named.contains(&true);
        let hits = |s: Span| {
            names_hit
                && pools
                    .list(s)
                    .iter()
                    .any(|&i| named.get(i as usize) == Some(&true))
        };
        let has = |s: Span, x: u32| pools.list(s).contains(&x);
        let at_least =
            |v: Option<u32>, min: Option<u32>| min.is_none_or(|m| v.is_some_and(|v| v >= m));
        let passes = |i: u32, e: &Entry| {
            let m = &e.metrics;
            e.published()
                && q.min_followers.is_none_or(|x| e.followers >= x)
                && q.max_followers.is_none_or(|x| e.followers <= x)
                && q.mostly_female
                    .is_none_or(|f| (e.female_share_bps > 5_000) == f)
                && age_band.is_none_or(|x| e.age_band == x)
                && q.min_engagement_bps.is_none_or(|x| e.engagement_bps >= x)
                && q.price_fen
                    .is_none_or(|x| e.price_band_fen.0 <= x && x <= e.price_band_fen.1)
                && q.min_videos.is_none_or(|x| e.videos >= x)
                && q.min_lives.is_none_or(|x| e.lives >= x)
                && q.min_avg_video_views.is_none_or(|x| e.avg_video_views >= x)
                && q.min_avg_live_viewers.is_none_or(|x| e.avg_live_viewers >= x)
                && at_least(m.reply_rate_bps(), q.min_reply_rate_bps)
                && q.max_mean_reply_secs
                    .is_none_or(|x| m.mean_reply_secs().is_some_and(|s| s <= x))
                // What reads the pools, after the flat fields.
                && category.is_none_or(|x| has(e.categories, x))
                && region.is_none_or(|x| has(e.regions, x))
                && brand.is_none_or(|x| has(e.brands, x))
                && finder.as_ref().is_none_or(|f| {
                    f.find(pools.text(e.folded_handle).as_bytes()).is_some()
                        || hits(e.categories)
                        || hits(e.brands)
                })
                && q.min_fulfilment_bps.is_none_or(|min| {
                    self.metrics_at(i, e, q.at)
                        .fulfilment_bps()
                        .is_some_and(|v| v >= min)
                })
        };
        // A handle names one creator: look it up instead of scanning.
        let candidates: Box<dyn Iterator<Item = u32>> = match &q.handle {
            Some(h) => Box::new(
                self.by_handle
                    .get(h.trim().to_lowercase().as_str())
                    .copied()
                    .into_iter(),
            ),
            None => Box::new(0..u32::try_from(self.entries.len()).unwrap_or(u32::MAX)),
        };
        // Ranks ascend from the best; the heap's top is the worst kept.
        let cut = after.map(|c| (Reverse(c.key), c.creator_id.as_str()));
        let keep = limit.saturating_add(1);
        let mut page: BinaryHeap<(Reverse<i64>, &str, u32)> =
            BinaryHeap::with_capacity(keep.min(1024));
        let mut total = 0usize;
        for i in candidates {
            let e = &self.entries[i as usize];
            if !passes(i, e) {
                continue;
            }
            total += 1;
            let key = Reverse(self.key(i, e, q.sort, q.at));
            // Most creators fall below the page: compare the key before
            // reading the id from the pool.
            if page.len() >= keep && page.peek().is_some_and(|w| key > w.0) {
                continue;
            }
            let rank = (key, pools.text(e.id), i);
            if cut.as_ref().is_some_and(|c| (rank.0, rank.1) <= *c) {
                continue;
            }
            if page.len() < keep {
                page.push(rank);
            } else if page.peek().is_some_and(|worst| rank < *worst) {
                page.pop();
                page.push(rank);
            }
        }
        let mut ranked = page.into_sorted_vec();
        let more = ranked.len() > limit;
        ranked.truncate(limit);
        let next = more
            .then(|| ranked.last())
            .flatten()
            .map(|(Reverse(key), id, _)| Cursor {
                key: *key,
                creator_id: (*id).to_owned(),
            });
        Page {
            creators: ranked
                .iter()
                .map(|&(_, _, i)| self.view(i, Some(q.at)))
                .collect(),
            total,
            next,
        }
    }
}

/// The snapshot holds the creators as clients see them; the compact form is
/// rebuilt on load, so it can change without a migration.
impl Serialize for Marketplace {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct All<'a>(&'a Marketplace);
        impl Serialize for All<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let n = u32::try_from(self.0.entries.len()).unwrap_or(u32::MAX);
                s.collect_seq((0..n).map(|i| self.0.view(i, None)))
            }
        }
        let mut st = s.serialize_struct("Marketplace", 1)?;
        st.serialize_field("creators", &All(self))?;
        st.end()
    }
}

impl Marketplace {
    /// Takes in one creator as the snapshot stored it.
    fn restore(&mut self, c: CreatorView) {
        if !c.profile.handle.is_empty() {
            self.publish(&c.profile);
        }
        let i = self.slot(&c.profile.creator_id);
        let e = &mut self.entries[i as usize];
        e.metrics = c.metrics;
        if !c.open_deadlines.is_empty() {
            e.waiting = true;
            self.deadlines.insert(i, c.open_deadlines);
        }
    }
}

/// Read one creator at a time into the compact form: a million creators
/// never exist as a million separate views (which would leave the heap
/// fragmented long after they are gone).
impl<'de> Deserialize<'de> for Marketplace {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Creators<'a>(&'a mut Marketplace);
        impl<'de> serde::de::DeserializeSeed<'de> for Creators<'_> {
            type Value = ();
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_seq(self)
            }
        }
        impl<'de> serde::de::Visitor<'de> for Creators<'_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of creators")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                while let Some(c) = seq.next_element::<CreatorView>()? {
                    self.0.restore(c);
                }
                Ok(())
            }
        }
        struct Stored;
        impl<'de> serde::de::Visitor<'de> for Stored {
            type Value = Marketplace;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a marketplace snapshot")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Marketplace, A::Error> {
                let mut m = Marketplace::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "creators" {
                        map.next_value_seed(Creators(&mut m))?;
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(m)
            }
        }
        d.deserialize_map(Stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(id: &str, handle: &str, followers: u64) -> CreatorProfile {
        CreatorProfile {
            creator_id: id.into(),
            handle: handle.into(),
            categories: vec!["美妆".into()],
            followers,
            main_age_band: "24-30".into(),
            top_brands: vec!["花西子".into()],
            ..CreatorProfile::default()
        }
    }

    fn market(n: u64) -> Marketplace {
        let mut m = Marketplace::default();
        for i in 0..n {
            m.apply(&Event::CreatorProfiled {
                profile: profile(&format!("c{i:03}"), &format!("Handle{i}"), i % 7),
            });
        }
        m
    }

    fn ids(p: &Page) -> Vec<String> {
        p.creators
            .iter()
            .map(|c| c.profile.creator_id.clone())
            .collect()
    }

    #[test]
    fn r_aff_2_pages_follow_one_another_without_gaps_or_repeats() {
        let m = market(50);
        let q = CreatorQuery::default();
        let everything = m.search(&q, None, 200);
        assert_eq!((everything.total, everything.next.is_none()), (50, true));
        let mut walked = Vec::new();
        let mut after = None;
        loop {
            let page = m.search(&q, after.as_ref(), 7);
            assert_eq!(page.total, 50, "the total is every page's");
            walked.extend(ids(&page));
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(walked, ids(&everything));
        let followers: Vec<u64> = everything
            .creators
            .iter()
            .map(|c| c.profile.followers)
            .collect();
        assert!(followers.windows(2).all(|w| w[0] >= w[1]), "best first");
    }

    #[test]
    fn r_aff_2_handles_and_keywords_ignore_case_and_a_republished_handle_moves() {
        let mut m = market(3);
        assert_eq!(m.creator_id_by_handle("handle1"), Some("c001"));
        let by_handle = CreatorQuery {
            handle: Some("HANDLE2".into()),
            ..CreatorQuery::default()
        };
        assert_eq!(ids(&m.search(&by_handle, None, 10)), ["c002"]);
        m.apply(&Event::CreatorProfiled {
            profile: profile("c002", "renamed", 1),
        });
        assert_eq!(m.creator_id_by_handle("handle2"), None);
        assert_eq!(m.creator_id_by_handle("Renamed"), Some("c002"));
        let keyword = |k: &str| CreatorQuery {
            keyword: Some(k.into()),
            ..CreatorQuery::default()
        };
        assert_eq!(m.search(&keyword("ndle"), None, 10).total, 2);
        assert_eq!(
            m.search(&keyword("西子"), None, 10).total,
            3,
            "a brand name"
        );
        assert_eq!(m.search(&keyword("nobody"), None, 10).total, 0);
    }

    #[test]
    fn a_page_token_holds_only_for_the_query_it_was_made_for() {
        let c = Cursor {
            key: -3,
            creator_id: "c:1".into(),
        };
        let q = CreatorQuery::default();
        let other = CreatorQuery {
            min_videos: Some(1),
            ..CreatorQuery::default()
        };
        let token = c.token(q.fingerprint());
        assert_eq!(Cursor::from_token(&token, q.fingerprint()), Some(c));
        assert_eq!(Cursor::from_token(&token, other.fingerprint()), None);
        assert_eq!(Cursor::from_token("zz", q.fingerprint()), None);
        assert_eq!(Cursor::from_token("abc", q.fingerprint()), None);
    }

    #[test]
    fn the_snapshot_round_trips() {
        let mut m = market(5);
        m.apply(&Event::SampleShipped {
            sample_id: "s".into(),
            creator_id: "c003".into(),
            product_id: "p".into(),
            at: chrono::DateTime::UNIX_EPOCH,
        });
        let back: Marketplace = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        for i in 0..5 {
            let id = format!("c{i:03}");
            let at = chrono::DateTime::UNIX_EPOCH;
            assert_eq!(back.creator(&id, at), m.creator(&id, at));
        }
        assert_eq!(back.creator_id_by_handle("handle4"), Some("c004"));
    }

    /// The one-pass search against the plain reading of the filters, on
    /// synthetic creators: same creators, same order, every page.
    #[test]
    fn r_aff_2_the_one_pass_search_agrees_with_filtering_and_sorting_everything() {
        let mut m = Marketplace::default();
        let all: Vec<CreatorProfile> = (0..3_000).map(|n| crate::seed::creator(3, n)).collect();
        for p in &all {
            m.apply(&Event::CreatorProfiled { profile: p.clone() });
        }
        let queries = [
            CreatorQuery {
                category: Some("美妆".into()),
                min_followers: Some(50_000),
                ..CreatorQuery::default()
            },
            CreatorQuery {
                keyword: Some("XIAO".into()),
                sort: SortBy::AvgVideoViews,
                ..CreatorQuery::default()
            },
            CreatorQuery {
                region: Some("广东".into()),
                min_lives: Some(10),
                sort: SortBy::Lives,
                ..CreatorQuery::default()
            },
        ];
        for q in &queries {
            let key = |p: &CreatorProfile| match q.sort {
                SortBy::AvgVideoViews => p.avg_video_views,
                SortBy::Lives => u64::from(p.lives),
                _ => p.followers,
            };
            let mut expected: Vec<&CreatorProfile> = all
                .iter()
                .filter(|p| {
                    q.category.as_ref().is_none_or(|c| p.categories.contains(c))
                        && q.region.as_ref().is_none_or(|r| p.top_regions.contains(r))
                        && q.min_followers.is_none_or(|f| p.followers >= f)
                        && q.min_lives.is_none_or(|l| p.lives >= l)
                        && q.keyword.as_ref().is_none_or(|k| {
                            let k = k.to_lowercase();
                            p.handle.to_lowercase().contains(&k)
                                || p.categories
                                    .iter()
                                    .chain(&p.top_brands)
                                    .any(|n| n.to_lowercase().contains(&k))
                        })
                })
                .collect();
            expected.sort_by(|a, b| key(b).cmp(&key(a)).then(a.creator_id.cmp(&b.creator_id)));
            assert!(expected.len() > 20, "{q:?} matches {}", expected.len());
            let mut walked = Vec::new();
            let mut after = None;
            loop {
                let page = m.search(q, after.as_ref(), 17);
                assert_eq!(page.total, expected.len());
                walked.extend(page.creators.into_iter().map(|c| c.profile));
                match page.next {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            let expected: Vec<CreatorProfile> = expected.into_iter().cloned().collect();
            assert_eq!(walked, expected, "{q:?}");
        }
    }

    #[test]
    fn counts_never_overflow_a_rate() {
        let m = CreatorMetrics {
            samples_shipped: u32::MAX,
            samples_fulfilled: u32::MAX,
            ..CreatorMetrics::default()
        };
        assert_eq!(m.fulfilment_bps(), Some(10_000));
    }
}
