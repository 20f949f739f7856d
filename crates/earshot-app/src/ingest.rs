//! The one way a mention enters Earshot. The API, `earshot import`,
//! `earshot demo` and the connectors all call [`ingest`]: analysis and
//! priority (off the async runtime), storage in a group commit (acknowledged
//! only once committed), then routing and live events.

use earshot_core::error::{Error, Result};
use earshot_core::ids::CaseId;
use std::collections::HashSet;

use earshot_core::mention::NewMention;
use earshot_core::pipeline::Known;
use earshot_core::reply::ExternalReply;
use earshot_core::sources::Checkpoint;
use earshot_core::store::{AnalyzedMention, IngestOutcome};

use crate::{App, LiveEvent};

/// A stored mention with what ingestion did with it.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub mention: AnalyzedMention,
    pub outcome: IngestOutcome,
}

/// How a batch enters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestOptions {
    /// Past conversations (an archive import): stored, searchable and
    /// analysed, with no case and so no SLA clock.
    pub historical: bool,
    /// Sources' progress past this batch (a connector's cursor), committed
    /// with it: stored together or not at all.
    pub checkpoints: Vec<Checkpoint>,
}

/// Analyses, stores and routes `mentions` (already validated), in order.
/// Returns only after the commit that holds them, so what it returns
/// survives a crash. Routing runs after the commit: a rule that fails is
/// logged and never loses a mention.
pub async fn ingest(app: &App, mentions: Vec<NewMention>) -> Result<Vec<Ingested>> {
    ingest_with(app, mentions, IngestOptions::default()).await
}

/// [`ingest`] with options.
pub async fn ingest_with(
    app: &App,
    mentions: Vec<NewMention>,
    options: IngestOptions,
) -> Result<Vec<Ingested>> {
    if mentions.is_empty() && options.checkpoints.is_empty() {
        return Ok(Vec::new());
    }
    let known = known(app, &options).await?;
    let pipeline = app.pipeline.clone();
    let analyzed = tokio::task::spawn_blocking(move || pipeline.prepare_batch(mentions, &known))
        .await
        .map_err(|e| Error::internal(format!("analysis task failed: {e}")))?;
    let (analyzed, outcomes) = app
        .group_commit
        .ingest_checkpointed(analyzed, options.checkpoints, app.clock.now())
        .await?;
    crate::routing::route_ingested(app, &outcomes).await;
    for o in outcomes.iter().filter(|o| !o.duplicate) {
        let _ = app.live.send(LiveEvent::MentionIngested {
            mention_id: o.mention_id,
            case_id: o.case.map(|c| c.id),
        });
    }
    Ok(analyzed
        .into_iter()
        .zip(outcomes)
        .map(|(mention, outcome)| Ingested { mention, outcome })
        .collect())
}

/// What ingestion knows about authors: the brand's VIP and press lists
/// (customer value in the priority), read once per batch.
async fn known(app: &App, options: &IngestOptions) -> Result<Known> {
    let list = |name: &'static str| async move {
        Ok::<HashSet<String>, Error>(
            app.workflow
                .author_list(name)
                .await?
                .into_iter()
                .map(|h| h.trim_start_matches('@').to_lowercase())
                .collect(),
        )
    };
    Ok(Known {
        vip: list("vip").await?,
        press: list("press").await?,
        historical: options.historical,
        now: app.clock.now(),
    })
}

/// Stores the brand's own answers from an imported conversation (see
/// `Store::record_external_replies`); returns how many found their case.
pub async fn record_brand_replies(
    app: &App,
    replies: &[ExternalReply],
) -> Result<Vec<Option<CaseId>>> {
    if replies.is_empty() {
        return Ok(Vec::new());
    }
    let joined = app
        .store
        .record_external_replies(replies, app.clock.now())
        .await?;
    let mut cases: Vec<CaseId> = joined.iter().flatten().copied().collect();
    cases.sort_unstable();
    cases.dedup();
    for case_id in cases {
        crate::priority::refresh_case(app, case_id, app.clock.now()).await?;
        let _ = app.live.send(LiveEvent::CaseUpdated { case_id });
    }
    Ok(joined)
}
