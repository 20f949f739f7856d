//! What the brand says back, internal notes, and the audit trail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CaseId, NoteId, ReplyId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Visible to everyone on the platform.
    Public,
    /// A DM, email or phone note: only the customer sees it.
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "public" => Some(Visibility::Public),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }
}

/// Where a reply stands. Only a channel's acknowledgement (or an agent
/// saying they posted it themselves) makes a reply `sent`:
/// `draft → pending_approval → queued → sending → sent | failed`, and
/// `manual` when no connector can deliver to the case's source, until an
/// agent posts it by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatus {
    Draft,
    /// Held until a supervisor approves it.
    PendingApproval,
    /// Waiting in the outbox for its channel.
    Queued,
    /// Handed to the channel; no answer yet.
    Sending,
    /// The channel acknowledged it (or an agent posted it by hand).
    Sent,
    /// The channel refused it; `error` says why.
    Failed,
    /// No connector delivers to this source: an agent must post the text
    /// themselves and then mark it posted.
    Manual,
}

impl ReplyStatus {
    pub const ALL: [ReplyStatus; 7] = [
        ReplyStatus::Draft,
        ReplyStatus::PendingApproval,
        ReplyStatus::Queued,
        ReplyStatus::Sending,
        ReplyStatus::Sent,
        ReplyStatus::Failed,
        ReplyStatus::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReplyStatus::Draft => "draft",
            ReplyStatus::PendingApproval => "pending_approval",
            ReplyStatus::Queued => "queued",
            ReplyStatus::Sending => "sending",
            ReplyStatus::Sent => "sent",
            ReplyStatus::Failed => "failed",
            ReplyStatus::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<ReplyStatus> {
        ReplyStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Meant for the customer (sent or on its way): counts when another
    /// agent checks whether someone already answered.
    pub fn is_outgoing(self) -> bool {
        matches!(
            self,
            ReplyStatus::Queued | ReplyStatus::Sending | ReplyStatus::Sent | ReplyStatus::Manual
        )
    }
}

/// How a sent reply reached the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveredVia {
    /// A connector posted it and the platform acknowledged it.
    Channel,
    /// An agent posted it themselves and said so.
    Hand,
    /// The brand's own answer, imported with the conversation.
    Imported,
}

impl DeliveredVia {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveredVia::Channel => "channel",
            DeliveredVia::Hand => "hand",
            DeliveredVia::Imported => "imported",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveredVia> {
        [
            DeliveredVia::Channel,
            DeliveredVia::Hand,
            DeliveredVia::Imported,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// What happens to a reply the agent sends, decided by the application
/// from the case's source and the connectors it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyRoute {
    /// Keep it as a draft (not sent, or held for approval).
    Draft,
    /// Held for a supervisor's approval.
    PendingApproval,
    /// A connector will deliver it: into the outbox, for this source with
    /// this idempotency key.
    Queue(crate::outbox::OutboxTarget),
    /// Nothing can deliver it: the agent posts it by hand.
    Manual,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Reply {
    #[schema(value_type = i64)]
    pub id: ReplyId,
    #[schema(value_type = i64)]
    pub case_id: CaseId,
    pub visibility: Visibility,
    pub body: String,
    pub status: ReplyStatus,
    pub author: String,
    pub approved_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the channel acknowledged it, or when it was posted by hand.
    pub sent_at: Option<DateTime<Utc>>,
    /// The platform's reason when `failed`.
    pub error: Option<String>,
    pub delivered_via: Option<DeliveredVia>,
    /// The post's id on its platform once sent.
    pub channel_message_id: Option<String>,
    /// A link to the post once sent, when known.
    pub channel_url: Option<String>,
    /// Its outbox row, when a connector delivers it (case detail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<crate::outbox::Delivery>,
}

/// A reply the brand already posted elsewhere (an imported conversation):
/// it joins the case of the post it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalReply {
    pub source: crate::source::SourceKind,
    /// The reply's own id on the platform; re-importing it stores nothing new.
    pub external_id: String,
    /// The external id of the customer post it answers.
    pub in_reply_to: String,
    /// The brand account that posted it.
    pub author: String,
    pub body: String,
    pub sent_at: DateTime<Utc>,
}

/// An internal note: never shown to the customer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Note {
    #[schema(value_type = i64)]
    pub id: NoteId,
    #[schema(value_type = i64)]
    pub case_id: CaseId,
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// One line of the audit trail: who did what, when, with the state before
/// and after.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    #[schema(value_type = Option<i64>)]
    pub case_id: Option<CaseId>,
    pub actor: String,
    pub action: String,
    #[schema(value_type = Option<serde_json::Value>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<serde_json::Value>)]
    pub after: Option<serde_json::Value>,
    pub at: DateTime<Utc>,
}
