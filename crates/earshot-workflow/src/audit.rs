//! Audit records: who changed what, when, with the state before and after.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditEntity {
    Case,
    Rule,
    Policy,
    User,
    Reply,
    Team,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Created,
    Updated,
    Deleted,
    Assigned,
    Escalated,
    ApprovalRequested,
    Approved,
    Rejected,
    Sent,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Created => "created",
            AuditAction::Updated => "updated",
            AuditAction::Deleted => "deleted",
            AuditAction::Assigned => "assigned",
            AuditAction::Escalated => "escalated",
            AuditAction::ApprovalRequested => "approval_requested",
            AuditAction::Approved => "approved",
            AuditAction::Rejected => "rejected",
            AuditAction::Sent => "sent",
        }
    }
}

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

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    pub actor: AuditActor,
    pub entity: AuditEntity,
    /// Numeric ids as decimal text; users by name.
    pub entity_id: String,
    pub action: AuditAction,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
#[error("could not record the audit state: {0}")]
pub struct AuditError(#[from] serde_json::Error);

impl Change {
    fn build(
        actor: AuditActor,
        entity: AuditEntity,
        entity_id: impl ToString,
        action: AuditAction,
        before: Option<Value>,
        after: Option<Value>,
        at: DateTime<Utc>,
    ) -> Change {
        Change {
            actor,
            entity,
            entity_id: entity_id.to_string(),
            action,
            before,
            after,
            at,
        }
    }

    pub fn created<T: Serialize>(
        actor: AuditActor,
        entity: AuditEntity,
        entity_id: impl ToString,
        after: &T,
        at: DateTime<Utc>,
    ) -> Result<Change, AuditError> {
        let after = serde_json::to_value(after)?;
        Ok(Change::build(
            actor,
            entity,
            entity_id,
            AuditAction::Created,
            None,
            Some(after),
            at,
        ))
    }

    pub fn deleted<T: Serialize>(
        actor: AuditActor,
        entity: AuditEntity,
        entity_id: impl ToString,
        before: &T,
        at: DateTime<Utc>,
    ) -> Result<Change, AuditError> {
        let before = serde_json::to_value(before)?;
        Ok(Change::build(
            actor,
            entity,
            entity_id,
            AuditAction::Deleted,
            Some(before),
            None,
            at,
        ))
    }

    /// A change from `before` to `after` under `action` (updated, approved,
    /// sent…). Only the top-level fields that differ are kept, so the log
    /// shows what changed; `None` when nothing did.
    pub fn between<T: Serialize>(
        actor: AuditActor,
        entity: AuditEntity,
        entity_id: impl ToString,
        action: AuditAction,
        before: &T,
        after: &T,
        at: DateTime<Utc>,
    ) -> Result<Option<Change>, AuditError> {
        let before = serde_json::to_value(before)?;
        let after = serde_json::to_value(after)?;
        if before == after {
            return Ok(None);
        }
        let (before, after) = match (before, after) {
            (Value::Object(mut b), Value::Object(mut a)) => {
                let same: Vec<String> = b
                    .iter()
                    .filter(|(k, v)| a.get(*k) == Some(*v))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in same {
                    b.remove(&k);
                    a.remove(&k);
                }
                (Value::Object(b), Value::Object(a))
            }
            other => other,
        };
        Ok(Some(Change::build(
            actor,
            entity,
            entity_id,
            action,
            Some(before),
            Some(after),
            at,
        )))
    }

    /// Top-level fields present in either side, sorted.
    pub fn changed_fields(&self) -> Vec<String> {
        let mut keys: Vec<String> = [&self.before, &self.after]
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|o| o.keys().cloned())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[derive(Serialize)]
    struct CaseView {
        status: &'static str,
        assignee: Option<&'static str>,
        tags: Vec<&'static str>,
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap()
    }

    #[test]
    fn updates_keep_only_what_changed() {
        let before = CaseView {
            status: "open",
            assignee: None,
            tags: vec!["billing"],
        };
        let after = CaseView {
            status: "open",
            assignee: Some("sam"),
            tags: vec!["billing"],
        };
        let sam = AuditActor::User { name: "sam".into() };
        let c = Change::between(
            sam,
            AuditEntity::Case,
            7,
            AuditAction::Assigned,
            &before,
            &after,
            at(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.entity_id, "7");
        assert_eq!(c.before, Some(json!({"assignee": null})));
        assert_eq!(c.after, Some(json!({"assignee": "sam"})));
        assert_eq!(c.changed_fields(), ["assignee"]);
        let same = Change::between(
            AuditActor::System,
            AuditEntity::Case,
            7,
            AuditAction::Updated,
            &before,
            &before,
            at(),
        );
        assert!(same.unwrap().is_none(), "no-op updates are not logged");
    }

    #[test]
    fn approval_is_recorded_with_the_approver() {
        let draft = json!({"status": "draft", "approved_by": null, "body": "Sorry!"});
        let approved = json!({"status": "approved", "approved_by": "sam", "body": "Sorry!"});
        let c = Change::between(
            AuditActor::User { name: "sam".into() },
            AuditEntity::Reply,
            41,
            AuditAction::Approved,
            &draft,
            &approved,
            at(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.after.as_ref().unwrap()["approved_by"], "sam");
        assert_eq!(c.actor.to_string(), "sam");
        assert_eq!(serde_json::to_value(&c).unwrap()["action"], "approved");
    }

    #[test]
    fn creation_and_deletion_carry_one_side() {
        let rule = json!({"id": 3, "name": "VIP"});
        let by_rule = AuditActor::Rule {
            rule_id: 3,
            version: 5,
        };
        assert_eq!(by_rule.to_string(), "rule:3@v5");
        let c = Change::created(by_rule, AuditEntity::Rule, 3, &rule, at()).unwrap();
        assert_eq!((c.before.is_none(), c.after.as_ref()), (true, Some(&rule)));
        let d = Change::deleted(AuditActor::System, AuditEntity::Rule, 3, &rule, at()).unwrap();
        assert_eq!((d.before.as_ref(), d.after.is_none()), (Some(&rule), true));
        assert_eq!(d.changed_fields(), ["id", "name"]);
        assert_eq!(
            AuditAction::ApprovalRequested.as_str(),
            "approval_requested"
        );
    }
}
