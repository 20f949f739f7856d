//! The store contract. Two implementations live in `earshot-store` (SQLite,
//! the embedded default, and PostgreSQL); one conformance suite tests both.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::analysis::{Analysis, Sentiment};
use crate::auth::Role;
use crate::case::{Case, CaseStatus};
use crate::error::Result;
use crate::ids::{CaseId, MentionId, ReplyId};
use crate::mention::{Mention, NewMention};
use crate::priority::Priority;
use crate::reply::{DeliveredVia, Event, ExternalReply, Note, Reply, ReplyRoute, Visibility};
use crate::source::SourceKind;
use crate::sources::Checkpoint;

/// A validated, analysed mention with the priority it carries into its case.
#[derive(Debug, Clone)]
pub struct AnalyzedMention {
    pub mention: NewMention,
    pub analysis: Analysis,
    pub priority: Priority,
    /// Stored and analysed as history: it opens and joins no case.
    pub historical: bool,
}

/// What ingesting one mention did.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    #[schema(value_type = i64)]
    pub mention_id: MentionId,
    /// The same (source, external_id) was already stored; nothing changed.
    pub duplicate: bool,
    pub case: Option<CaseLink>,
    /// The mention went to the advocates list.
    pub advocate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseAction {
    Opened,
    Joined,
    /// Reported for duplicates: the case the stored mention belongs to.
    Existing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CaseLink {
    #[schema(value_type = i64)]
    pub id: CaseId,
    pub action: CaseAction,
    pub status: CaseStatus,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MentionQuery {
    /// Full-text search: words must all appear; "quoted phrases" match exactly.
    pub q: Option<String>,
    pub source: Option<SourceKind>,
    pub sentiment: Option<Sentiment>,
    pub author: Option<String>,
    pub case_id: Option<i64>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    /// Set by the server for location managers, never by the client: only
    /// mentions whose case is at one of these locations. Filtered in the
    /// query so pages stay full.
    #[serde(skip)]
    #[param(ignore)]
    pub locations: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CaseQuery {
    pub status: Option<CaseStatus>,
    /// Only cases whose priority score is at least this.
    pub min_priority: Option<f32>,
    /// A user name, or `none` for unassigned cases.
    pub assignee: Option<String>,
    pub sentiment: Option<Sentiment>,
    pub source: Option<SourceKind>,
    /// Cases behind a CSAT number: `answered`, `unanswered` (asked, no
    /// answer yet) or a score `1`..`5`.
    #[param(inline)]
    pub csat: Option<crate::csat::CsatFilter>,
    /// Only resolved cases with this recovery outcome (as last assessed,
    /// from their latest resolution): the cases behind a recovery rate.
    pub recovery: Option<crate::recovery::RecoveryOutcome>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    /// Set by the server for location managers, never by the client: only
    /// cases at one of these locations. Filtered in the query so pages stay
    /// full.
    #[serde(skip)]
    #[param(ignore)]
    pub locations: Option<Vec<String>>,
}

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;

/// Clamps a requested page size to `1..=MAX_PAGE`.
pub fn page_size(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

/// A case with everything that happened in it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CaseDetail {
    pub case: Case,
    pub mentions: Vec<Mention>,
    pub replies: Vec<Reply>,
    pub notes: Vec<Note>,
    pub events: Vec<Event>,
}

/// A reply as an agent writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReply {
    pub visibility: Visibility,
    pub body: String,
    /// Send now (through the outbox) or keep as a draft for approval.
    pub send: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

/// An API token as listed to admins: never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TokenSummary {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// Recorded at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set once revoked; a revoked token no longer authenticates.
    pub revoked_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a batch. Each mention is written atomically with its full-text
    /// entry and case change; duplicates by (source, external_id) change
    /// nothing. Outcomes are in input order.
    async fn ingest(
        &self,
        batch: &[AnalyzedMention],
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>> {
        self.ingest_checkpointed(batch, &[], now).await
    }
    /// [`Store::ingest`] that also saves each source's checkpoint (cursor,
    /// counts, last success) in the same transaction: the mentions and the
    /// cursor past them are committed together or not at all.
    async fn ingest_checkpointed(
        &self,
        batch: &[AnalyzedMention],
        checkpoints: &[Checkpoint],
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>>;
    async fn mentions(&self, query: &MentionQuery) -> Result<Vec<Mention>>;
    async fn mention_count(&self) -> Result<i64>;
    /// Cases sorted by priority, then age (oldest first).
    async fn cases(&self, query: &CaseQuery) -> Result<Vec<Case>>;
    async fn case_detail(&self, id: CaseId) -> Result<Option<CaseDetail>>;
    async fn assign(
        &self,
        id: CaseId,
        assignee: Option<String>,
        team: Option<String>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Case>;
    async fn set_status(
        &self,
        id: CaseId,
        status: CaseStatus,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Case>;
    async fn add_note(
        &self,
        id: CaseId,
        body: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Note>;
    /// Adds a reply routed as the application decided: a draft, held for
    /// approval, queued in the outbox (same transaction) for a connector, or
    /// left for an agent to post by hand. None of these is a response yet:
    /// only [`Store::mark_reply_sent`] stops the customer's clock.
    async fn add_reply(
        &self,
        id: CaseId,
        reply: &NewReply,
        route: ReplyRoute,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply>;
    /// Records that a reply reached the customer: `Channel` once its
    /// connector has the platform's acknowledgement (with the post's id and
    /// link), `Hand` when an agent posted it themselves. Sets the case's
    /// first response and last brand answer. A reply already sent is
    /// refused (409), so nothing is recorded twice.
    async fn mark_reply_sent(
        &self,
        reply_id: ReplyId,
        via: DeliveredVia,
        message_id: Option<&str>,
        url: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply>;
    /// Stores the brand's own answers from an imported conversation in the
    /// cases of the posts they answer, with their real times, as sent and
    /// imported. Returns the case each joined (`None` when the post it
    /// answers is unknown or has no case). Re-importing stores nothing new.
    async fn record_external_replies(
        &self,
        replies: &[ExternalReply],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<CaseId>>>;
    /// Stores recomputed priorities (the waiting factor moves with time);
    /// not a change anyone made, so no event and no `updated_at`.
    async fn set_priorities(&self, priorities: &[(CaseId, Priority)]) -> Result<()>;
    /// Stores an API token by its SHA-256 hash; the token itself is never kept.
    async fn create_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// The unrevoked token with this hash; records its use (at most once a
    /// minute, so most lookups stay reads).
    async fn token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<TokenInfo>>;
    /// Every token, revoked ones included, oldest first.
    async fn tokens(&self) -> Result<Vec<TokenSummary>>;
    /// Revokes a token at once; `NotFound` for an unknown id. Revoking a
    /// revoked token changes nothing.
    async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> Result<()>;
}
