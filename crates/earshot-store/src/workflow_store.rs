//! The workflow store (teams, profiles, rules, SLA, approvals, handoffs,
//! notifications, webhooks, audit) on the same pool and SQL conventions as
//! the core store: epoch-ms timestamps, JSON as text, `$n` placeholders.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Transaction};

use earshot_core::auth::Role;
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::{CaseId, MentionId, ReplyId};
use earshot_core::reply::{Reply, ReplyRoute, ReplyStatus};
use earshot_core::sla_policy::SlaPolicy;
use earshot_core::workflow_store::{
    ApprovalRecord, AssignmentStrategy, AuditQuery, AuditRecord, CaseSlaRecord, DueDelivery,
    Handoff, HandoffKind, Notification, RuleSetVersion, SlaCheckpoint, TeamRecord, UserProfile,
    Webhook, WebhookAttempt, WebhookDelivery, WorkflowStore,
};

use crate::rows::{
    self, REPLY_COLUMNS, col, commit, from_ms, insert_event, json_col, ms, opt_json_col, opt_time,
    q, to_json,
};
use crate::{SqlStore, db_error};

type Tx = Transaction<'static, Any>;

impl SqlStore {
    async fn wf_rows(&self, query: Query<'static, Any, AnyArguments>) -> Result<Vec<AnyRow>> {
        query
            .fetch_all(self.pool())
            .await
            .map_err(|e| db_error("query", e))
    }

    async fn wf_team_members(&self, team: &str) -> Result<Vec<String>> {
        let rows = self
            .wf_rows(
                q("SELECT user_name FROM team_members WHERE team = $1 ORDER BY user_name")
                    .bind(team.to_string()),
            )
            .await?;
        rows.iter().map(|r| col(r, "user_name")).collect()
    }

    async fn wf_team_from_row(&self, row: &AnyRow) -> Result<TeamRecord> {
        let name: String = col(row, "name")?;
        Ok(TeamRecord {
            members: self.wf_team_members(&name).await?,
            calendar: opt_json_col(row, "calendar")?,
            strategy: {
                let s: String = col(row, "strategy")?;
                AssignmentStrategy::parse(&s).ok_or_else(|| {
                    Error::internal(format!("stored team strategy {s:?} is unknown"))
                })?
            },
            supervisor: col(row, "supervisor")?,
            round_robin_cursor: col(row, "round_robin_cursor")?,
            name,
        })
    }

    async fn wf_profile_from_row(&self, row: &AnyRow) -> Result<UserProfile> {
        let name: String = col(row, "name")?;
        let teams = self
            .wf_rows(
                q("SELECT team FROM team_members WHERE user_name = $1 ORDER BY team")
                    .bind(name.clone()),
            )
            .await?
            .iter()
            .map(|r| col(r, "team"))
            .collect::<Result<Vec<String>>>()?;
        let role: Option<String> = col(row, "role")?;
        Ok(UserProfile {
            role: role.as_deref().and_then(Role::parse),
            in_training: col::<i64>(row, "in_training")? != 0,
            can_publish: col::<Option<i64>>(row, "can_publish")?.map(|v| v != 0),
            locations: opt_json_col(row, "locations")?,
            away: col::<i64>(row, "away")? != 0,
            capacity: u32::try_from(col::<i64>(row, "capacity")?.max(0)).unwrap_or(u32::MAX),
            languages: json_col(row, "languages")?,
            skills: json_col(row, "skills")?,
            teams,
            name,
        })
    }
}

async fn audit_tx(tx: &mut Tx, r: &AuditRecord) -> Result<()> {
    // Redacted before it is stored: the database never holds a webhook's
    // secret path or a secret value (see `AuditRecord::redact`).
    let r = &r.clone().redact();
    q(
        "INSERT INTO audit_log (entity, entity_id, action, actor, before, after, at) \
       VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(r.entity.clone())
    .bind(r.entity_id.clone())
    .bind(r.action.clone())
    .bind(r.actor.clone())
    .bind(r.before.as_ref().map(Value::to_string))
    .bind(r.after.as_ref().map(Value::to_string))
    .bind(ms(r.at))
    .execute(&mut **tx)
    .await
    .map_err(|e| db_error("audit", e))?;
    Ok(())
}

/// An audit line for a save that creates or replaces: "created" when there
/// was nothing `before`, "updated" otherwise.
fn saved(
    entity: &str,
    entity_id: impl ToString,
    actor: &str,
    before: Option<Value>,
    after: Value,
    at: DateTime<Utc>,
) -> AuditRecord {
    let action = if before.is_some() {
        "updated"
    } else {
        "created"
    };
    change(entity, entity_id, action, actor, before, Some(after), at)
}

fn change(
    entity: &str,
    entity_id: impl ToString,
    action: &str,
    actor: &str,
    before: Option<Value>,
    after: Option<Value>,
    at: DateTime<Utc>,
) -> AuditRecord {
    AuditRecord {
        entity: entity.into(),
        entity_id: entity_id.to_string(),
        action: action.into(),
        actor: actor.into(),
        before,
        after,
        at,
    }
}

fn approval(row: &AnyRow) -> Result<ApprovalRecord> {
    Ok(ApprovalRecord {
        reply_id: ReplyId(col(row, "reply_id")?),
        case_id: CaseId(col(row, "case_id")?),
        requested_by: col(row, "requested_by")?,
        reasons: json_col(row, "reasons")?,
        requested_at: from_ms(col(row, "requested_at")?),
        approved_by: col(row, "approved_by")?,
        approved_at: opt_time(row, "approved_at")?,
        rejected_by: col(row, "rejected_by")?,
        rejected_at: opt_time(row, "rejected_at")?,
        rejection_reason: col(row, "rejection_reason")?,
    })
}

const HANDOFF_COLUMNS: &str = "id, case_id, kind, target, message, created_by, created_at, \
    answer, answered_by, answered_at";

fn handoff(row: &AnyRow) -> Result<Handoff> {
    let kind: String = col(row, "kind")?;
    Ok(Handoff {
        id: col(row, "id")?,
        case_id: CaseId(col(row, "case_id")?),
        kind: HandoffKind::parse(&kind)
            .ok_or_else(|| Error::internal(format!("unknown handoff kind {kind}")))?,
        target: col(row, "target")?,
        message: col(row, "message")?,
        created_by: col(row, "created_by")?,
        created_at: from_ms(col(row, "created_at")?),
        answer: col(row, "answer")?,
        answered_by: col(row, "answered_by")?,
        answered_at: opt_time(row, "answered_at")?,
    })
}

const NOTIFICATION_COLUMNS: &str =
    "id, user_name, kind, case_id, text, payload, created_at, read_at";

fn notification(row: &AnyRow) -> Result<Notification> {
    Ok(Notification {
        id: col(row, "id")?,
        user: col(row, "user_name")?,
        kind: col(row, "kind")?,
        case_id: col::<Option<i64>>(row, "case_id")?.map(CaseId),
        text: col(row, "text")?,
        payload: json_col(row, "payload")?,
        created_at: from_ms(col(row, "created_at")?),
        read_at: opt_time(row, "read_at")?,
    })
}

fn rule_set(row: &AnyRow) -> Result<RuleSetVersion> {
    Ok(RuleSetVersion {
        version: col(row, "version")?,
        rules: json_col(row, "rules")?,
        created_by: col(row, "created_by")?,
        created_at: from_ms(col(row, "created_at")?),
    })
}

/// The stored document with the row's id: the document's own `id` (if
/// any) is stale, and the seeded default policy has none.
fn policy(row: &AnyRow) -> Result<SlaPolicy> {
    let mut p: Value = json_col(row, "policy")?;
    let id: i64 = col(row, "id")?;
    match p.as_object_mut() {
        Some(o) => o.insert("id".into(), json!(id)),
        None => {
            return Err(Error::internal(format!(
                "stored SLA policy {id} is not an object"
            )));
        }
    };
    serde_json::from_value(p).map_err(|e| Error::internal(format!("stored SLA policy {id}: {e}")))
}

fn case_sla(row: &AnyRow) -> Result<CaseSlaRecord> {
    Ok(CaseSlaRecord {
        case_id: CaseId(col(row, "case_id")?),
        policy_id: col(row, "policy_id")?,
        state: col(row, "state")?,
        evaluation: opt_json_col(row, "evaluation")?,
        next_check_at: opt_time(row, "next_check_at")?,
        updated_at: from_ms(col(row, "updated_at")?),
    })
}

fn webhook(row: &AnyRow) -> Result<Webhook> {
    Ok(Webhook {
        id: col(row, "id")?,
        url: col(row, "url")?,
        created_at: from_ms(col(row, "created_at")?),
    })
}

fn audit_record(row: &AnyRow) -> Result<AuditRecord> {
    // Redacted again on the way out, for rows written before redaction.
    Ok(AuditRecord {
        entity: col(row, "entity")?,
        entity_id: col::<Option<String>>(row, "entity_id")?.unwrap_or_default(),
        action: col(row, "action")?,
        actor: col(row, "actor")?,
        before: opt_json_col(row, "before")?,
        after: opt_json_col(row, "after")?,
        at: from_ms(col(row, "at")?),
    }
    .redact())
}

// The contract speaks in typed ids; each method unwraps them once, at the
// top, into the integer its SQL binds (rows wrap them again on read).
#[async_trait]
impl WorkflowStore for SqlStore {
    async fn teams(&self) -> Result<Vec<TeamRecord>> {
        let rows = self
            .wf_rows(q(
                "SELECT name, calendar, strategy, supervisor, round_robin_cursor \
                 FROM teams ORDER BY name",
            ))
            .await?;
        let mut teams = Vec::with_capacity(rows.len());
        for r in &rows {
            teams.push(self.wf_team_from_row(r).await?);
        }
        Ok(teams)
    }

    async fn team(&self, name: &str) -> Result<Option<TeamRecord>> {
        let rows = self
            .wf_rows(
                q(
                    "SELECT name, calendar, strategy, supervisor, round_robin_cursor \
                   FROM teams WHERE name = $1",
                )
                .bind(name.to_string()),
            )
            .await?;
        match rows.first() {
            Some(r) => Ok(Some(self.wf_team_from_row(r).await?)),
            None => Ok(None),
        }
    }

    async fn put_team(
        &self,
        team: &TeamRecord,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<TeamRecord> {
        let before = self.team(&team.name).await?;
        let mut tx = self.write_tx().await?;
        q("INSERT INTO teams (name, calendar, strategy, supervisor, round_robin_cursor, updated_at) \
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET \
           calendar = $2, strategy = $3, supervisor = $4, updated_at = $6")
        .bind(team.name.clone())
        .bind(team.calendar.as_ref().map(to_json).transpose()?)
        .bind(team.strategy.as_str().to_string())
        .bind(team.supervisor.clone())
        .bind(team.round_robin_cursor.clone())
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("save team", e))?;
        q("DELETE FROM team_members WHERE team = $1")
            .bind(team.name.clone())
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("save team", e))?;
        let mut members = team.members.clone();
        members.sort();
        members.dedup();
        for m in &members {
            q("INSERT INTO team_members (team, user_name) VALUES ($1, $2)")
                .bind(team.name.clone())
                .bind(m.clone())
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("save team member", e))?;
        }
        let after = TeamRecord {
            members,
            round_robin_cursor: before.as_ref().and_then(|b| b.round_robin_cursor.clone()),
            ..team.clone()
        };
        audit_tx(
            &mut tx,
            &saved(
                "team",
                &team.name,
                actor,
                before.map(|b| json!(b)),
                json!(after),
                now,
            ),
        )
        .await?;
        commit(tx).await?;
        Ok(after)
    }

    async fn delete_team(&self, name: &str, actor: &str, now: DateTime<Utc>) -> Result<()> {
        let before = self
            .team(name)
            .await?
            .ok_or_else(|| Error::not_found(format!("team {name:?}")))?;
        let mut tx = self.write_tx().await?;
        for sql in [
            "DELETE FROM team_members WHERE team = $1",
            "DELETE FROM teams WHERE name = $1",
        ] {
            q(sql)
                .bind(name.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("delete team", e))?;
        }
        audit_tx(
            &mut tx,
            &change(
                "team",
                name,
                "deleted",
                actor,
                Some(json!(before)),
                None,
                now,
            ),
        )
        .await?;
        commit(tx).await
    }

    async fn set_team_cursor(&self, name: &str, cursor: &str) -> Result<()> {
        q("UPDATE teams SET round_robin_cursor = $1 WHERE name = $2")
            .bind(cursor.to_string())
            .bind(name.to_string())
            .execute(self.pool())
            .await
            .map_err(|e| db_error("team cursor", e))?;
        Ok(())
    }

    async fn users(&self) -> Result<Vec<UserProfile>> {
        let rows = self
            .wf_rows(q("SELECT * FROM workflow_users ORDER BY name"))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.wf_profile_from_row(r).await?);
        }
        Ok(out)
    }

    async fn user(&self, name: &str) -> Result<Option<UserProfile>> {
        let rows = self
            .wf_rows(q("SELECT * FROM workflow_users WHERE name = $1").bind(name.to_string()))
            .await?;
        match rows.first() {
            Some(r) => Ok(Some(self.wf_profile_from_row(r).await?)),
            None => Ok(None),
        }
    }

    async fn put_user(
        &self,
        p: &UserProfile,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<UserProfile> {
        let before = self.user(&p.name).await?;
        let mut tx = self.write_tx().await?;
        q("INSERT INTO workflow_users (name, role, in_training, can_publish, locations, away, \
           capacity, languages, skills, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
           ON CONFLICT (name) DO UPDATE SET role = $2, in_training = $3, can_publish = $4, \
           locations = $5, away = $6, capacity = $7, languages = $8, skills = $9, updated_at = $10")
        .bind(p.name.clone())
        .bind(p.role.map(|r| r.as_str().to_string()))
        .bind(i64::from(p.in_training))
        .bind(p.can_publish.map(i64::from))
        .bind(p.locations.as_ref().map(to_json).transpose()?)
        .bind(i64::from(p.away))
        .bind(i64::from(p.capacity))
        .bind(to_json(&p.languages)?)
        .bind(to_json(&p.skills)?)
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("save user", e))?;
        let mut after = p.clone();
        after.teams = before.as_ref().map(|b| b.teams.clone()).unwrap_or_default();
        audit_tx(
            &mut tx,
            &saved(
                "user",
                &p.name,
                actor,
                before.map(|b| json!(b)),
                json!(after),
                now,
            ),
        )
        .await?;
        commit(tx).await?;
        self.user(&p.name)
            .await?
            .ok_or_else(|| Error::internal("saved user vanished"))
    }

    async fn active_case_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = self
            .wf_rows(q(
                "SELECT assignee, COUNT(*) AS n FROM cases WHERE assignee IS NOT NULL \
                 AND status IN ('new', 'open', 'pending') GROUP BY assignee",
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((col(r, "assignee")?, col(r, "n")?)))
            .collect()
    }

    async fn rule_set_versions(&self) -> Result<Vec<RuleSetVersion>> {
        self.wf_rows(q(
            "SELECT version, rules, created_by, created_at FROM rule_sets ORDER BY version DESC",
        ))
        .await?
        .iter()
        .map(rule_set)
        .collect()
    }

    async fn current_rule_set(&self) -> Result<Option<RuleSetVersion>> {
        self.wf_rows(q(
            "SELECT version, rules, created_by, created_at FROM rule_sets \
                 ORDER BY version DESC LIMIT 1",
        ))
        .await?
        .first()
        .map(rule_set)
        .transpose()
    }

    async fn save_rule_set(
        &self,
        rules: &Value,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<RuleSetVersion> {
        let mut tx = self.write_tx().await?;
        let prev = q(
            "SELECT version, rules, created_by, created_at FROM rule_sets \
                      ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| db_error("read rules", e))?
        .as_ref()
        .map(rule_set)
        .transpose()?;
        let version = prev.as_ref().map_or(1, |p| p.version + 1);
        q("INSERT INTO rule_sets (version, rules, created_by, created_at) VALUES ($1, $2, $3, $4)")
            .bind(version)
            .bind(rules.to_string())
            .bind(actor.to_string())
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("save rules", e))?;
        audit_tx(
            &mut tx,
            &saved(
                "rule",
                version,
                actor,
                prev.map(|p| json!({"version": p.version, "rules": p.rules})),
                json!({"version": version, "rules": rules}),
                now,
            ),
        )
        .await?;
        commit(tx).await?;
        Ok(RuleSetVersion {
            version,
            rules: rules.clone(),
            created_by: actor.to_string(),
            created_at: from_ms(ms(now)),
        })
    }

    async fn sla_policies(&self) -> Result<Vec<SlaPolicy>> {
        self.wf_rows(q("SELECT id, policy FROM sla_policies ORDER BY id"))
            .await?
            .iter()
            .map(policy)
            .collect()
    }

    async fn create_sla_policy(
        &self,
        p: &SlaPolicy,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<SlaPolicy> {
        let mut tx = self.write_tx().await?;
        let row = q(
            "INSERT INTO sla_policies (policy, updated_at) VALUES ($1, $2) \
                     RETURNING id, policy",
        )
        .bind(to_json(p)?)
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error("save policy", e))?;
        let saved = policy(&row)?;
        let id: i64 = col(&row, "id")?;
        audit_tx(
            &mut tx,
            &change(
                "policy",
                id,
                "created",
                actor,
                None,
                Some(json!(saved)),
                now,
            ),
        )
        .await?;
        commit(tx).await?;
        Ok(saved)
    }

    async fn update_sla_policy(
        &self,
        id: i64,
        p: &SlaPolicy,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<SlaPolicy> {
        let mut tx = self.write_tx().await?;
        let before = q("SELECT id, policy FROM sla_policies WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error("read policy", e))?
            .as_ref()
            .map(policy)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("SLA policy {id}")))?;
        let row = q(
            "UPDATE sla_policies SET policy = $1, updated_at = $2 WHERE id = $3 \
                     RETURNING id, policy",
        )
        .bind(to_json(p)?)
        .bind(ms(now))
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error("save policy", e))?;
        let saved = policy(&row)?;
        audit_tx(
            &mut tx,
            &change(
                "policy",
                id,
                "updated",
                actor,
                Some(json!(before)),
                Some(json!(saved)),
                now,
            ),
        )
        .await?;
        commit(tx).await?;
        Ok(saved)
    }

    async fn delete_sla_policy(&self, id: i64, actor: &str, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let before = q("SELECT id, policy FROM sla_policies WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error("read policy", e))?
            .as_ref()
            .map(policy)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("SLA policy {id}")))?;
        q("DELETE FROM sla_policies WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("delete policy", e))?;
        audit_tx(
            &mut tx,
            &change(
                "policy",
                id,
                "deleted",
                actor,
                Some(json!(before)),
                None,
                now,
            ),
        )
        .await?;
        commit(tx).await
    }

    async fn case_sla(&self, case_id: CaseId) -> Result<Option<CaseSlaRecord>> {
        let case_id = case_id.0;
        self.wf_rows(
            q(
                "SELECT case_id, policy_id, state, evaluation, next_check_at, updated_at FROM case_sla \
               WHERE case_id = $1",
            )
            .bind(case_id),
        )
        .await?
        .first()
        .map(case_sla)
        .transpose()
    }

    async fn all_case_sla(&self) -> Result<Vec<CaseSlaRecord>> {
        self.wf_rows(q(
            "SELECT case_id, policy_id, state, evaluation, next_check_at, updated_at FROM case_sla ORDER BY case_id",
        ))
        .await?
        .iter()
        .map(case_sla)
        .collect()
    }

    async fn sla_checkpoints(&self) -> Result<Vec<SlaCheckpoint>> {
        self.wf_rows(q(
            "SELECT case_id, policy_id, state, next_check_at, updated_at FROM case_sla",
        ))
        .await?
        .iter()
        .map(|r| {
            Ok(SlaCheckpoint {
                case_id: CaseId(col(r, "case_id")?),
                policy_id: col(r, "policy_id")?,
                state: col(r, "state")?,
                next_check_at: opt_time(r, "next_check_at")?,
                updated_at: from_ms(col(r, "updated_at")?),
            })
        })
        .collect()
    }

    async fn save_case_sla(&self, r: &CaseSlaRecord) -> Result<()> {
        q(
            "INSERT INTO case_sla (case_id, policy_id, state, evaluation, updated_at, \
           next_check_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id) DO UPDATE SET \
           policy_id = $2, state = $3, evaluation = $4, updated_at = $5, next_check_at = $6",
        )
        .bind(r.case_id.0)
        .bind(r.policy_id)
        .bind(r.state.clone())
        .bind(r.evaluation.as_ref().map(Value::to_string))
        .bind(ms(r.updated_at))
        .bind(r.next_check_at.map(ms))
        .execute(self.pool())
        .await
        .map_err(|e| db_error("save case SLA", e))?;
        Ok(())
    }

    async fn claim_sla_mark(
        &self,
        case_id: CaseId,
        mark: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let case_id = case_id.0;
        let done = q(
            "INSERT INTO sla_marks (case_id, mark, at) VALUES ($1, $2, $3) \
                      ON CONFLICT (case_id, mark) DO NOTHING",
        )
        .bind(case_id)
        .bind(mark.to_string())
        .bind(ms(now))
        .execute(self.pool())
        .await
        .map_err(|e| db_error("SLA mark", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_sensitive(
        &self,
        case_id: CaseId,
        sensitive: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let case_id = case_id.0;
        let before = self.is_sensitive(CaseId(case_id)).await?;
        let mut tx = self.write_tx().await?;
        // CaseNotFound, not the foreign key's internal error, for an unknown case.
        self.fetch_case(&mut tx, case_id).await?;
        q(
            "INSERT INTO case_flags (case_id, sensitive, updated_at) VALUES ($1, $2, $3) \
           ON CONFLICT (case_id) DO UPDATE SET sensitive = $2, updated_at = $3",
        )
        .bind(case_id)
        .bind(i64::from(sensitive))
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("mark sensitive", e))?;
        insert_event(
            &mut tx,
            Some(case_id),
            actor,
            "case.sensitivity_changed",
            Some(json!({"sensitive": before})),
            Some(json!({"sensitive": sensitive})),
            now,
        )
        .await?;
        commit(tx).await
    }

    async fn is_sensitive(&self, case_id: CaseId) -> Result<bool> {
        let case_id = case_id.0;
        let rows = self
            .wf_rows(q("SELECT sensitive FROM case_flags WHERE case_id = $1").bind(case_id))
            .await?;
        Ok(match rows.first() {
            Some(r) => col::<i64>(r, "sensitive")? != 0,
            None => false,
        })
    }

    async fn route_case(
        &self,
        case_id: CaseId,
        priority: Option<f32>,
        tags: &[String],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let case_id = case_id.0;
        let mut tx = self.write_tx().await?;
        let row = q("SELECT priority, tags FROM cases WHERE id = $1")
            .bind(case_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error("read case", e))?
            .ok_or_else(|| Error::case_not_found(case_id))?;
        let old_priority: f64 = col(&row, "priority")?;
        let old_tags: Vec<String> = json_col(&row, "tags")?;
        let mut new_tags = old_tags.clone();
        for t in tags {
            if !new_tags.contains(t) {
                new_tags.push(t.clone());
            }
        }
        let new_priority = priority.map_or(old_priority, f64::from);
        q("UPDATE cases SET priority = $1, tags = $2, updated_at = $3 WHERE id = $4")
            .bind(new_priority)
            .bind(to_json(&new_tags)?)
            .bind(ms(now))
            .bind(case_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("route case", e))?;
        insert_event(
            &mut tx,
            Some(case_id),
            actor,
            "case.routed",
            Some(json!({"priority": old_priority, "tags": old_tags})),
            Some(json!({"priority": new_priority, "tags": new_tags})),
            now,
        )
        .await?;
        commit(tx).await
    }

    async fn add_advocate(
        &self,
        source: &str,
        handle: &str,
        followers: i64,
        mention_id: MentionId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mention_id = mention_id.0;
        q(
            "INSERT INTO advocates (source, handle, followers, positive_mentions, last_mention_id, \
           last_seen) VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT (source, handle) DO UPDATE SET \
           followers = $3, last_mention_id = $4, last_seen = $5, \
           positive_mentions = CASE WHEN advocates.last_mention_id = $4 \
           THEN advocates.positive_mentions ELSE advocates.positive_mentions + 1 END",
        )
        .bind(source.to_string())
        .bind(handle.to_string())
        .bind(followers)
        .bind(mention_id)
        .bind(ms(now))
        .execute(self.pool())
        .await
        .map_err(|e| db_error("add advocate", e))?;
        Ok(())
    }

    async fn lists_of(&self, handle: &str) -> Result<Vec<String>> {
        let handle = handle.trim_start_matches('@').to_lowercase();
        self.wf_rows(
            q("SELECT list FROM author_lists WHERE handle = $1 ORDER BY list").bind(handle),
        )
        .await?
        .iter()
        .map(|r| col(r, "list"))
        .collect()
    }

    async fn author_list(&self, list: &str) -> Result<Vec<String>> {
        self.wf_rows(
            q("SELECT handle FROM author_lists WHERE list = $1 ORDER BY handle")
                .bind(list.to_string()),
        )
        .await?
        .iter()
        .map(|r| col(r, "handle"))
        .collect()
    }

    async fn put_author_list(
        &self,
        list: &str,
        handles: &[String],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let before = self.author_list(list).await?;
        let mut after: Vec<String> = handles
            .iter()
            .map(|h| h.trim().trim_start_matches('@').to_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        after.sort();
        after.dedup();
        let mut tx = self.write_tx().await?;
        q("DELETE FROM author_lists WHERE list = $1")
            .bind(list.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("save author list", e))?;
        for h in &after {
            q("INSERT INTO author_lists (list, handle, added_by, added_at) VALUES ($1, $2, $3, $4)")
                .bind(list.to_string())
                .bind(h.clone())
                .bind(actor.to_string())
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("save author list", e))?;
        }
        audit_tx(
            &mut tx,
            &change(
                "author_list",
                list,
                "updated",
                actor,
                Some(json!(before)),
                Some(json!(after)),
                now,
            ),
        )
        .await?;
        commit(tx).await?;
        Ok(after)
    }

    async fn request_approval(
        &self,
        reply_id: ReplyId,
        requested_by: &str,
        reasons: &[String],
        now: DateTime<Utc>,
    ) -> Result<ApprovalRecord> {
        let reply_id = reply_id.0;
        let reply = self
            .reply(ReplyId(reply_id))
            .await?
            .ok_or_else(|| Error::not_found(format!("reply {reply_id}")))?;
        let mut tx = self.write_tx().await?;
        let row = q(
            "INSERT INTO reply_approvals (reply_id, case_id, requested_by, reasons, \
                     requested_at) VALUES ($1, $2, $3, $4, $5) RETURNING *",
        )
        .bind(reply_id)
        .bind(reply.case_id.0)
        .bind(requested_by.to_string())
        .bind(to_json(&reasons)?)
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error("request approval", e))?;
        let record = approval(&row)?;
        insert_event(
            &mut tx,
            Some(reply.case_id.0),
            requested_by,
            "reply.approval_requested",
            None,
            Some(json!({"reply_id": reply_id, "reasons": reasons})),
            now,
        )
        .await?;
        commit(tx).await?;
        Ok(record)
    }

    async fn approvals(&self, pending_only: bool) -> Result<Vec<ApprovalRecord>> {
        let sql = if pending_only {
            "SELECT * FROM reply_approvals WHERE approved_at IS NULL AND rejected_at IS NULL \
             ORDER BY requested_at, reply_id"
        } else {
            "SELECT * FROM reply_approvals ORDER BY requested_at, reply_id"
        };
        self.wf_rows(q(sql)).await?.iter().map(approval).collect()
    }

    async fn approval(&self, reply_id: ReplyId) -> Result<Option<ApprovalRecord>> {
        let reply_id = reply_id.0;
        self.wf_rows(q("SELECT * FROM reply_approvals WHERE reply_id = $1").bind(reply_id))
            .await?
            .first()
            .map(approval)
            .transpose()
    }

    async fn reply(&self, reply_id: ReplyId) -> Result<Option<Reply>> {
        let reply_id = reply_id.0;
        self.wf_rows(q(format!("SELECT {REPLY_COLUMNS} FROM replies WHERE id = $1")).bind(reply_id))
            .await?
            .first()
            .map(rows::reply)
            .transpose()
    }

    async fn approve_and_send(
        &self,
        reply_id: ReplyId,
        approver: &str,
        route: ReplyRoute,
        now: DateTime<Utc>,
    ) -> Result<Reply> {
        let reply_id = reply_id.0;
        let mut tx = self.write_tx().await?;
        let reply = crate::sql::reply_in(&mut tx, reply_id).await?;
        let rejected = q("SELECT rejected_by FROM reply_approvals WHERE reply_id = $1")
            .bind(reply_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error("read approval", e))?;
        if let Some(row) = rejected
            && let Some(by) = col::<Option<String>>(&row, "rejected_by")?
        {
            return Err(Error::new(
                ErrorCode::InvalidTransition,
                format!("reply {reply_id} was rejected by {by}; the author may write a new one"),
            ));
        }
        if reply.status != ReplyStatus::PendingApproval {
            return Err(Error::new(
                ErrorCode::InvalidTransition,
                format!(
                    "reply {reply_id} is {}, not waiting for approval",
                    reply.status.as_str()
                ),
            ));
        }
        let status = match route {
            ReplyRoute::Queue(_) => ReplyStatus::Queued,
            ReplyRoute::Manual => ReplyStatus::Manual,
            ReplyRoute::Draft | ReplyRoute::PendingApproval => {
                return Err(Error::internal(
                    "an approved reply goes out or to the agent",
                ));
            }
        };
        q("UPDATE replies SET status = $1, approved_by = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(approver.to_string())
            .bind(reply_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("approve reply", e))?;
        q("UPDATE reply_approvals SET approved_by = $1, approved_at = $2 WHERE reply_id = $3")
            .bind(approver.to_string())
            .bind(ms(now))
            .bind(reply_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("approve reply", e))?;
        if let ReplyRoute::Queue(target) = &route {
            crate::sql::queue_outbox(&mut tx, &reply, target, now).await?;
        }
        let after = json!({"reply_id": reply_id, "status": status, "approved_by": approver,
            "author": reply.author, "visibility": reply.visibility});
        insert_event(
            &mut tx,
            Some(reply.case_id.0),
            approver,
            "reply.approved",
            Some(json!({"reply_id": reply_id, "status": "pending_approval"})),
            Some(after.clone()),
            now,
        )
        .await?;
        audit_tx(
            &mut tx,
            &change(
                "reply",
                reply_id,
                "approved",
                approver,
                Some(json!({"status": "pending_approval", "author": reply.author})),
                Some(after),
                now,
            ),
        )
        .await?;
        let sent = crate::sql::reply_in(&mut tx, reply_id).await?;
        commit(tx).await?;
        Ok(sent)
    }

    async fn reject_reply(
        &self,
        reply_id: ReplyId,
        approver: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRecord> {
        let reply_id = reply_id.0;
        let mut tx = self.write_tx().await?;
        let row = q(
            "UPDATE reply_approvals SET rejected_by = $1, rejected_at = $2, \
             rejection_reason = $3 WHERE reply_id = $4 AND approved_at IS NULL \
             AND rejected_at IS NULL RETURNING *",
        )
        .bind(approver.to_string())
        .bind(ms(now))
        .bind(reason.to_string())
        .bind(reply_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| db_error("reject reply", e))?
        .ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidTransition,
                format!("reply {reply_id} is not waiting for approval"),
            )
        })?;
        let record = approval(&row)?;
        // Turned down, the text goes back to its author as a draft.
        q("UPDATE replies SET status = 'draft' WHERE id = $1")
            .bind(reply_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("reject reply", e))?;
        let after = json!({"reply_id": reply_id, "status": "rejected", "rejected_by": approver,
            "reason": reason, "author": record.requested_by});
        insert_event(
            &mut tx,
            Some(record.case_id.0),
            approver,
            "reply.rejected",
            None,
            Some(after.clone()),
            now,
        )
        .await?;
        audit_tx(
            &mut tx,
            &change(
                "reply",
                reply_id,
                "rejected",
                approver,
                Some(json!({"status": "waiting for approval"})),
                Some(after),
                now,
            ),
        )
        .await?;
        commit(tx).await?;
        Ok(record)
    }

    async fn latest_public_reply(&self, case_id: CaseId) -> Result<Option<Reply>> {
        let case_id = case_id.0;
        self.wf_rows(
            q(format!(
                "SELECT {REPLY_COLUMNS} FROM replies WHERE case_id = $1 AND visibility = 'public' \
                 AND status IN ('pending_approval', 'queued', 'sending', 'sent', 'manual') \
                 ORDER BY id DESC LIMIT 1"
            ))
            .bind(case_id),
        )
        .await?
        .first()
        .map(rows::reply)
        .transpose()
    }

    async fn create_handoff(
        &self,
        case_id: CaseId,
        kind: HandoffKind,
        target: &str,
        message: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Handoff> {
        let case_id = case_id.0;
        let mut tx = self.write_tx().await?;
        let column = match kind {
            HandoffKind::Location => "location",
            HandoffKind::Product => "product",
        };
        let updated = q(format!(
            "UPDATE cases SET {column} = $1, updated_at = $2 WHERE id = $3"
        ))
        .bind(target.to_string())
        .bind(ms(now))
        .bind(case_id)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("hand off", e))?;
        if updated.rows_affected() == 0 {
            return Err(Error::case_not_found(case_id));
        }
        let row = q(format!(
            "INSERT INTO handoffs (case_id, kind, target, message, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {HANDOFF_COLUMNS}"
        ))
        .bind(case_id)
        .bind(kind.as_str())
        .bind(target.to_string())
        .bind(message.to_string())
        .bind(actor.to_string())
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error("hand off", e))?;
        let h = handoff(&row)?;
        insert_event(
            &mut tx,
            Some(case_id),
            actor,
            "case.handed_off",
            None,
            Some(json!({"handoff_id": h.id, "kind": kind, "target": target})),
            now,
        )
        .await?;
        commit(tx).await?;
        Ok(h)
    }

    async fn handoff(&self, id: i64) -> Result<Option<Handoff>> {
        self.wf_rows(
            q(format!(
                "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE id = $1"
            ))
            .bind(id),
        )
        .await?
        .first()
        .map(handoff)
        .transpose()
    }

    async fn handoffs(&self, case_id: Option<CaseId>) -> Result<Vec<Handoff>> {
        let case_id = case_id.map(|id| id.0);
        let query = match case_id {
            Some(id) => q(format!(
                "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE case_id = $1 ORDER BY id"
            ))
            .bind(id),
            None => q(format!(
                "SELECT {HANDOFF_COLUMNS} FROM handoffs ORDER BY id"
            )),
        };
        self.wf_rows(query).await?.iter().map(handoff).collect()
    }

    async fn answer_handoff(
        &self,
        id: i64,
        answer: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Handoff> {
        let mut tx = self.write_tx().await?;
        let row = q(format!(
            "UPDATE handoffs SET answer = $1, answered_by = $2, answered_at = $3 \
             WHERE id = $4 AND answer IS NULL RETURNING {HANDOFF_COLUMNS}"
        ))
        .bind(answer.to_string())
        .bind(actor.to_string())
        .bind(ms(now))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| db_error("answer handoff", e))?
        .ok_or_else(|| {
            Error::new(
                ErrorCode::Conflict,
                format!("handoff {id} does not exist or is already answered"),
            )
        })?;
        let h = handoff(&row)?;
        // The answer comes back into the case as an internal note.
        q("INSERT INTO notes (case_id, author, body, created_at) VALUES ($1, $2, $3, $4)")
            .bind(h.case_id.0)
            .bind(actor.to_string())
            .bind(format!("Answer from {} ({}): {answer}", actor, h.target))
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("answer handoff", e))?;
        insert_event(
            &mut tx,
            Some(h.case_id.0),
            actor,
            "handoff.answered",
            None,
            Some(json!({"handoff_id": id, "target": h.target})),
            now,
        )
        .await?;
        commit(tx).await?;
        Ok(h)
    }

    async fn notify(
        &self,
        user: &str,
        kind: &str,
        case_id: Option<CaseId>,
        text_: &str,
        payload: &Value,
        now: DateTime<Utc>,
    ) -> Result<Notification> {
        let case_id = case_id.map(|id| id.0);
        let row = q(format!(
            "INSERT INTO notifications (user_name, kind, case_id, text, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {NOTIFICATION_COLUMNS}"
        ))
        .bind(user.to_string())
        .bind(kind.to_string())
        .bind(case_id)
        .bind(text_.to_string())
        .bind(payload.to_string())
        .bind(ms(now))
        .fetch_one(self.pool())
        .await
        .map_err(|e| db_error("notify", e))?;
        notification(&row)
    }

    async fn notifications(&self, user: &str, unread_only: bool) -> Result<Vec<Notification>> {
        let extra = if unread_only {
            " AND read_at IS NULL"
        } else {
            ""
        };
        self.wf_rows(
            q(format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE user_name = $1{extra} \
                 ORDER BY id DESC LIMIT 500"
            ))
            .bind(user.to_string()),
        )
        .await?
        .iter()
        .map(notification)
        .collect()
    }

    async fn mark_notification_read(&self, user: &str, id: i64, now: DateTime<Utc>) -> Result<()> {
        let done = q("UPDATE notifications SET read_at = COALESCE(read_at, $1) \
                      WHERE id = $2 AND user_name = $3")
        .bind(ms(now))
        .bind(id)
        .bind(user.to_string())
        .execute(self.pool())
        .await
        .map_err(|e| db_error("read notification", e))?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found(format!("notification {id}")));
        }
        Ok(())
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>> {
        self.wf_rows(q("SELECT id, url, created_at FROM webhooks ORDER BY id"))
            .await?
            .iter()
            .map(webhook)
            .collect()
    }

    async fn add_webhook(
        &self,
        url: &str,
        secret: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Webhook> {
        let mut tx = self.write_tx().await?;
        let row = q(
            "INSERT INTO webhooks (url, secret, created_at) VALUES ($1, $2, $3) \
                     RETURNING id, url, created_at",
        )
        .bind(url.to_string())
        .bind(secret.to_string())
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error("add webhook", e))?;
        let w = webhook(&row)?;
        audit_tx(
            &mut tx,
            &change("webhook", w.id, "created", actor, None, Some(json!(w)), now),
        )
        .await?;
        commit(tx).await?;
        Ok(w)
    }

    async fn delete_webhook(&self, id: i64, actor: &str, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for sql in [
            "DELETE FROM webhook_deliveries WHERE webhook_id = $1",
            "DELETE FROM webhooks WHERE id = $1",
        ] {
            let done = q(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("delete webhook", e))?;
            if sql.contains("FROM webhooks") && done.rows_affected() == 0 {
                return Err(Error::not_found(format!("webhook {id}")));
            }
        }
        audit_tx(
            &mut tx,
            &change("webhook", id, "deleted", actor, None, None, now),
        )
        .await?;
        commit(tx).await
    }

    async fn queue_webhooks(&self, payload: &Value, now: DateTime<Utc>) -> Result<usize> {
        let done = q(
            "INSERT INTO webhook_deliveries (webhook_id, payload, created_at) \
                      SELECT id, $1, $2 FROM webhooks",
        )
        .bind(payload.to_string())
        .bind(ms(now))
        .execute(self.pool())
        .await
        .map_err(|e| db_error("queue webhook", e))?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    async fn due_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>> {
        self.wf_rows(
            q(
                "SELECT d.id, d.webhook_id, d.payload, d.created_at, d.delivered_at, d.attempts, d.last_error, \
               w.url, w.secret FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
               WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt_at <= $1 \
               ORDER BY d.id LIMIT $2",
            )
            .bind(ms(now))
            .bind(i64::from(limit.clamp(1, 500))),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(DueDelivery {
                delivery: WebhookDelivery {
                    id: col(r, "id")?,
                    webhook_id: col(r, "webhook_id")?,
                    payload: json_col(r, "payload")?,
                    created_at: from_ms(col(r, "created_at")?),
                    delivered_at: opt_time(r, "delivered_at")?,
                    last_error: col(r, "last_error")?,
                },
                url: col(r, "url")?,
                secret: col(r, "secret")?,
                attempts: col(r, "attempts")?,
            })
        })
        .collect()
    }

    async fn record_webhook_attempt(
        &self,
        id: i64,
        attempt: &WebhookAttempt,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let query = match attempt {
            WebhookAttempt::Delivered => q("UPDATE webhook_deliveries SET delivered_at = $1, \
                 attempts = attempts + 1, last_error = NULL WHERE id = $2")
            .bind(ms(now))
            .bind(id),
            WebhookAttempt::Failed { error, retry_at } => q("UPDATE webhook_deliveries SET \
                 attempts = attempts + 1, last_error = $1, next_attempt_at = $2, failed_at = $3 \
                 WHERE id = $4")
            .bind(error.clone())
            .bind(ms(retry_at.unwrap_or(now)))
            .bind(retry_at.is_none().then(|| ms(now)))
            .bind(id),
        };
        query
            .execute(self.pool())
            .await
            .map_err(|e| db_error("record webhook attempt", e))?;
        Ok(())
    }

    async fn webhook_deliveries(&self, limit: u32) -> Result<Vec<WebhookDelivery>> {
        self.wf_rows(
            q(
                "SELECT id, webhook_id, payload, created_at, delivered_at, last_error FROM webhook_deliveries \
               ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit.clamp(1, 500))),
        )
        .await?
        .iter()
        .map(|r| {
            Ok(WebhookDelivery {
                id: col(r, "id")?,
                webhook_id: col(r, "webhook_id")?,
                payload: json_col(r, "payload")?,
                created_at: from_ms(col(r, "created_at")?),
                delivered_at: opt_time(r, "delivered_at")?,
                last_error: col(r, "last_error")?,
            })
        })
        .collect()
    }

    async fn record_audit(&self, record: &AuditRecord) -> Result<()> {
        let mut tx = self.write_tx().await?;
        audit_tx(&mut tx, record).await?;
        commit(tx).await
    }

    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let mut clauses = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        // Text binds first ($1..), then times: placeholders are numbered in bind order.
        for (column, value) in [
            ("entity", &query.entity),
            ("entity_id", &query.entity_id),
            ("actor", &query.actor),
        ] {
            if let Some(v) = value {
                texts.push(v.clone());
                clauses.push(format!("{column} = ${}", texts.len()));
            }
        }
        for (op, value) in [(">=", query.since), ("<", query.until)] {
            if let Some(t) = value {
                ints.push(ms(t));
                clauses.push(format!("at {op} ${}", texts.len() + ints.len()));
            }
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let limit = i64::from(query.limit.unwrap_or(100).clamp(1, 1000));
        let sql = format!(
            "SELECT entity, entity_id, action, actor, before, after, at FROM ( \
             SELECT entity, entity_id, action, actor, before, after, at, id, 1 AS src FROM audit_log \
             UNION ALL \
             SELECT 'case' AS entity, CAST(case_id AS TEXT) AS entity_id, action, actor, before, \
             after, at, id, 0 AS src FROM events) a{filter} \
             ORDER BY at DESC, src DESC, id DESC LIMIT ${}",
            texts.len() + ints.len() + 1
        );
        let mut query_ = q(&sql);
        for t in texts {
            query_ = query_.bind(t);
        }
        for i in ints {
            query_ = query_.bind(i);
        }
        self.wf_rows(query_.bind(limit))
            .await?
            .iter()
            .map(audit_record)
            .collect()
    }
}
