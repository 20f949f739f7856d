//! What every request handler shares.

use std::sync::Arc;

use earshot_core::accounts::Accounts;
use earshot_core::pipeline::Pipeline;
use earshot_core::store::Store;
use earshot_core::workflow_store::WorkflowStore;
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
    /// Users, sessions and the desk's read models; the browser desk answers
    /// 503 until one is set with [`AppState::with_desk`].
    pub desk: Option<Arc<dyn Accounts>>,
    /// Always mark session cookies `Secure` (behind a TLS proxy). Otherwise
    /// they are `Secure` only when the request arrived over https
    /// (`X-Forwarded-Proto: https`), so a plain-http demo on 127.0.0.1 works.
    pub secure_cookies: bool,
    pub login_limiter: Arc<crate::ui::session::LoginLimiter>,
    /// Teams, rules, SLA, approvals, handoffs, audit: the same store as
    /// `store`, seen through the workflow contract.
    pub workflow: Arc<dyn WorkflowStore>,
    /// Who is viewing or drafting which case (in memory: presence expires
    /// within a minute, so it need not survive a restart).
    pub presence: Arc<std::sync::Mutex<earshot_workflow::PresenceRegistry>>,
    /// Group commit for `POST /api/v1/mentions`.
    pub ingest: Arc<crate::ingest_queue::IngestQueue>,
}

impl AppState {
    pub fn new<S: Store + WorkflowStore>(
        store: Arc<S>,
        pipeline: Pipeline,
        clock: Arc<dyn Clock>,
        bootstrap_token: Option<&str>,
    ) -> Self {
        let (live, _) = broadcast::channel(1024);
        AppState {
            ingest: Arc::new(crate::ingest_queue::IngestQueue::new(store.clone())),
            store: store.clone(),
            workflow: store,
            presence: Arc::default(),
            pipeline,
            clock,
            bootstrap_token_hash: bootstrap_token
                .filter(|t| !t.is_empty())
                .map(crate::auth::hash_token),
            live,
            desk: None,
            secure_cookies: false,
            login_limiter: Arc::default(),
        }
    }

    /// Enables the browser desk on this store.
    pub fn with_desk(mut self, desk: Arc<dyn Accounts>) -> Self {
        self.desk = Some(desk);
        self
    }

    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }
}
