//! The bundled demo: real customer-care conversations from the Customer
//! Support on Twitter sample (see demo/README.md), re-spaced over the last
//! eight hours so the queue looks like a live morning.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use earshot_app::App;
use earshot_app::ingest::IngestOptions;
use earshot_core::auth::Role;
use earshot_core::case::CaseStatus;
use earshot_core::reply::ExternalReply;
use earshot_core::store::{CaseAction, Store};
use earshot_store::SqlStore;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::import::{self, Item, Record};

pub const SAMPLE: &[u8] = include_bytes!("../demo/twcs_sample.csv");

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub created: usize,
    pub duplicates: usize,
    pub cases_opened: usize,
    /// The brands' own answers read (twcs `inbound=False`, JSONL `"role":
    /// "brand"`).
    pub brand_replies: usize,
    /// Of those, stored in the case of the post they answer (the others
    /// answer posts that are not in the file, or that opened no case).
    pub brand_replies_placed: usize,
    pub invalid: usize,
    /// The first invalid records, with line and field.
    pub errors: Vec<String>,
}

/// The sample's posts, re-spaced evenly over this long before `now`, in
/// their original order: the queue looks like a live morning.
pub const DEMO_WINDOW: Duration = Duration::hours(8);

/// Loads the sample; loading twice stores nothing new.
pub async fn load(app: &App, now: DateTime<Utc>) -> Result<Report> {
    // The sample is small and in memory: one pass for its timestamps, one
    // to ingest.
    let mut times: Vec<DateTime<Utc>> = import::read(SAMPLE, import::Format::Twcs)?
        .filter_map(|r| match r.item {
            Ok(Item::Mention(m)) => Some(m.created_at),
            Ok(Item::BrandReply(r)) => Some(r.created_at),
            Err(_) => None,
        })
        .collect();
    times.sort_unstable();
    times.dedup();
    let retime = live_morning(times, now);
    let records = import::read(SAMPLE, import::Format::Twcs)?;
    ingest_records(
        app,
        records,
        1000,
        false,
        Some(&retime),
        IngestOptions::default(),
    )
    .await
}

/// Maps each of `times` (sorted, distinct) to its place in the last
/// [`DEMO_WINDOW`] before `now`, keeping order: the newest post is five
/// minutes old, a conversation's answer still follows its question, and
/// the unanswered ones spread from just posted to hours overdue.
fn live_morning(
    times: Vec<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> impl Fn(DateTime<Utc>) -> DateTime<Utc> + Sync {
    let newest = now - Duration::minutes(5);
    let n = times.len().max(1) as i64;
    let step = DEMO_WINDOW.num_milliseconds() / n;
    move |t| {
        let rank = times.partition_point(|x| *x < t) as i64;
        newest - Duration::milliseconds((n - 1 - rank).max(0) * step)
    }
}

/// Creates the demo's API token, or reuses `EARSHOT_BOOTSTRAP_TOKEN`.
pub async fn token(store: &SqlStore) -> Result<String> {
    if let Ok(t) = std::env::var("EARSHOT_BOOTSTRAP_TOKEN")
        && !t.is_empty()
    {
        return Ok(t);
    }
    let token = earshot_app::credentials::generate_token();
    store
        .create_token(
            "demo",
            &earshot_app::credentials::hash_token(&token),
            Role::Admin,
            Utc::now(),
        )
        .await?;
    Ok(token)
}

/// Ingests `records` in batches through the application's one ingest path
/// (analysis, a transaction per batch, then the routing rules in force).
pub async fn ingest_records(
    app: &App,
    records: impl Iterator<Item = Record>,
    batch: usize,
    progress: bool,
    retime: Option<&(dyn Fn(DateTime<Utc>) -> DateTime<Utc> + Sync)>,
    options: IngestOptions,
) -> Result<Report> {
    let bar = if progress {
        // The records are read as they come, so their number is not known ahead.
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos} records {per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut report = Report::default();
    let mut iter = records.peekable();
    // Brand answers whose customer post has not been read yet: tried again
    // after every batch, and once more at the end.
    let mut unplaced: Vec<ExternalReply> = Vec::new();
    while iter.peek().is_some() {
        let mut pending = Vec::with_capacity(batch);
        let mut answers = std::mem::take(&mut unplaced);
        for record in iter.by_ref().take(batch) {
            match record.item {
                Ok(Item::Mention(mut m)) => {
                    if let Some(retime) = retime {
                        m.created_at = retime(m.created_at);
                    }
                    pending.push(m);
                }
                Ok(Item::BrandReply(r)) => {
                    report.brand_replies += 1;
                    if let Some(in_reply_to) = r.in_reply_to {
                        answers.push(ExternalReply {
                            source: r.source,
                            external_id: r.external_id,
                            in_reply_to,
                            author: r.brand_handle,
                            body: r.text,
                            sent_at: retime.map_or(r.created_at, |f| f(r.created_at)),
                        });
                    }
                }
                Err(e) => {
                    report.invalid += 1;
                    if report.errors.len() < 20 {
                        report
                            .errors
                            .push(format!("line {}: {}", record.line, e.message));
                    }
                }
            }
            bar.inc(1);
        }
        let ingested = earshot_app::ingest::ingest_with(app, pending, options.clone())
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let joined = earshot_app::ingest::record_brand_replies(app, &answers)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        for (answer, case) in answers.into_iter().zip(joined) {
            if case.is_some() {
                report.brand_replies_placed += 1;
            } else if iter.peek().is_some() {
                unplaced.push(answer);
            }
        }
        for o in ingested.into_iter().map(|i| i.outcome) {
            if o.duplicate {
                report.duplicates += 1;
            } else {
                report.created += 1;
            }
            if o.case.is_some_and(|c| c.action == CaseAction::Opened) {
                report.cases_opened += 1;
            }
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

/// Cases waiting on the brand right now (new or open), whatever this run loaded.
pub async fn open_cases(app: &App) -> Result<usize> {
    let open = earshot_app::cases::all_with_status(app, &[CaseStatus::New, CaseStatus::Open])
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    Ok(open.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_live_morning_keeps_order_and_ends_minutes_ago() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let old = |y, d| Utc.with_ymd_and_hms(y, 11, d, 10, 0, 0).unwrap();
        let times = vec![old(2011, 1), old(2017, 20), old(2017, 21), old(2017, 22)];
        let f = live_morning(times.clone(), now);
        let mapped: Vec<_> = times.iter().map(|t| f(*t)).collect();
        assert_eq!(mapped[3], now - Duration::minutes(5));
        assert!(mapped.windows(2).all(|w| w[0] < w[1]), "{mapped:?}");
        assert!(mapped[0] >= now - DEMO_WINDOW - Duration::minutes(5));
    }
}
