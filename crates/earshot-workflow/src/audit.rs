//! Who an audit record names as the actor. The records themselves are
//! `earshot_core::workflow_store::AuditRecord`, written by the store.

use serde::{Deserialize, Serialize};

/// Who made a change: a person, the system (SLA escalation, ingestion), or
/// a routing rule at a given version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditActor {
    User { name: String },
    System,
    Rule { rule_id: i64, version: u32 },
}

impl std::fmt::Display for AuditActor {
    /// The flat form stored in `Event::actor`: "sam", "system", "rule:3@v5".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditActor::User { name } => f.write_str(name),
            AuditActor::System => f.write_str("system"),
            AuditActor::Rule { rule_id, version } => write!(f, "rule:{rule_id}@v{version}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_flatten_to_the_stored_form() {
        let by_rule = AuditActor::Rule {
            rule_id: 3,
            version: 5,
        };
        assert_eq!(by_rule.to_string(), "rule:3@v5");
        assert_eq!(AuditActor::System.to_string(), "system");
        assert_eq!(AuditActor::User { name: "sam".into() }.to_string(), "sam");
    }
}
