//! What every request handler shares.

use std::sync::Arc;

use earshot_core::pipeline::Pipeline;
use earshot_core::store::Store;
use earshot_workflow::Clock;
use serde::Serialize;
use tokio::sync::broadcast;

/// A change the desk shows live (server-sent events).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    MentionIngested {
        mention_id: i64,
        case_id: Option<i64>,
    },
    CaseUpdated {
        case_id: i64,
    },
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub pipeline: Pipeline,
    pub clock: Arc<dyn Clock>,
    /// SHA-256 (hex) of `EARSHOT_BOOTSTRAP_TOKEN`, accepted as an admin token.
    pub bootstrap_token_hash: Option<String>,
    pub live: broadcast::Sender<LiveEvent>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        pipeline: Pipeline,
        clock: Arc<dyn Clock>,
        bootstrap_token: Option<&str>,
    ) -> Self {
        let (live, _) = broadcast::channel(1024);
        AppState {
            store,
            pipeline,
            clock,
            bootstrap_token_hash: bootstrap_token
                .filter(|t| !t.is_empty())
                .map(crate::auth::hash_token),
            live,
        }
    }
}
