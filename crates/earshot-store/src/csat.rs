//! CSAT policies, requests and answers on both dialects. One request per
//! case (`UNIQUE (case_id)`, inserted `ON CONFLICT DO NOTHING`); the answer
//! is written once by `UPDATE … WHERE answered_at IS NULL`, so a second
//! submission or a race leaves the first answer as it was.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;

use earshot_core::csat::{
    AnswerOutcome, CsatAnswer, CsatCandidate, CsatCounts, CsatDelivery, CsatGroupBy, CsatMode,
    CsatPolicies, CsatPolicy, CsatRequest, CsatStore, CsatSummaryQuery, CsatTrigger,
    NewCsatRequest, Rating, SourceCsatPolicy, TeamCsatPolicy,
};
use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::{CaseId, CsatRequestId, ReplyId, SourceId};

use crate::db_error;
use crate::rows::{self, Bind, bind_all, col, commit, insert_event, ms, opt_time, q, time};
use crate::sql::SqlStore;

const COLUMNS: &str = "id, case_id, trigger_kind, status, reply_id, no_channel_reason, \
    requested_by, created_at, sent_at, expires_at, score, comment, answered_at";

fn request(row: &AnyRow) -> Result<CsatRequest> {
    let trigger: String = col(row, "trigger_kind")?;
    let status: String = col(row, "status")?;
    let answered_at = opt_time(row, "answered_at")?;
    let score: Option<i64> = col(row, "score")?;
    let answer = match (answered_at, score) {
        (Some(answered_at), Some(score)) => Some(CsatAnswer {
            score: u8::try_from(score)
                .map_err(|_| Error::internal(format!("stored CSAT score {score}")))?,
            comment: col(row, "comment")?,
            answered_at,
        }),
        _ => None,
    };
    Ok(CsatRequest {
        id: CsatRequestId(col(row, "id")?),
        case_id: CaseId(col(row, "case_id")?),
        trigger: CsatTrigger::parse(&trigger)
            .ok_or_else(|| Error::internal(format!("stored CSAT trigger {trigger:?}")))?,
        delivery: CsatDelivery::parse(&status)
            .ok_or_else(|| Error::internal(format!("stored CSAT status {status:?}")))?,
        reply_id: col::<Option<i64>>(row, "reply_id")?.map(ReplyId),
        no_channel_reason: col(row, "no_channel_reason")?,
        requested_by: col(row, "requested_by")?,
        created_at: time(row, "created_at")?,
        sent_at: opt_time(row, "sent_at")?,
        expires_at: time(row, "expires_at")?,
        answer,
    })
}

fn policy(row: &AnyRow) -> Result<CsatPolicy> {
    let mode: String = col(row, "mode")?;
    let delay: Option<i64> = col(row, "delay_minutes")?;
    Ok(CsatPolicy {
        mode: CsatMode::parse(&mode)
            .ok_or_else(|| Error::internal(format!("stored CSAT mode {mode:?}")))?,
        delay_minutes: delay.and_then(|d| u32::try_from(d).ok()),
    })
}

/// `WHERE` for the summary: requests made in the range, cases in scope.
fn summary_filter(query: &CsatSummaryQuery) -> (String, Vec<Bind>) {
    let mut clauses = vec!["(r.status <> 'scheduled' OR r.answered_at IS NOT NULL)".to_string()];
    let mut binds = Vec::new();
    if let Some(from) = query.from {
        binds.push(Bind::Int(ms(from)));
        clauses.push(format!("r.created_at >= ${}", binds.len()));
    }
    if let Some(to) = query.to {
        binds.push(Bind::Int(ms(to)));
        clauses.push(format!("r.created_at < ${}", binds.len()));
    }
    if let Some(locations) = &query.locations {
        clauses.push(rows::at_locations("c.id", binds.len() + 1, locations.len()));
        binds.extend(locations.iter().cloned().map(Bind::Text));
    }
    (clauses.join(" AND "), binds)
}

/// The sums every summary row carries; `CAST` keeps PostgreSQL's `SUM`
/// a BIGINT rather than a NUMERIC.
const SUMS: &str = "CAST(SUM(CASE WHEN r.status = 'sent' OR r.answered_at IS NOT NULL \
        THEN 1 ELSE 0 END) AS BIGINT) AS requests, \
    CAST(SUM(CASE WHEN r.answered_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS answered, \
    CAST(SUM(CASE WHEN r.status = 'no_channel' AND r.answered_at IS NULL \
        THEN 1 ELSE 0 END) AS BIGINT) AS no_channel, \
    CAST(SUM(CASE WHEN r.answered_at IS NOT NULL THEN r.score ELSE 0 END) AS BIGINT) AS score_sum, \
    CAST(SUM(CASE WHEN r.answered_at IS NOT NULL AND r.score >= 4 THEN 1 ELSE 0 END) AS BIGINT) \
        AS satisfied";

fn counts(row: &AnyRow) -> Result<CsatCounts> {
    Ok(CsatCounts {
        requests: col(row, "requests")?,
        answered: col(row, "answered")?,
        no_channel: col(row, "no_channel")?,
        score_sum: col(row, "score_sum")?,
        satisfied: col(row, "satisfied")?,
    })
}

impl SqlStore {
    async fn csat_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: i64,
    ) -> Result<CsatRequest> {
        q(format!("SELECT {COLUMNS} FROM csat_requests WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| db_error("read CSAT request", e))?
            .as_ref()
            .map(request)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("CSAT request {id}")))
    }
}

#[async_trait]
impl CsatStore for SqlStore {
    async fn csat_policies(&self) -> Result<CsatPolicies> {
        let rows = q(
            "SELECT scope, scope_key, mode, delay_minutes FROM csat_policies \
             ORDER BY scope, scope_key"
                .to_string(),
        )
        .fetch_all(self.pool())
        .await
        .map_err(|e| db_error("read CSAT policies", e))?;
        let mut out = CsatPolicies::default();
        for row in &rows {
            let scope: String = col(row, "scope")?;
            let key: String = col(row, "scope_key")?;
            let p = policy(row)?;
            match scope.as_str() {
                "default" => out.default = p,
                "team" => out.teams.push(TeamCsatPolicy {
                    team: key,
                    policy: p,
                }),
                "source" => {
                    let id: i64 = key
                        .parse()
                        .map_err(|_| Error::internal(format!("stored CSAT source {key:?}")))?;
                    out.sources.push(SourceCsatPolicy {
                        source_id: SourceId(id),
                        policy: p,
                    });
                }
                other => return Err(Error::internal(format!("stored CSAT scope {other:?}"))),
            }
        }
        out.sources.sort_by_key(|s| s.source_id);
        Ok(out)
    }

    async fn set_csat_policies(
        &self,
        policies: &CsatPolicies,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let before = self.csat_policies().await?;
        let mut tx = self.write_tx().await?;
        q("DELETE FROM csat_policies".to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("replace CSAT policies", e))?;
        let rows = std::iter::once(("default", String::new(), &policies.default))
            .chain(
                policies
                    .teams
                    .iter()
                    .map(|t| ("team", t.team.clone(), &t.policy)),
            )
            .chain(
                policies
                    .sources
                    .iter()
                    .map(|s| ("source", s.source_id.to_string(), &s.policy)),
            );
        for (scope, key, p) in rows {
            q(
                "INSERT INTO csat_policies (scope, scope_key, mode, delay_minutes, updated_at) \
               VALUES ($1, $2, $3, $4, $5)"
                    .to_string(),
            )
            .bind(scope)
            .bind(key)
            .bind(p.mode.as_str())
            .bind(p.delay_minutes.map(i64::from))
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("store CSAT policy", e))?;
        }
        insert_event(
            &mut tx,
            None,
            actor,
            "csat.policies_changed",
            Some(serde_json::to_value(&before).unwrap_or_default()),
            Some(serde_json::to_value(policies).unwrap_or_default()),
            now,
        )
        .await?;
        commit(tx).await
    }

    async fn csat_candidates(
        &self,
        resolved_from: DateTime<Utc>,
        resolved_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CsatCandidate>> {
        let rows = q("SELECT c.id, c.team, c.resolved_at, \
                (SELECT m.source_id FROM mentions m WHERE m.case_id = c.id \
                 AND m.source_id IS NOT NULL ORDER BY m.id DESC LIMIT 1) AS source_id \
             FROM cases c \
             WHERE c.resolved_at >= $1 AND c.resolved_at <= $2 \
               AND c.status IN ('resolved', 'closed') \
               AND NOT EXISTS (SELECT 1 FROM csat_requests r WHERE r.case_id = c.id) \
             ORDER BY c.resolved_at, c.id LIMIT $3"
            .to_string())
        .bind(ms(resolved_from))
        .bind(ms(resolved_until))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(|e| db_error("scan for CSAT", e))?;
        rows.iter()
            .map(|row| {
                Ok(CsatCandidate {
                    case_id: CaseId(col(row, "id")?),
                    team: col(row, "team")?,
                    source_id: col::<Option<i64>>(row, "source_id")?.map(SourceId),
                    resolved_at: time(row, "resolved_at")?,
                })
            })
            .collect()
    }

    async fn create_csat_request(
        &self,
        new: &NewCsatRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<CsatRequest>> {
        let mut tx = self.write_tx().await?;
        // The case must exist: a clear 404 rather than a foreign-key error.
        self.fetch_case(&mut tx, new.case_id.0).await?;
        let inserted = q(format!(
            "INSERT INTO csat_requests (case_id, trigger_kind, status, source_id, requested_by, \
               lease_until, created_at, expires_at) \
             VALUES ($1, $2, 'scheduled', $3, $4, $5, $6, $7) \
             ON CONFLICT (case_id) DO NOTHING RETURNING {COLUMNS}"
        ))
        .bind(new.case_id.0)
        .bind(new.trigger.as_str())
        .bind(new.source_id.map(|s| s.0))
        .bind(new.requested_by.clone())
        .bind(ms(new.lease_until))
        .bind(ms(now))
        .bind(ms(new.expires_at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| db_error("create CSAT request", e))?;
        let created = inserted.as_ref().map(request).transpose()?;
        commit(tx).await?;
        Ok(created)
    }

    async fn csat_request(&self, id: CsatRequestId) -> Result<Option<CsatRequest>> {
        q(format!("SELECT {COLUMNS} FROM csat_requests WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| db_error("read CSAT request", e))?
            .as_ref()
            .map(request)
            .transpose()
    }

    async fn csat_for_case(&self, case_id: CaseId) -> Result<Option<CsatRequest>> {
        q(format!(
            "SELECT {COLUMNS} FROM csat_requests WHERE case_id = $1"
        ))
        .bind(case_id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| db_error("read CSAT request", e))?
        .as_ref()
        .map(request)
        .transpose()
    }

    async fn claim_csat_request(
        &self,
        id: CsatRequestId,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<CsatRequest>> {
        q(format!(
            "UPDATE csat_requests SET lease_until = $1 \
             WHERE id = $2 AND answered_at IS NULL \
               AND (status = 'no_channel' OR (status = 'scheduled' AND lease_until <= $3)) \
             RETURNING {COLUMNS}"
        ))
        .bind(ms(lease_until))
        .bind(id.0)
        .bind(ms(now))
        .fetch_optional(self.pool())
        .await
        .map_err(|e| db_error("claim CSAT request", e))?
        .as_ref()
        .map(request)
        .transpose()
    }

    async fn stalled_csat_requests(&self, now: DateTime<Utc>) -> Result<Vec<CsatRequest>> {
        q(format!(
            "SELECT {COLUMNS} FROM csat_requests \
             WHERE status = 'scheduled' AND lease_until <= $1 AND answered_at IS NULL \
             ORDER BY id LIMIT 100"
        ))
        .bind(ms(now))
        .fetch_all(self.pool())
        .await
        .map_err(|e| db_error("read stalled CSAT requests", e))?
        .iter()
        .map(request)
        .collect()
    }

    async fn mark_csat_sent(
        &self,
        id: CsatRequestId,
        reply_id: ReplyId,
        expires_at: DateTime<Utc>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CsatRequest> {
        let mut tx = self.write_tx().await?;
        let before = self.csat_in(&mut tx, id.0).await?;
        if before.delivery == CsatDelivery::Sent {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!("CSAT request {id} was already sent"),
            ));
        }
        q(
            "UPDATE csat_requests SET status = 'sent', reply_id = $1, sent_at = $2, \
             expires_at = $3, no_channel_reason = NULL, lease_until = NULL WHERE id = $4"
                .to_string(),
        )
        .bind(reply_id.0)
        .bind(ms(now))
        .bind(ms(expires_at))
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("mark CSAT sent", e))?;
        insert_event(
            &mut tx,
            Some(before.case_id.0),
            actor,
            "csat.sent",
            Some(serde_json::json!({"status": before.delivery})),
            Some(
                serde_json::json!({"status": "sent", "request_id": id, "reply_id": reply_id,
                "expires_at": expires_at}),
            ),
            now,
        )
        .await?;
        let after = self.csat_in(&mut tx, id.0).await?;
        commit(tx).await?;
        Ok(after)
    }

    async fn mark_csat_no_channel(
        &self,
        id: CsatRequestId,
        reason: &str,
        reply_id: Option<ReplyId>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CsatRequest> {
        let mut tx = self.write_tx().await?;
        let before = self.csat_in(&mut tx, id.0).await?;
        if before.delivery == CsatDelivery::Sent {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!("CSAT request {id} was already sent"),
            ));
        }
        q(
            "UPDATE csat_requests SET status = 'no_channel', no_channel_reason = $1, \
             reply_id = COALESCE($2, reply_id), lease_until = NULL WHERE id = $3"
                .to_string(),
        )
        .bind(reason.to_string())
        .bind(reply_id.map(|r| r.0))
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("mark CSAT without channel", e))?;
        insert_event(
            &mut tx,
            Some(before.case_id.0),
            actor,
            "csat.no_channel",
            Some(serde_json::json!({"status": before.delivery})),
            Some(serde_json::json!({"status": "no_channel", "request_id": id, "reason": reason})),
            now,
        )
        .await?;
        let after = self.csat_in(&mut tx, id.0).await?;
        commit(tx).await?;
        Ok(after)
    }

    async fn answer_csat(
        &self,
        id: CsatRequestId,
        rating: &Rating,
        now: DateTime<Utc>,
    ) -> Result<AnswerOutcome> {
        let mut tx = self.write_tx().await?;
        let updated = q(
            "UPDATE csat_requests SET score = $1, comment = $2, answered_at = $3 \
             WHERE id = $4 AND answered_at IS NULL"
                .to_string(),
        )
        .bind(i64::from(rating.score))
        .bind(rating.comment.clone())
        .bind(ms(now))
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("answer CSAT", e))?
        .rows_affected();
        let after = self.csat_in(&mut tx, id.0).await?;
        if updated == 0 {
            commit(tx).await?;
            return Ok(AnswerOutcome::AlreadyAnswered(after));
        }
        insert_event(
            &mut tx,
            Some(after.case_id.0),
            "customer",
            "csat.answered",
            None,
            Some(serde_json::json!({"request_id": id, "score": rating.score,
                "comment": rating.comment})),
            now,
        )
        .await?;
        commit(tx).await?;
        Ok(AnswerOutcome::Stored(after))
    }

    async fn csat_counts(
        &self,
        by: CsatGroupBy,
        query: &CsatSummaryQuery,
    ) -> Result<Vec<(Option<String>, CsatCounts)>> {
        let key = match by {
            CsatGroupBy::Agent => "c.assignee",
            CsatGroupBy::Team => "c.team",
            CsatGroupBy::Source => "c.source",
            CsatGroupBy::Period => {
                return Err(Error::internal("per-period counts come by day"));
            }
        };
        let (filter, binds) = summary_filter(query);
        let sql = format!(
            "SELECT {key} AS k, {SUMS} FROM csat_requests r JOIN cases c ON c.id = r.case_id \
             WHERE {filter} GROUP BY {key} ORDER BY {key}"
        );
        let rows = bind_all(q(sql), binds)
            .fetch_all(self.pool())
            .await
            .map_err(|e| db_error("sum CSAT", e))?;
        let mut out: Vec<(Option<String>, CsatCounts)> = rows
            .iter()
            .map(|row| Ok((col::<Option<String>>(row, "k")?, counts(row)?)))
            .collect::<Result<_>>()?;
        // The same order on both databases: named keys, then none.
        out.sort_by(|a, b| match (&a.0, &b.0) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        Ok(out)
    }

    async fn csat_daily_counts(&self, query: &CsatSummaryQuery) -> Result<Vec<(i64, CsatCounts)>> {
        let (filter, binds) = summary_filter(query);
        // Whole days since the epoch: integer division on both databases.
        let day = "CAST(r.created_at / 86400000 AS BIGINT)";
        let sql = format!(
            "SELECT {day} AS day, {SUMS} FROM csat_requests r JOIN cases c ON c.id = r.case_id \
             WHERE {filter} GROUP BY {day} ORDER BY {day}"
        );
        let rows = bind_all(q(sql), binds)
            .fetch_all(self.pool())
            .await
            .map_err(|e| db_error("sum CSAT by day", e))?;
        rows.iter()
            .map(|row| Ok((col::<i64>(row, "day")?, counts(row)?)))
            .collect()
    }
}
