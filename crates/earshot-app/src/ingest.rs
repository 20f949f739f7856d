//! The one way a mention enters Earshot. The API, `earshot import`,
//! `earshot demo` and the connectors all call [`ingest`]: analysis and
//! priority (off the async runtime), storage in a group commit (acknowledged
//! only once committed), then routing and live events.

use earshot_core::error::{Error, Result};
use earshot_core::mention::NewMention;
use earshot_core::store::{AnalyzedMention, IngestOutcome};

use crate::{App, LiveEvent};

/// A stored mention with what ingestion did with it.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub mention: AnalyzedMention,
    pub outcome: IngestOutcome,
}

/// Analyses, stores and routes `mentions` (already validated), in order.
/// Returns only after the commit that holds them, so what it returns
/// survives a crash. Routing runs after the commit: a rule that fails is
/// logged and never loses a mention.
pub async fn ingest(app: &App, mentions: Vec<NewMention>) -> Result<Vec<Ingested>> {
    if mentions.is_empty() {
        return Ok(Vec::new());
    }
    let pipeline = app.pipeline.clone();
    let analyzed = tokio::task::spawn_blocking(move || pipeline.prepare_batch(mentions))
        .await
        .map_err(|e| Error::internal(format!("analysis task failed: {e}")))?;
    let (analyzed, outcomes) = app.group_commit.ingest(analyzed, app.clock.now()).await?;
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
