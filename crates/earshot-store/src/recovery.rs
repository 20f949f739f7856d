//! Recovery assessments on both dialects. The author's later posts are read
//! through `mentions_author_time` (source, lower(author_handle), created_at):
//! `lower` is SQLite's ASCII-only folding on SQLite and the database's on
//! PostgreSQL, the same on both sides of each comparison.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::any::AnyRow;

use earshot_core::analysis::Sentiment;
use earshot_core::error::{Error, Result};
use earshot_core::ids::{CaseId, MentionId};
use earshot_core::mention::Mention;
use earshot_core::recovery::{RecoveryAssessment, RecoveryOutcome, RecoveryRow, RecoveryStore};
use earshot_core::source::SourceKind;

use crate::db_error;
use crate::rows::{self, Bind, MENTION_COLUMNS, bind_all, col, ms, q, time, to_json};
use crate::sql::SqlStore;

/// The author's public posts after `$3` up to `$4`: the query the
/// `mentions_author_time` index serves (tests check its plan).
pub const LATER_MENTIONS_SQL: &str = "FROM mentions m WHERE m.source = $1 \
    AND lower(m.author_handle) = lower($2) AND m.created_at > $3 AND m.created_at <= $4 \
    AND m.private = 0";

/// The assessment belongs to the case's current resolution.
const CURRENT: &str = "c.id = r.case_id AND c.resolved_at = r.resolved_at";

/// A case whose stored assessment (`r`, possibly none) needs redoing at
/// `$1` with a window of `$2` ms.
const NEEDS: &str = "(r.case_id IS NULL OR r.resolved_at <> c.resolved_at \
    OR r.window_end - r.resolved_at <> $2 \
    OR (r.is_final = 0 AND (r.window_end <= $1 OR EXISTS (SELECT 1 FROM mentions m \
        WHERE m.source = c.source AND lower(m.author_handle) = lower(c.author_handle) \
        AND m.created_at > c.resolved_at AND m.created_at <= r.window_end \
        AND m.private = 0 AND m.received_at > r.assessed_at))))";

const COLUMNS: &str = "r.case_id, r.outcome, r.before_tone, r.after_tone, r.before_mentions, \
    r.after_mentions, r.later_posts, r.resolved_at, r.window_end, r.is_final, r.assessed_at, \
    r.reason";

fn tone(row: &AnyRow, name: &str) -> Result<Option<Sentiment>> {
    match col::<Option<String>>(row, name)? {
        Some(s) => Sentiment::parse(&s)
            .map(Some)
            .ok_or_else(|| Error::internal(format!("stored {name} {s:?}"))),
        None => Ok(None),
    }
}

fn ids(row: &AnyRow, name: &str) -> Result<Vec<MentionId>> {
    rows::json_col(row, name)
}

fn assessment(row: &AnyRow) -> Result<RecoveryAssessment> {
    let outcome: String = col(row, "outcome")?;
    Ok(RecoveryAssessment {
        case_id: CaseId(col(row, "case_id")?),
        outcome: RecoveryOutcome::parse(&outcome)
            .ok_or_else(|| Error::internal(format!("stored recovery outcome {outcome:?}")))?,
        before: tone(row, "before_tone")?,
        after: tone(row, "after_tone")?,
        before_mentions: ids(row, "before_mentions")?,
        after_mentions: ids(row, "after_mentions")?,
        later_posts: u32::try_from(col::<i64>(row, "later_posts")?).unwrap_or(0),
        resolved_at: time(row, "resolved_at")?,
        window_end: time(row, "window_end")?,
        is_final: col::<i64>(row, "is_final")? != 0,
        assessed_at: time(row, "assessed_at")?,
        reason: col(row, "reason")?,
    })
}

#[async_trait]
impl RecoveryStore for SqlStore {
    async fn recovery_due(
        &self,
        now: DateTime<Utc>,
        window: TimeDelta,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<CaseId>> {
        let limit = i64::from(limit.clamp(1, 10_000));
        let mut values = vec![Bind::Int(ms(now)), Bind::Int(window.num_milliseconds())];
        let sql = match since {
            // Recent resolutions through `cases_resolved`, provisional rows
            // through `recovery_provisional`: neither scans every case.
            Some(since) => {
                values.push(Bind::Int(ms(since)));
                values.push(Bind::Int(limit));
                format!(
                    "SELECT id, resolved_at FROM (\
                       SELECT c.id, c.resolved_at FROM cases c \
                         LEFT JOIN recovery r ON r.case_id = c.id \
                         WHERE c.resolved_at >= $3 AND {NEEDS} \
                       UNION \
                       SELECT c.id, c.resolved_at FROM recovery r \
                         JOIN cases c ON c.id = r.case_id \
                         WHERE r.is_final = 0 AND c.resolved_at IS NOT NULL AND {NEEDS}\
                     ) due ORDER BY resolved_at, id LIMIT $4"
                )
            }
            None => {
                values.push(Bind::Int(limit));
                format!(
                    "SELECT c.id FROM cases c LEFT JOIN recovery r ON r.case_id = c.id \
                     WHERE c.resolved_at IS NOT NULL AND {NEEDS} \
                     ORDER BY c.resolved_at, c.id LIMIT $3"
                )
            }
        };
        bind_all(q(sql), values)
            .fetch_all(self.pool())
            .await
            .map_err(|e| db_error("find due recovery", e))?
            .iter()
            .map(|r| Ok(CaseId(col(r, "id")?)))
            .collect()
    }

    async fn later_public_mentions(
        &self,
        source: SourceKind,
        handle: &str,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Mention>> {
        q(format!(
            "SELECT {MENTION_COLUMNS} {LATER_MENTIONS_SQL} ORDER BY m.created_at, m.id LIMIT $5"
        ))
        .bind(source.as_str())
        .bind(handle.to_string())
        .bind(ms(after))
        .bind(ms(until))
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(self.pool())
        .await
        .map_err(|e| db_error("read later mentions", e))?
        .iter()
        .map(rows::mention)
        .collect()
    }

    async fn save_recovery(&self, a: &RecoveryAssessment) -> Result<()> {
        q(
            "INSERT INTO recovery (case_id, outcome, before_tone, after_tone, before_mentions, \
             after_mentions, later_posts, resolved_at, window_end, is_final, assessed_at, reason) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
           ON CONFLICT (case_id) DO UPDATE SET outcome = excluded.outcome, \
             before_tone = excluded.before_tone, after_tone = excluded.after_tone, \
             before_mentions = excluded.before_mentions, \
             after_mentions = excluded.after_mentions, later_posts = excluded.later_posts, \
             resolved_at = excluded.resolved_at, window_end = excluded.window_end, \
             is_final = excluded.is_final, assessed_at = excluded.assessed_at, \
             reason = excluded.reason",
        )
        .bind(a.case_id.0)
        .bind(a.outcome.as_str())
        .bind(a.before.map(|s| s.as_str()))
        .bind(a.after.map(|s| s.as_str()))
        .bind(to_json(&a.before_mentions)?)
        .bind(to_json(&a.after_mentions)?)
        .bind(i64::from(a.later_posts))
        .bind(ms(a.resolved_at))
        .bind(ms(a.window_end))
        .bind(i64::from(a.is_final))
        .bind(ms(a.assessed_at))
        .bind(a.reason.clone())
        .execute(self.pool())
        .await
        .map_err(|e| db_error("save recovery", e))?;
        Ok(())
    }

    async fn recovery(&self, case_id: CaseId) -> Result<Option<RecoveryAssessment>> {
        q(format!(
            "SELECT {COLUMNS} FROM recovery r JOIN cases c ON {CURRENT} WHERE r.case_id = $1"
        ))
        .bind(case_id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| db_error("read recovery", e))?
        .as_ref()
        .map(assessment)
        .transpose()
    }

    async fn recovery_rows(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        locations: Option<&[String]>,
    ) -> Result<Vec<RecoveryRow>> {
        let mut clauses: Vec<String> = Vec::new();
        let mut values: Vec<Bind> = Vec::new();
        if let Some(from) = from {
            values.push(Bind::Int(ms(from)));
            clauses.push(format!("c.resolved_at >= ${}", values.len()));
        }
        if let Some(to) = to {
            values.push(Bind::Int(ms(to)));
            clauses.push(format!("c.resolved_at < ${}", values.len()));
        }
        if let Some(locations) = locations {
            clauses.push(rows::at_locations(
                "c.id",
                values.len() + 1,
                locations.len(),
            ));
            values.extend(locations.iter().cloned().map(Bind::Text));
        }
        let filter: String = clauses.iter().map(|c| format!(" AND {c}")).collect();
        let sql = format!(
            "SELECT r.outcome, c.assignee, c.team, c.category, c.source, c.resolved_at \
             FROM recovery r JOIN cases c ON {CURRENT} WHERE 1 = 1{filter}"
        );
        bind_all(q(sql), values)
            .fetch_all(self.pool())
            .await
            .map_err(|e| db_error("read recovery rows", e))?
            .iter()
            .map(|row| {
                let outcome: String = col(row, "outcome")?;
                Ok(RecoveryRow {
                    outcome: RecoveryOutcome::parse(&outcome).ok_or_else(|| {
                        Error::internal(format!("stored recovery outcome {outcome:?}"))
                    })?,
                    assignee: col(row, "assignee")?,
                    team: col(row, "team")?,
                    category: col(row, "category")?,
                    source: col(row, "source")?,
                    resolved_at: time(row, "resolved_at")?,
                })
            })
            .collect()
    }
}

/// The current assessment of the case row `cases` (the outer query's table,
/// unaliased) has the outcome bound at `{}` (the cases filter).
pub(crate) const OUTCOME_FILTER: &str = "EXISTS (SELECT 1 FROM recovery r \
    WHERE r.case_id = cases.id AND r.resolved_at = cases.resolved_at AND r.outcome = {})";
