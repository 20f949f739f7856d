//! Row ids that say what they identify, so a case id cannot be passed where
//! a reply id belongs. Each is the database's `i64`, transparent on the wire
//! (a JSON number); fields that carry one say `#[schema(value_type = i64)]`
//! so the OpenAPI document keeps plain integers rather than a component per id.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            Serialize, Deserialize, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = i64)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    )*};
}

id! {
    /// A case.
    CaseId,
    /// A stored mention.
    MentionId,
    /// A reply, drafted or sent.
    ReplyId,
    /// An internal note on a case.
    NoteId,
    /// A handoff of a case to another team.
    HandoffId,
    /// A registered webhook.
    WebhookId,
    /// An SLA policy.
    PolicyId,
    /// A configured source (one connector instance: a feed, an account, a mailbox).
    SourceId,
    /// A row of the outbox: one reply's delivery.
    OutboxId,
    /// A case taken private: its public acknowledgement and its private
    /// message (or follow-up), tracked as one.
    PrivateHandoffId,
    /// A case's CSAT request.
    CsatRequestId,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_numbers_on_the_wire() {
        assert_eq!(serde_json::to_string(&CaseId(7)).unwrap(), "7");
        assert_eq!(serde_json::from_str::<ReplyId>("12").unwrap(), ReplyId(12));
        assert_eq!(MentionId::from(3).to_string(), "3");
    }
}
