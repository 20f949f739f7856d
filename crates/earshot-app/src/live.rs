//! Changes the desk shows live (server-sent events).

use serde::Serialize;

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
