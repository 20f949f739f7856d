//! The reply outbox: each reply routed to a connector is one row, delivered
//! exactly once. A worker claims due rows under a lease, hands each to its
//! source's connector and records what the platform said; a row whose last
//! attempt ended without an answer (or whose worker died mid-send) is
//! reconciled with the platform before it is ever sent again.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{CaseId, OutboxId, ReplyId, SourceId};
use crate::reply::Visibility;

/// Where a queued reply goes: the source whose connector delivers it, and
/// the idempotency key that connector made for it (the same for every
/// attempt, so a retry cannot post twice where the platform can prevent it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxTarget {
    pub source_id: SourceId,
    pub idempotency_key: String,
    /// `None`: the reply answers the case's latest mention heard through
    /// this source (the latest public one for a public reply; for a private
    /// one the latest private one, if there is one). `Some`: it goes to
    /// this recipient with this reference, as a private handoff names them
    /// (an email address, a new thread).
    pub address: Option<OutboxAddress>,
}

/// Whom a queued reply goes to and how it threads, when the caller names
/// them rather than the case's mentions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxAddress {
    /// The customer's handle or address on the platform.
    pub recipient: String,
    /// What the connector needs (`Connector::open_private` makes one for a
    /// new private conversation).
    pub reply_ref: serde_json::Value,
}

/// Where one reply's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for its next attempt (`next_attempt_at`).
    Queued,
    /// Claimed by a worker under a lease; an expired lease means the worker
    /// died mid-send, so the next claim reconciles first.
    Sending,
    /// The last attempt went out and no answer came back: it may have
    /// landed. Reconciled before any resend.
    Unknown,
    /// The platform acknowledged it.
    Sent,
    /// Refused for good (too long, a closed private gate, the platform's
    /// own refusal); never sent again.
    Failed,
    /// Given up after too many attempts or too long, with the last error.
    Dead,
}

impl OutboxStatus {
    pub const ALL: [OutboxStatus; 6] = [
        OutboxStatus::Queued,
        OutboxStatus::Sending,
        OutboxStatus::Unknown,
        OutboxStatus::Sent,
        OutboxStatus::Failed,
        OutboxStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Queued => "queued",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Unknown => "unknown",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
            OutboxStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxStatus> {
        OutboxStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Nothing more will be attempted.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OutboxStatus::Sent | OutboxStatus::Failed | OutboxStatus::Dead
        )
    }
}

/// One reply's delivery, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub id: OutboxId,
    pub reply_id: ReplyId,
    pub case_id: CaseId,
    /// `None` only for rows queued before sources existed: nothing can
    /// deliver those.
    pub source_id: Option<SourceId>,
    pub idempotency_key: String,
    pub visibility: Visibility,
    pub body: String,
    /// The customer's handle (or address) on the platform.
    pub recipient: String,
    /// What the connector needs to thread the reply (stored with the
    /// mention it answers).
    pub reply_ref: serde_json::Value,
    pub status: OutboxStatus,
    /// Deliveries tried (sends and reconciliations that got an answer or an
    /// error); a reply left waiting for its channel counts none.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub remote_id: Option<String>,
    pub remote_url: Option<String>,
    pub last_error: Option<String>,
    /// When the customer last wrote (windowed private gates).
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set on a claimed row that was `unknown`, or `sending` under an
    /// expired lease (a crash mid-send): the worker asks the platform
    /// whether it landed before sending again.
    pub needs_reconcile: bool,
}

/// What one attempt came to, as the worker decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxResult {
    /// The platform has it.
    Sent {
        remote_id: String,
        url: Option<String>,
    },
    /// Try again at `at`; `unknown` when the attempt may have landed (the
    /// next one reconciles first).
    Retry {
        at: DateTime<Utc>,
        error: String,
        unknown: bool,
    },
    /// Refused for good, in the platform's words.
    Failed { error: String },
    /// Too many attempts or too long: given up with the last error.
    Dead { error: String },
}

/// A reply's delivery as the case page and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub status: OutboxStatus,
    pub attempts: u32,
    pub remote_id: Option<String>,
    pub url: Option<String>,
    /// The platform's reason for the last failure.
    pub last_error: Option<String>,
    /// When the next attempt is due, while one is.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl From<&OutboxItem> for Delivery {
    fn from(item: &OutboxItem) -> Self {
        Delivery {
            status: item.status,
            attempts: item.attempts,
            remote_id: item.remote_id.clone(),
            url: item.remote_url.clone(),
            last_error: item.last_error.clone(),
            next_attempt_at: (!item.status.is_final()).then_some(item.next_attempt_at),
        }
    }
}

#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Claims up to `limit` rows due at `now` (queued or unknown with
    /// `next_attempt_at <= now`, or sending under a lease that expired) for
    /// `owner`, leased for `lease`; their replies show as `sending`. Two
    /// workers never claim one row under the same live lease.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: u32,
        owner: &str,
    ) -> Result<Vec<OutboxItem>>;
    /// Records an attempt's result (one attempt counted) on a row `owner`
    /// still holds. `Sent` marks the reply sent as a channel
    /// acknowledgement does (its post id and link, the case's first
    /// response and last brand answer); `Failed`/`Dead` mark it failed with
    /// the reason; `Retry` puts it back in the queue. A row whose lease
    /// passed to another worker is left alone (409).
    async fn complete(
        &self,
        id: OutboxId,
        owner: &str,
        result: &OutboxResult,
        now: DateTime<Utc>,
    ) -> Result<OutboxItem>;
    /// Gives a claimed row back untried (its channel is not running): due
    /// again at `at`, no attempt counted, still in doubt if it was.
    async fn release(
        &self,
        id: OutboxId,
        owner: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Makes the rows `ids` due at `now` when they are waiting (queued or
    /// unknown, no lease) for a later time: a worker released them for a
    /// missing channel, and the channel is running now.
    async fn due_now(&self, ids: &[OutboxId], now: DateTime<Utc>) -> Result<()>;
    async fn for_reply(&self, reply_id: ReplyId) -> Result<Option<OutboxItem>>;
    /// Every delivery of a case's replies, oldest first.
    async fn for_case(&self, case_id: CaseId) -> Result<Vec<OutboxItem>>;
}
