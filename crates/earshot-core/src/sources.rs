//! Configured sources: one connector instance each (a feed, an account, a
//! mailbox), with the health its runtime task reports and the cursor it has
//! read up to. The [`SourceStore`] contract keeps them; `earshot-store`
//! implements it for SQLite and PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::ids::SourceId;
use crate::source::SourceKind;

/// Where a source's runtime task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    /// Created, edited or resumed; the connector has not answered yet.
    Starting,
    /// The last attempt succeeded.
    Running,
    /// The last attempt failed with something worth retrying; waiting.
    BackingOff,
    /// The connector cannot be built or keeps failing permanently.
    Error,
    /// Paused by an admin.
    Paused,
    /// Paused after consecutive authentication failures: an admin must
    /// fix the credentials and resume it.
    AuthPaused,
}

impl SourceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceState::Starting => "starting",
            SourceState::Running => "running",
            SourceState::BackingOff => "backing_off",
            SourceState::Error => "error",
            SourceState::Paused => "paused",
            SourceState::AuthPaused => "auth_paused",
        }
    }

    pub fn parse(s: &str) -> Option<SourceState> {
        [
            SourceState::Starting,
            SourceState::Running,
            SourceState::BackingOff,
            SourceState::Error,
            SourceState::Paused,
            SourceState::AuthPaused,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// What a source's task last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SourceHealth {
    pub state: SourceState,
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last failure in the platform's own words.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// New mentions this source has stored (duplicates not counted).
    pub mentions_ingested: u64,
    /// Records the platform sent that could not be read or were invalid.
    pub records_skipped: u64,
    /// Authentication failures in a row; two pause the source.
    pub consecutive_auth_failures: u32,
}

/// A stored source. `credentials` is the sealed (encrypted) blob, never
/// plaintext; only the application's secret box opens it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    pub id: SourceId,
    pub kind: SourceKind,
    pub name: String,
    /// The public settings (credentials are split off before storage).
    pub config: serde_json::Map<String, Value>,
    pub credentials: Option<String>,
    pub paused: bool,
    /// As the connector reported them when it last started.
    pub capabilities: Option<Value>,
    /// Where the source has read up to, in the connector's own terms.
    pub cursor: Option<Value>,
    pub health: SourceHealth,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A source as an admin creates it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSource {
    pub kind: SourceKind,
    pub name: String,
    pub config: serde_json::Map<String, Value>,
    /// Sealed credentials, when the kind has any.
    pub credentials: Option<String>,
    pub paused: bool,
}

/// A change an admin makes; `None` keeps a field as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourcePatch {
    pub name: Option<String>,
    /// The whole new public config (the use case merges a partial one).
    pub config: Option<serde_json::Map<String, Value>>,
    /// New sealed credentials (replacing the old ones entirely).
    pub credentials: Option<String>,
    /// Pausing sets the state to `paused`; resuming to `starting` and
    /// forgets earlier authentication failures.
    pub paused: Option<bool>,
}

/// A source's progress, committed in the same transaction as the mentions
/// it covers, so a cursor never runs ahead of what was stored. The store
/// counts the new mentions itself (those whose origin is this source and
/// that were not already stored).
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub source_id: SourceId,
    /// The cursor just past the batch; `None` keeps the saved one.
    pub cursor: Option<Value>,
    /// Records skipped while reading the batch.
    pub skipped: u64,
}

/// How one attempt (start, poll, stream) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// It worked: `last_success_at` is now, auth failures are forgotten.
    Succeeded,
    /// It failed, in the platform's words; `auth` when the credentials
    /// were refused (counted towards pausing the source).
    Failed { error: String, auth: bool },
    /// Only the state changes (waiting, paused).
    StateOnly,
}

/// What a source's task reports after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    pub state: SourceState,
    pub attempt: Attempt,
    /// Set when the connector (re)started and declared its capabilities.
    pub capabilities: Option<Value>,
}

#[async_trait]
pub trait SourceStore: Send + Sync + 'static {
    /// A name already taken is a conflict (409).
    async fn create_source(&self, source: &NewSource, now: DateTime<Utc>) -> Result<SourceRecord>;
    /// Every source, oldest first.
    async fn sources(&self) -> Result<Vec<SourceRecord>>;
    async fn source(&self, id: SourceId) -> Result<Option<SourceRecord>>;
    /// `NotFound` for an unknown id; a name already taken is a conflict.
    async fn update_source(
        &self,
        id: SourceId,
        patch: &SourcePatch,
        now: DateTime<Utc>,
    ) -> Result<SourceRecord>;
    /// Mentions it heard keep their text; their `source_id` is cleared.
    async fn delete_source(&self, id: SourceId) -> Result<()>;
    /// Records an attempt's outcome and returns the health as it now is
    /// (`NotFound` once the source is deleted).
    async fn record_source_health(
        &self,
        id: SourceId,
        report: &HealthReport,
        now: DateTime<Utc>,
    ) -> Result<SourceHealth>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for s in [
            SourceState::Starting,
            SourceState::Running,
            SourceState::BackingOff,
            SourceState::Error,
            SourceState::Paused,
            SourceState::AuthPaused,
        ] {
            assert_eq!(SourceState::parse(s.as_str()), Some(s));
        }
        assert_eq!(SourceState::parse("asleep"), None);
    }
}
