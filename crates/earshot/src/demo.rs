//! The bundled demo: real customer-care conversations from the Customer
//! Support on Twitter sample (see demo/README.md), shifted to recent days.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use earshot_core::auth::Role;
use earshot_core::pipeline::Pipeline;
use earshot_core::store::{CaseAction, Store};
use earshot_store::SqlStore;
use earshot_web::AppState;
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
    /// "brand"`). Only counted by the import: they are stored by the
    /// application layer.
    pub brand_replies: usize,
    pub invalid: usize,
    /// The first invalid records, with line and field.
    pub errors: Vec<String>,
}

/// Loads the sample; loading twice stores nothing new.
pub async fn load(store: &SqlStore, pipeline: &Pipeline, now: DateTime<Utc>) -> Result<Report> {
    // The sample is small and in memory: one pass for the newest time, one to ingest.
    let newest = import::read(SAMPLE, import::Format::Twcs)?
        .filter_map(|r| match r.item {
            Ok(Item::Mention(m)) => Some(m.created_at),
            _ => None,
        })
        .max()
        .unwrap_or(now);
    let records = import::read(SAMPLE, import::Format::Twcs)?;
    // The newest tweet becomes five minutes old.
    let shift = (now - Duration::minutes(5)) - newest;
    ingest_records(store, pipeline, records, 1000, false, Some(shift), None).await
}

/// Creates the demo's API token, or reuses `EARSHOT_BOOTSTRAP_TOKEN`.
pub async fn token(store: &SqlStore) -> Result<String> {
    if let Ok(t) = std::env::var("EARSHOT_BOOTSTRAP_TOKEN")
        && !t.is_empty()
    {
        return Ok(t);
    }
    let token = earshot_web::auth::generate_token();
    store
        .create_token(
            "demo",
            &earshot_web::auth::hash_token(&token),
            Role::Admin,
            Utc::now(),
        )
        .await?;
    Ok(token)
}

/// Ingests `records` in batches, each batch in one transaction. With
/// `routing`, each committed batch then goes through the routing rules in
/// force, as API ingestion does.
pub async fn ingest_records(
    store: &SqlStore,
    pipeline: &Pipeline,
    records: impl Iterator<Item = Record>,
    batch: usize,
    progress: bool,
    shift: Option<Duration>,
    routing: Option<&AppState>,
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
    while iter.peek().is_some() {
        let mut pending = Vec::with_capacity(batch);
        for record in iter.by_ref().take(batch) {
            match record.item {
                Ok(Item::Mention(mut m)) => {
                    if let Some(shift) = shift {
                        m.created_at += shift;
                    }
                    pending.push(m);
                }
                Ok(Item::BrandReply(_)) => report.brand_replies += 1,
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
        let analyzed = pipeline.prepare_batch(pending);
        let outcomes = store
            .ingest(&analyzed, Utc::now())
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        if let Some(state) = routing {
            earshot_web::workflow::route_ingested(state, &outcomes).await;
        }
        for o in outcomes {
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
