//! The reply outbox on both dialects. Claiming is one write transaction
//! (`BEGIN IMMEDIATE` on SQLite, so claimers queue) with `UPDATE …
//! RETURNING`; on PostgreSQL the due rows are picked `FOR UPDATE SKIP
//! LOCKED`, so concurrent workers take disjoint rows without waiting.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::AnyPool;
use sqlx::any::AnyRow;

use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::{CaseId, OutboxId, ReplyId, SourceId};
use earshot_core::outbox::{OutboxItem, OutboxResult, OutboxStatus, OutboxStore};
use earshot_core::reply::{DeliveredVia, Visibility};

use crate::rows::{col, commit, insert_event, ms, opt_time, q, time};
use crate::sql::SqlStore;
use crate::{Dialect, db_error};

/// Who records the channel's acknowledgement in the case events.
const ACTOR: &str = "outbox";

const COLUMNS: &str = "o.id, o.reply_id, r.case_id, o.source_id, o.idempotency_key, o.visibility, \
    o.body, o.recipient, o.reply_ref, o.status, o.needs_reconcile, o.attempts, o.next_attempt_at, \
    o.lease_until, o.lease_owner, o.first_attempt_at, o.remote_id, o.remote_url, o.last_error, \
    c.last_customer_at, o.created_at, o.updated_at";
const FROM: &str = "outbox o JOIN replies r ON r.id = o.reply_id JOIN cases c ON c.id = r.case_id";

/// A row that may be claimed at `$1`: due and waiting, or held under a
/// lease that expired (its worker died mid-send).
const DUE: &str = "((status IN ('queued', 'unknown') AND next_attempt_at <= $1) \
    OR (status = 'sending' AND lease_until <= $1))";

fn item(row: &AnyRow) -> Result<OutboxItem> {
    let status: String = col(row, "status")?;
    let visibility: String = col(row, "visibility")?;
    let reply_ref: String = col(row, "reply_ref")?;
    Ok(OutboxItem {
        id: OutboxId(col(row, "id")?),
        reply_id: ReplyId(col(row, "reply_id")?),
        case_id: CaseId(col(row, "case_id")?),
        source_id: col::<Option<i64>>(row, "source_id")?.map(SourceId),
        idempotency_key: col(row, "idempotency_key")?,
        visibility: Visibility::parse(&visibility)
            .ok_or_else(|| Error::internal(format!("stored outbox visibility {visibility:?}")))?,
        body: col(row, "body")?,
        recipient: col(row, "recipient")?,
        reply_ref: serde_json::from_str(&reply_ref)
            .map_err(|e| Error::internal(format!("column reply_ref: {e}")))?,
        status: OutboxStatus::parse(&status)
            .ok_or_else(|| Error::internal(format!("stored outbox status {status:?}")))?,
        attempts: u32::try_from(col::<i64>(row, "attempts")?).unwrap_or(0),
        next_attempt_at: time(row, "next_attempt_at")?,
        lease_until: opt_time(row, "lease_until")?,
        lease_owner: col(row, "lease_owner")?,
        first_attempt_at: opt_time(row, "first_attempt_at")?,
        remote_id: col(row, "remote_id")?,
        remote_url: col(row, "remote_url")?,
        last_error: col(row, "last_error")?,
        last_inbound_at: opt_time(row, "last_customer_at")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        needs_reconcile: col::<i64>(row, "needs_reconcile")? != 0,
    })
}

/// Every delivery of case `case_id`'s replies (the case page's view).
pub(crate) async fn of_case(pool: &AnyPool, case_id: i64) -> Result<Vec<OutboxItem>> {
    q(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE r.case_id = $1 ORDER BY o.id"
    ))
    .bind(case_id)
    .fetch_all(pool)
    .await
    .map_err(|e| db_error("read outbox", e))?
    .iter()
    .map(item)
    .collect()
}

async fn item_in(tx: &mut sqlx::Transaction<'static, sqlx::Any>, id: i64) -> Result<OutboxItem> {
    q(format!("SELECT {COLUMNS} FROM {FROM} WHERE o.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|e| db_error("read outbox", e))?
        .as_ref()
        .map(item)
        .transpose()?
        .ok_or_else(|| Error::not_found(format!("outbox row {id}")))
}

/// The claimed row `id`, refused unless `owner` still holds its lease.
async fn held(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: i64,
    owner: &str,
) -> Result<OutboxItem> {
    let current = item_in(tx, id).await?;
    if current.status != OutboxStatus::Sending || current.lease_owner.as_deref() != Some(owner) {
        return Err(Error::new(
            ErrorCode::Conflict,
            format!(
                "outbox row {id} is {} and no longer leased to this worker",
                current.status.as_str()
            ),
        ));
    }
    Ok(current)
}

/// Sets the reply's status (and reason) while it is still in the outbox's
/// hands, so an agent's later change is never overwritten.
async fn set_reply(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    reply_id: i64,
    status: &str,
    error: Option<&str>,
) -> Result<()> {
    q("UPDATE replies SET status = $1, error = $2 WHERE id = $3 \
       AND status IN ('queued', 'sending')")
    .bind(status.to_string())
    .bind(error.map(str::to_owned))
    .bind(reply_id)
    .execute(&mut **tx)
    .await
    .map_err(|e| db_error("update reply", e))?;
    Ok(())
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: u32,
        owner: &str,
    ) -> Result<Vec<OutboxItem>> {
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let mut tx = self.write_tx().await?;
        // SET reads the row as it was: a row that was not plainly queued
        // may have landed, so it is reconciled before any resend. The due
        // test is repeated outside so PostgreSQL rechecks it on a row
        // another worker changed meanwhile.
        // The picked ids are MATERIALIZED: PostgreSQL may otherwise run a
        // `LIMIT … SKIP LOCKED` subquery again for each outer row, and each
        // run skips to other rows, claiming more than `limit`.
        let claimed = q(format!(
            "WITH picked AS MATERIALIZED (SELECT id FROM outbox WHERE {DUE} \
             ORDER BY next_attempt_at, id LIMIT $4{lock}) \
             UPDATE outbox SET status = 'sending', \
             needs_reconcile = CASE WHEN status = 'queued' THEN 0 ELSE 1 END, \
             lease_until = $2, lease_owner = $3, updated_at = $1 \
             WHERE {DUE} AND id IN (SELECT id FROM picked) RETURNING id"
        ))
        .bind(ms(now))
        .bind(ms(now + lease))
        .bind(owner.to_string())
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| db_error("claim outbox", e))?;
        let ids = claimed
            .iter()
            .map(|row| col::<i64>(row, "id"))
            .collect::<Result<Vec<_>>>()?;
        if ids.is_empty() {
            commit(tx).await?;
            return Ok(Vec::new());
        }
        let list = (1..=ids.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut mark = q(format!(
            "UPDATE replies SET status = 'sending' WHERE status IN ('queued', 'sending') \
             AND id IN (SELECT reply_id FROM outbox WHERE id IN ({list}))"
        ));
        let mut read = q(format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE o.id IN ({list}) ORDER BY o.next_attempt_at, o.id"
        ));
        for id in &ids {
            mark = mark.bind(*id);
            read = read.bind(*id);
        }
        mark.execute(&mut *tx)
            .await
            .map_err(|e| db_error("mark replies sending", e))?;
        let items = read
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| db_error("read claimed outbox", e))?
            .iter()
            .map(item)
            .collect::<Result<Vec<_>>>()?;
        commit(tx).await?;
        Ok(items)
    }

    async fn complete(
        &self,
        id: OutboxId,
        owner: &str,
        result: &OutboxResult,
        now: DateTime<Utc>,
    ) -> Result<OutboxItem> {
        let id = id.0;
        let mut tx = self.write_tx().await?;
        let current = held(&mut tx, id, owner).await?;
        let reply_id = current.reply_id.0;
        let (status, next_at, error, remote_id, remote_url, in_doubt) = match result {
            OutboxResult::Sent { remote_id, url } => (
                OutboxStatus::Sent,
                current.next_attempt_at,
                None,
                Some(remote_id.clone()),
                url.clone(),
                false,
            ),
            OutboxResult::Retry { at, error, unknown } => (
                if *unknown {
                    OutboxStatus::Unknown
                } else {
                    OutboxStatus::Queued
                },
                *at,
                Some(error.clone()),
                None,
                None,
                *unknown,
            ),
            OutboxResult::Failed { error } => (
                OutboxStatus::Failed,
                current.next_attempt_at,
                Some(error.clone()),
                None,
                None,
                false,
            ),
            OutboxResult::Dead { error } => (
                OutboxStatus::Dead,
                current.next_attempt_at,
                Some(error.clone()),
                None,
                None,
                false,
            ),
        };
        q(
            "UPDATE outbox SET status = $1, next_attempt_at = $2, last_error = $3, \
             remote_id = COALESCE($4, remote_id), remote_url = COALESCE($5, remote_url), \
             needs_reconcile = $6, attempts = attempts + 1, \
             first_attempt_at = COALESCE(first_attempt_at, $7), \
             lease_until = NULL, lease_owner = NULL, updated_at = $7 WHERE id = $8",
        )
        .bind(status.as_str())
        .bind(ms(next_at))
        .bind(error.clone())
        .bind(remote_id.clone())
        .bind(remote_url.clone())
        .bind(i64::from(in_doubt))
        .bind(ms(now))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("record outbox attempt", e))?;
        match result {
            OutboxResult::Sent { remote_id, url } => {
                crate::sql::mark_sent_in(
                    &mut tx,
                    reply_id,
                    DeliveredVia::Channel,
                    Some(remote_id),
                    url.as_deref(),
                    ACTOR,
                    now,
                )
                .await?;
            }
            OutboxResult::Retry { unknown, .. } => {
                // In doubt, it may be on the platform already: not back to queued.
                let shown = if *unknown { "sending" } else { "queued" };
                set_reply(&mut tx, reply_id, shown, None).await?;
            }
            OutboxResult::Failed { error } | OutboxResult::Dead { error } => {
                set_reply(&mut tx, reply_id, "failed", Some(error)).await?;
                insert_event(
                    &mut tx,
                    Some(current.case_id.0),
                    ACTOR,
                    "reply.failed",
                    Some(serde_json::json!({"reply_id": reply_id, "status": "sending"})),
                    Some(serde_json::json!({"reply_id": reply_id, "status": "failed",
                        "outbox": status.as_str(), "error": error})),
                    now,
                )
                .await?;
            }
        }
        let done = item_in(&mut tx, id).await?;
        commit(tx).await?;
        Ok(done)
    }

    async fn release(
        &self,
        id: OutboxId,
        owner: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let current = held(&mut tx, id.0, owner).await?;
        let status = if current.needs_reconcile {
            OutboxStatus::Unknown
        } else {
            OutboxStatus::Queued
        };
        q(
            "UPDATE outbox SET status = $1, next_attempt_at = $2, lease_until = NULL, \
           lease_owner = NULL, updated_at = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(ms(at))
        .bind(ms(now))
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("release outbox row", e))?;
        if !current.needs_reconcile {
            set_reply(&mut tx, current.reply_id.0, "queued", None).await?;
        }
        commit(tx).await
    }

    async fn due_now(&self, ids: &[OutboxId], now: DateTime<Utc>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let list = (2..ids.len() + 2)
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut update = q(format!(
            "UPDATE outbox SET next_attempt_at = $1 WHERE id IN ({list}) \
             AND status IN ('queued', 'unknown') AND lease_owner IS NULL \
             AND next_attempt_at > $1"
        ))
        .bind(ms(now));
        for id in ids {
            update = update.bind(id.0);
        }
        let mut tx = self.write_tx().await?;
        update
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("make outbox rows due", e))?;
        commit(tx).await
    }

    async fn for_reply(&self, reply_id: ReplyId) -> Result<Option<OutboxItem>> {
        q(format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE o.reply_id = $1"
        ))
        .bind(reply_id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| db_error("read outbox", e))?
        .as_ref()
        .map(item)
        .transpose()
    }

    async fn for_case(&self, case_id: CaseId) -> Result<Vec<OutboxItem>> {
        of_case(self.pool(), case_id.0).await
    }
}
