//! A case: one customer conversation, tracked from first complaint to close.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::analysis::Sentiment;
use crate::ids::CaseId;
use crate::priority::Priority;
use crate::source::SourceKind;

/// The case lifecycle: new → open → pending (waiting on the customer) →
/// resolved → closed. A customer writing again reopens a pending case, and a
/// resolved one when the new post would open a case by itself (see
/// `intake::plan`: a "thanks" joins a resolved case and leaves it resolved);
/// a closed case stays closed and the next message opens a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    New,
    Open,
    Pending,
    Resolved,
    Closed,
}

/// Who asked for a status change; customers can only reopen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Agent,
    Customer,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a case cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: CaseStatus,
    pub to: CaseStatus,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 5] = [
        CaseStatus::New,
        CaseStatus::Open,
        CaseStatus::Pending,
        CaseStatus::Resolved,
        CaseStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::New => "new",
            CaseStatus::Open => "open",
            CaseStatus::Pending => "pending",
            CaseStatus::Resolved => "resolved",
            CaseStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<CaseStatus> {
        CaseStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A case that still needs the brand's attention or may be reopened by the
    /// customer; new mentions of its conversation join it.
    pub fn accepts_mentions(self) -> bool {
        self != CaseStatus::Closed
    }

    /// Statuses in which the case still waits on someone.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            CaseStatus::New | CaseStatus::Open | CaseStatus::Pending
        )
    }

    /// Checks a transition requested by an agent.
    pub fn transition(self, to: CaseStatus) -> Result<CaseStatus, TransitionError> {
        use CaseStatus::*;
        let allowed = matches!(
            (self, to),
            (New, Open | Pending | Resolved)
                | (Open, Pending | Resolved)
                | (Pending, Open | Resolved)
                | (Resolved, Open | Closed)
        );
        if allowed {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }

    /// The status after the customer writes something that needs an
    /// answer: waiting and resolved cases come back to the queue, others
    /// keep their status. (`intake::plan` leaves a resolved case resolved
    /// for a follow-up that needs none.)
    pub fn on_customer_message(self) -> CaseStatus {
        match self {
            CaseStatus::Pending | CaseStatus::Resolved => CaseStatus::Open,
            other => other,
        }
    }
}

impl std::fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tracked customer conversation.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Case {
    #[schema(value_type = i64)]
    pub id: CaseId,
    pub status: CaseStatus,
    pub source: SourceKind,
    /// The conversation key: thread or author (see `NewMention::conversation_key`).
    pub conversation_key: String,
    pub author_handle: String,
    /// The first complaint, shortened, for lists.
    pub subject: String,
    /// The latest sentiment read in the conversation.
    pub sentiment: Sentiment,
    pub category: Option<String>,
    pub priority: Priority,
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub tags: Vec<String>,
    pub location: Option<String>,
    pub product: Option<String>,
    pub mention_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the customer last wrote; the waiting time counts from here.
    pub last_customer_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    /// When the brand last answered (a reply actually sent).
    pub last_brand_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl Case {
    /// The brand answered the customer's latest message: the case waits on
    /// the customer, not on an agent.
    pub fn answered(&self) -> bool {
        self.status == CaseStatus::Pending
            || self
                .last_brand_at
                .is_some_and(|b| b >= self.last_customer_at)
    }
}

/// Shortens text to a list-friendly subject on a character boundary.
pub fn subject_from(text: &str) -> String {
    const MAX: usize = 140;
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= MAX {
        return flat;
    }
    let cut: String = flat.chars().take(MAX - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // unwrap_err in tests; clippy 1.95 counts it
mod tests {
    use super::*;
    use CaseStatus::*;

    #[test]
    fn the_happy_path_is_allowed() {
        let s = New.transition(Open).and_then(|s| s.transition(Pending));
        let s = s.and_then(|s| s.transition(Resolved));
        let s = s.and_then(|s| s.transition(Closed));
        assert_eq!(s, Ok(Closed));
    }

    #[test]
    fn invalid_transitions_are_typed_errors() {
        assert_eq!(
            Closed.transition(Open),
            Err(TransitionError {
                from: Closed,
                to: Open
            })
        );
        assert!(New.transition(Closed).is_err());
        assert!(Open.transition(New).is_err());
        assert!(Open.transition(Open).is_err());
        let msg = Closed.transition(Open).unwrap_err().to_string();
        assert_eq!(msg, "a case cannot go from closed to open");
    }

    #[test]
    fn no_transition_leads_back_to_new() {
        for from in CaseStatus::ALL {
            assert!(from.transition(New).is_err());
        }
    }

    #[test]
    fn customer_message_reopens_waiting_and_resolved_cases() {
        assert_eq!(Pending.on_customer_message(), Open);
        assert_eq!(Resolved.on_customer_message(), Open);
        assert_eq!(New.on_customer_message(), New);
        assert!(!Closed.accepts_mentions());
        assert!(Resolved.accepts_mentions());
    }

    #[test]
    fn subject_is_flattened_and_shortened() {
        assert_eq!(subject_from("a\n b   c"), "a b c");
        let long = "x".repeat(500);
        let s = subject_from(&long);
        assert_eq!(s.chars().count(), 140);
        assert!(s.ends_with('…'));
    }
}
