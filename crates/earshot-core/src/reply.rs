//! What the brand says back, internal notes, and the audit trail.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

/// draft → approved → sent, or failed when the channel refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyStatus {
    Draft,
    Approved,
    Sent,
    Failed,
}

impl ReplyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplyStatus::Draft => "draft",
            ReplyStatus::Approved => "approved",
            ReplyStatus::Sent => "sent",
            ReplyStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<ReplyStatus> {
        [
            ReplyStatus::Draft,
            ReplyStatus::Approved,
            ReplyStatus::Sent,
            ReplyStatus::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Reply {
    pub id: i64,
    pub case_id: i64,
    pub visibility: Visibility,
    pub body: String,
    pub status: ReplyStatus,
    pub author: String,
    pub approved_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// An internal note: never shown to the customer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Note {
    pub id: i64,
    pub case_id: i64,
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// One line of the audit trail: who did what, when, with the state before
/// and after.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    pub case_id: Option<i64>,
    pub actor: String,
    pub action: String,
    #[schema(value_type = Object)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    pub after: Option<serde_json::Value>,
    pub at: DateTime<Utc>,
}
