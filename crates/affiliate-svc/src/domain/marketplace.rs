//! R-AFF-2 and R-AFF-5: the creator marketplace (达人广场). Profiles come from
//! the platform; reliability comes from what happens in every shop's
//! outreach: samples shipped and the content that followed, invitations and
//! how fast they were answered.

use super::{CreatorProfile, Event, Fen};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// R-AFF-5: folded from events, never typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreatorMetrics {
    pub samples_shipped: u32,
    /// Samples that led to the agreed video or live stream.
    pub samples_fulfilled: u32,
    pub invitations_received: u32,
    pub invitations_answered: u32,
    pub reply_secs_total: i64,
}

impl CreatorMetrics {
    /// 达人可信度: fulfilled samples over shipped ones, basis points.
    pub fn fulfilment_bps(&self) -> Option<u32> {
        (self.samples_shipped > 0).then(|| self.samples_fulfilled * 10_000 / self.samples_shipped)
    }

    /// 建联回复率, basis points.
    pub fn reply_rate_bps(&self) -> Option<u32> {
        (self.invitations_received > 0)
            .then(|| self.invitations_answered * 10_000 / self.invitations_received)
    }

    pub fn mean_reply_secs(&self) -> Option<i64> {
        (self.invitations_answered > 0)
            .then(|| self.reply_secs_total / self.invitations_answered as i64)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CreatorView {
    pub profile: CreatorProfile,
    pub metrics: CreatorMetrics,
}

/// Filters of a marketplace search; every one optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreatorQuery {
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
    pub sort: SortBy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    Followers,
    Engagement,
    Fulfilment,
    ReplyRate,
}

/// Kept as a snapshot with the log position it reflects, so a replica
/// starts from it and the tail instead of the whole log (R-X-4).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Marketplace {
    creators: BTreeMap<String, CreatorView>,
}

impl Marketplace {
    pub fn creator(&self, id: &str) -> Option<&CreatorView> {
        self.creators.get(id)
    }

    pub fn len(&self) -> usize {
        self.creators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.creators.is_empty()
    }

    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::CreatorProfiled { profile } => {
                self.creators
                    .entry(profile.creator_id.clone())
                    .or_default()
                    .profile = profile.clone();
            }
            Event::InvitationSent { creator_id, .. } => {
                self.entry(creator_id).invitations_received += 1;
            }
            Event::InvitationAnswered {
                creator_id,
                reply_secs,
                ..
            } => {
                let m = self.entry(creator_id);
                m.invitations_answered += 1;
                m.reply_secs_total += reply_secs;
            }
            Event::SampleShipped { creator_id, .. } => self.entry(creator_id).samples_shipped += 1,
            Event::ContentPosted { creator_id, .. } => {
                self.entry(creator_id).samples_fulfilled += 1
            }
            Event::PlanCreated { .. }
            | Event::PlanCreatorsAdded { .. }
            | Event::PlanSaleRecorded { .. }
            | Event::SellingRightsNoted { .. }
            | Event::TierChangedNoted { .. } => {}
        }
    }

    fn entry(&mut self, creator_id: &str) -> &mut CreatorMetrics {
        &mut self
            .creators
            .entry(creator_id.to_owned())
            .or_default()
            .metrics
    }

    /// R-AFF-2: the creators that pass every filter, best first by `sort`,
    /// then by id; only creators with a published profile.
    pub fn search(&self, q: &CreatorQuery) -> Vec<&CreatorView> {
        let at_least =
            |v: Option<u32>, min: Option<u32>| min.is_none_or(|m| v.is_some_and(|v| v >= m));
        let mut found: Vec<&CreatorView> = self
            .creators
            .values()
            .filter(|c| !c.profile.handle.is_empty())
            .filter(|c| {
                let p = &c.profile;
                q.category.as_ref().is_none_or(|x| p.categories.contains(x))
                    && q.min_followers.is_none_or(|x| p.followers >= x)
                    && q.max_followers.is_none_or(|x| p.followers <= x)
                    && q.mostly_female
                        .is_none_or(|f| (p.female_share_bps > 5_000) == f)
                    && q.age_band.as_ref().is_none_or(|x| &p.main_age_band == x)
                    && q.region.as_ref().is_none_or(|x| p.top_regions.contains(x))
                    && q.min_engagement_bps.is_none_or(|x| p.engagement_bps >= x)
                    && q.brand.as_ref().is_none_or(|x| p.top_brands.contains(x))
                    && q.price_fen
                        .is_none_or(|x| p.price_band_fen.0 <= x && x <= p.price_band_fen.1)
                    && at_least(c.metrics.fulfilment_bps(), q.min_fulfilment_bps)
                    && at_least(c.metrics.reply_rate_bps(), q.min_reply_rate_bps)
                    && q.max_mean_reply_secs
                        .is_none_or(|x| c.metrics.mean_reply_secs().is_some_and(|s| s <= x))
            })
            .collect();
        found.sort_by(|a, b| {
            let key = |c: &CreatorView| -> i64 {
                match q.sort {
                    SortBy::Followers => c.profile.followers as i64,
                    SortBy::Engagement => c.profile.engagement_bps as i64,
                    SortBy::Fulfilment => c.metrics.fulfilment_bps().map_or(-1, i64::from),
                    SortBy::ReplyRate => c.metrics.reply_rate_bps().map_or(-1, i64::from),
                }
            };
            key(b)
                .cmp(&key(a))
                .then_with(|| a.profile.creator_id.cmp(&b.profile.creator_id))
        });
        found
    }
}
