//! Changes the desk shows live (server-sent events).

use earshot_core::ids::{CaseId, MentionId};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    MentionIngested {
        mention_id: MentionId,
        case_id: Option<CaseId>,
    },
    CaseUpdated {
        case_id: CaseId,
    },
}
