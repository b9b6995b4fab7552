//! The creator marketplace's data (issue 19): `sellerdesk affiliate seed`
//! publishes synthetic creators, `sellerdesk affiliate import` publishes a
//! JSON Lines file, one creator profile per line. Both publish through
//! affiliate-svc's own decision (the same checks as ProfileCreator), in
//! batches, then save the marketplace snapshot so replicas start from it.
//!
//! A line's fields are those of the API's `CreatorProfile` (docs/affiliate.md):
//! `{"creator_id": "...", "handle": "...", "categories": ["美妆"], "followers": 12000, ...}`.

use affiliate_svc::{app::Affiliate, domain::CreatorProfile};
use sellerdesk_eventstore::{EventStore, Metadata};
use serde::{Deserialize, Serialize};
use std::{
    io::{BufRead, Write},
    path::Path,
    sync::Arc,
};

/// Profiles published per batch: large enough that the store groups the
/// appends, small enough that a refused line is reported soon.
const BATCH: usize = 10_000;

/// One line of an import file.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CreatorRecord {
    pub creator_id: String,
    pub handle: String,
    pub categories: Vec<String>,
    pub followers: u64,
    pub female_share_bps: u32,
    pub main_age_band: String,
    pub top_regions: Vec<String>,
    pub engagement_bps: u32,
    pub top_brands: Vec<String>,
    pub price_low_fen: i64,
    pub price_high_fen: i64,
    pub videos: u32,
    pub lives: u32,
    pub avg_video_views: u64,
    pub avg_live_viewers: u64,
}

impl From<CreatorRecord> for CreatorProfile {
    fn from(r: CreatorRecord) -> Self {
        CreatorProfile {
            creator_id: r.creator_id,
            handle: r.handle,
            categories: r.categories,
            followers: r.followers,
            female_share_bps: r.female_share_bps,
            main_age_band: r.main_age_band,
            top_regions: r.top_regions,
            engagement_bps: r.engagement_bps,
            top_brands: r.top_brands,
            price_band_fen: (r.price_low_fen, r.price_high_fen),
            videos: r.videos,
            lives: r.lives,
            avg_video_views: r.avg_video_views,
            avg_live_viewers: r.avg_live_viewers,
        }
    }
}

impl From<CreatorProfile> for CreatorRecord {
    fn from(p: CreatorProfile) -> Self {
        CreatorRecord {
            creator_id: p.creator_id,
            handle: p.handle,
            categories: p.categories,
            followers: p.followers,
            female_share_bps: p.female_share_bps,
            main_age_band: p.main_age_band,
            top_regions: p.top_regions,
            engagement_bps: p.engagement_bps,
            top_brands: p.top_brands,
            price_low_fen: p.price_band_fen.0,
            price_high_fen: p.price_band_fen.1,
            videos: p.videos,
            lives: p.lives,
            avg_video_views: p.avg_video_views,
            avg_live_viewers: p.avg_live_viewers,
        }
    }
}

/// What an import or a seed did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub published: usize,
    pub unchanged: usize,
    /// `line N: why`, one per refused line (1-based).
    pub refused: Vec<String>,
    /// Creators the marketplace holds afterwards.
    pub marketplace: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} published, {} unchanged, {} refused; the marketplace holds {} creators",
            self.published,
            self.unchanged,
            self.refused.len(),
            self.marketplace
        )
    }
}

fn metadata() -> Metadata {
    Metadata {
        actor: Some("platform:import".into()),
        ..Metadata::default()
    }
}

/// Publishes one batch; `lines[i]` is the input line of `batch[i]`.
async fn publish(
    app: &Affiliate,
    batch: &[CreatorProfile],
    lines: &[usize],
    report: &mut Report,
) -> anyhow::Result<()> {
    let done = app.publish_creators(batch, &metadata()).await?;
    report.published += done.published;
    report.unchanged += done.unchanged;
    for (i, why) in done.refused {
        report.refused.push(format!("line {}: {why}", lines[i]));
    }
    Ok(())
}

async fn open(store: Arc<dyn EventStore>) -> anyhow::Result<Arc<Affiliate>> {
    Ok(Affiliate::open(
        store,
        Arc::new(sellerdesk_runtime::SystemClock),
        affiliate_svc::domain::Limits::default(),
    )
    .await?)
}

async fn finish(app: &Affiliate, mut report: Report) -> anyhow::Result<Report> {
    app.save_market().await?;
    report.marketplace = app.market_now(|m| m.len()).await?;
    Ok(report)
}

/// Publishes every line of a JSON Lines file; a line that does not parse or
/// is refused is reported with its number, and the others still go in.
pub async fn import(store: Arc<dyn EventStore>, file: &Path) -> anyhow::Result<Report> {
    let app = open(store).await?;
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
    );
    let mut report = Report::default();
    let (mut batch, mut lines) = (Vec::new(), Vec::new());
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<CreatorRecord>(&line) {
            Ok(r) => {
                batch.push(r.into());
                lines.push(i + 1);
            }
            Err(e) => report.refused.push(format!("line {}: {e}", i + 1)),
        }
        if batch.len() == BATCH {
            publish(&app, &batch, &lines, &mut report).await?;
            (batch, lines) = (Vec::new(), Vec::new());
        }
    }
    publish(&app, &batch, &lines, &mut report).await?;
    finish(&app, report).await
}

/// Publishes synthetic creators 0..n of `seed` (already published ones are
/// unchanged, so seeding to a larger n adds only the new ones).
pub async fn seed(store: Arc<dyn EventStore>, seed: u64, n: u64) -> anyhow::Result<Report> {
    let app = open(store).await?;
    let mut report = Report::default();
    let mut from = 0;
    while from < n {
        let to = (from + BATCH as u64).min(n);
        let batch: Vec<_> = (from..to)
            .map(|i| affiliate_svc::seed::creator(seed, i))
            .collect();
        let lines: Vec<usize> = (from..to).map(|i| i as usize + 1).collect();
        publish(&app, &batch, &lines, &mut report).await?;
        from = to;
    }
    finish(&app, report).await
}

/// Writes synthetic creators 0..n of `seed` as JSON Lines, for `import`.
pub fn write_jsonl(out: &Path, seed: u64, n: u64) -> anyhow::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(out)?);
    for i in 0..n {
        let record = CreatorRecord::from(affiliate_svc::seed::creator(seed, i));
        serde_json::to_writer(&mut w, &record)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19: an import publishes every good line, names each bad one by
    /// its number, and a second run changes nothing; seeding to a larger N
    /// adds only the new creators.
    #[tokio::test]
    async fn import_reports_bad_lines_by_number_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("affiliate.db").display());
        let store = sellerdesk_eventstore::open(&url).await.unwrap();
        let file = dir.path().join("creators.jsonl");
        write_jsonl(&file, 5, 4).unwrap();
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("{\"creator_id\":\"x1\",\"handle\":\"\"}\n");
        text.push_str("not json\n\n");
        text.push_str("{\"creator_id\":\"x2\",\"handle\":\"@x2\",\"colour\":\"red\"}\n");
        std::fs::write(&file, text).unwrap();
        let report = import(store.clone(), &file).await.unwrap();
        assert_eq!((report.published, report.marketplace), (4, 4));
        let lines: Vec<&str> = report
            .refused
            .iter()
            .map(|r| r.split(':').next().unwrap())
            .collect();
        assert_eq!(
            lines,
            ["line 6", "line 8", "line 5"],
            "{:?}",
            report.refused
        );
        assert!(
            report.refused[2].contains("profile.handle"),
            "{:?}",
            report.refused
        );
        let again = import(store.clone(), &file).await.unwrap();
        assert_eq!((again.published, again.unchanged), (0, 4));
        let seeded = seed(store, 5, 6).await.unwrap();
        assert_eq!(
            (seeded.published, seeded.unchanged, seeded.marketplace),
            (2, 4, 6)
        );
    }
}
