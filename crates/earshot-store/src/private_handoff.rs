//! Private handoffs and the threads linked to cases, on both dialects. A
//! handoff's replies, their outbox rows and approval requests, the handoff
//! and its events are written in one transaction: a refusal stores nothing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::any::AnyRow;

use earshot_core::error::{Error, ErrorCode, Result};
use earshot_core::ids::{CaseId, PrivateHandoffId, ReplyId, SourceId};
use earshot_core::private_handoff::{
    FollowUp, NewPrivateHandoff, PrivateChannelKind, PrivateHandoffRecord, PrivateHandoffStore,
};
use earshot_core::reply::Visibility;
use earshot_core::store::NewReply;

use crate::db_error;
use crate::rows::{col, commit, from_ms, insert_event, ms, opt_time, q, time, to_json};
use crate::sql::{SqlStore, fetch_case_in, insert_reply};

const COLUMNS: &str = "id, case_id, channel, source_id, address, subject, public_reply_id, \
    private_reply_id, follow_up_note, follow_up_due_at, follow_up_assignee, follow_up_done_at, \
    follow_up_done_by, follow_up_notified_at, created_by, created_at";

fn record(row: &AnyRow) -> Result<PrivateHandoffRecord> {
    let channel: String = col(row, "channel")?;
    let follow_up = match col::<Option<i64>>(row, "follow_up_due_at")? {
        Some(due) => Some(FollowUp {
            note: col::<Option<String>>(row, "follow_up_note")?.unwrap_or_default(),
            due_at: from_ms(due),
            assignee: col::<Option<String>>(row, "follow_up_assignee")?.unwrap_or_default(),
            done_at: opt_time(row, "follow_up_done_at")?,
            done_by: col(row, "follow_up_done_by")?,
            notified_at: opt_time(row, "follow_up_notified_at")?,
        }),
        None => None,
    };
    Ok(PrivateHandoffRecord {
        id: PrivateHandoffId(col(row, "id")?),
        case_id: CaseId(col(row, "case_id")?),
        channel: PrivateChannelKind::parse(&channel)
            .ok_or_else(|| Error::internal(format!("stored handoff channel {channel:?}")))?,
        source_id: col::<Option<i64>>(row, "source_id")?.map(SourceId),
        address: col(row, "address")?,
        subject: col(row, "subject")?,
        public_reply_id: col::<Option<i64>>(row, "public_reply_id")?.map(ReplyId),
        private_reply_id: col::<Option<i64>>(row, "private_reply_id")?.map(ReplyId),
        follow_up,
        created_by: col(row, "created_by")?,
        created_at: time(row, "created_at")?,
    })
}

/// Asks for a supervisor's approval of `reply_id` in the caller's transaction.
async fn request_approval_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    reply_id: ReplyId,
    case_id: CaseId,
    by: &str,
    reasons: &[String],
    now: DateTime<Utc>,
) -> Result<()> {
    q(
        "INSERT INTO reply_approvals (reply_id, case_id, requested_by, reasons, requested_at) \
       VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(reply_id.0)
    .bind(case_id.0)
    .bind(by.to_string())
    .bind(to_json(&reasons)?)
    .bind(ms(now))
    .execute(&mut **tx)
    .await
    .map_err(|e| db_error("request approval", e))?;
    insert_event(
        tx,
        Some(case_id.0),
        by,
        "reply.approval_requested",
        None,
        Some(json!({"reply_id": reply_id, "reasons": reasons})),
        now,
    )
    .await
}

impl SqlStore {
    async fn one_handoff(&self, sql: &str, id: i64) -> Result<Option<PrivateHandoffRecord>> {
        q(format!(
            "SELECT {COLUMNS} FROM private_handoffs WHERE {sql}"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| db_error("read private handoff", e))?
        .as_ref()
        .map(record)
        .transpose()
    }
}

#[async_trait]
impl PrivateHandoffStore for SqlStore {
    async fn create_private_handoff(
        &self,
        new: &NewPrivateHandoff,
        now: DateTime<Utc>,
    ) -> Result<PrivateHandoffRecord> {
        let mut tx = self.write_tx().await?;
        fetch_case_in(&mut tx, new.case_id.0).await?;
        let actor = new.actor.as_str();
        let mut ids = [None, None];
        for (i, (text, visibility, channel)) in [
            (&new.public, Visibility::Public, None),
            (&new.private, Visibility::Private, new.private_kind),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(text) = text else { continue };
            let reply = NewReply {
                visibility,
                body: text.body.clone(),
                send: true,
            };
            let saved = insert_reply(
                &mut tx,
                new.case_id,
                &reply,
                &text.route,
                channel,
                actor,
                now,
            )
            .await?;
            if !new.approval_reasons.is_empty() {
                request_approval_in(
                    &mut tx,
                    saved.id,
                    new.case_id,
                    actor,
                    &new.approval_reasons,
                    now,
                )
                .await?;
            }
            ids[i] = Some(saved.id);
        }
        let follow = new.follow_up.as_ref();
        let row = q(format!(
            "INSERT INTO private_handoffs (case_id, channel, source_id, address, subject, \
             public_reply_id, private_reply_id, follow_up_note, follow_up_due_at, \
             follow_up_assignee, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {COLUMNS}"
        ))
        .bind(new.case_id.0)
        .bind(new.channel.as_str())
        .bind(new.source_id.map(|s| s.0))
        .bind(new.address.clone())
        .bind(new.subject.clone())
        .bind(ids[0].map(|r| r.0))
        .bind(ids[1].map(|r| r.0))
        .bind(follow.map(|f| f.note.clone()))
        .bind(follow.map(|f| ms(f.due_at)))
        .bind(follow.map(|f| f.assignee.clone()))
        .bind(actor.to_string())
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error("store private handoff", e))?;
        let saved = record(&row)?;
        insert_event(
            &mut tx,
            Some(new.case_id.0),
            actor,
            "case.taken_private",
            None,
            Some(json!({
                "handoff_id": saved.id,
                "channel": new.channel,
                "source_id": new.source_id,
                "address": new.address,
                "public_reply_id": ids[0],
                "private_reply_id": ids[1],
                "follow_up_due_at": follow.map(|f| f.due_at),
                "held_for_approval": !new.approval_reasons.is_empty(),
            })),
            now,
        )
        .await?;
        if !new.overridden.is_empty() {
            insert_event(
                &mut tx,
                Some(new.case_id.0),
                actor,
                "reply.personalisation_overridden",
                None,
                Some(json!({
                    "handoff_id": saved.id,
                    "reply_ids": ids.iter().flatten().collect::<Vec<_>>(),
                    "reasons": new.overridden,
                })),
                now,
            )
            .await?;
        }
        commit(tx).await?;
        Ok(saved)
    }

    async fn private_handoffs(&self, case_id: CaseId) -> Result<Vec<PrivateHandoffRecord>> {
        q(format!(
            "SELECT {COLUMNS} FROM private_handoffs WHERE case_id = $1 ORDER BY id"
        ))
        .bind(case_id.0)
        .fetch_all(self.pool())
        .await
        .map_err(|e| db_error("read private handoffs", e))?
        .iter()
        .map(record)
        .collect()
    }

    async fn private_handoff(&self, id: PrivateHandoffId) -> Result<Option<PrivateHandoffRecord>> {
        self.one_handoff("id = $1", id.0).await
    }

    async fn private_handoff_of_reply(
        &self,
        reply_id: ReplyId,
    ) -> Result<Option<PrivateHandoffRecord>> {
        self.one_handoff(
            "public_reply_id = $1 OR private_reply_id = $1 ORDER BY id DESC LIMIT 1",
            reply_id.0,
        )
        .await
    }

    async fn complete_follow_up(
        &self,
        id: PrivateHandoffId,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<PrivateHandoffRecord> {
        let mut tx = self.write_tx().await?;
        let row = q(format!(
            "SELECT {COLUMNS} FROM private_handoffs WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| db_error("read private handoff", e))?
        .ok_or_else(|| Error::not_found(format!("private handoff {id}")))?;
        let before = record(&row)?;
        let Some(follow) = &before.follow_up else {
            return Err(Error::new(
                ErrorCode::InvalidTransition,
                format!("private handoff {id} has no follow-up to mark done"),
            ));
        };
        if let (Some(at), Some(who)) = (follow.done_at, &follow.done_by) {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!("the follow-up of private handoff {id} was marked done by {who} at {at}"),
            ));
        }
        q(
            "UPDATE private_handoffs SET follow_up_done_at = $1, follow_up_done_by = $2 \
           WHERE id = $3 AND follow_up_done_at IS NULL",
        )
        .bind(ms(now))
        .bind(by.to_string())
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("complete follow-up", e))?;
        insert_event(
            &mut tx,
            Some(before.case_id.0),
            by,
            "follow_up.done",
            None,
            Some(json!({"handoff_id": id, "channel": before.channel})),
            now,
        )
        .await?;
        let row = q(format!(
            "SELECT {COLUMNS} FROM private_handoffs WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error("read private handoff", e))?;
        let after = record(&row)?;
        commit(tx).await?;
        Ok(after)
    }

    async fn due_follow_ups(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PrivateHandoffRecord>> {
        q(format!(
            "SELECT {COLUMNS} FROM private_handoffs WHERE follow_up_due_at IS NOT NULL \
             AND follow_up_done_at IS NULL AND follow_up_notified_at IS NULL \
             AND follow_up_due_at <= $1 ORDER BY follow_up_due_at, id LIMIT $2"
        ))
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(|e| db_error("read due follow-ups", e))?
        .iter()
        .map(record)
        .collect()
    }

    async fn mark_follow_up_notified(
        &self,
        id: PrivateHandoffId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = q("UPDATE private_handoffs SET follow_up_notified_at = $1 \
                      WHERE id = $2 AND follow_up_notified_at IS NULL AND follow_up_done_at IS NULL")
        .bind(ms(now))
        .bind(id.0)
        .execute(self.pool())
        .await
        .map_err(|e| db_error("mark follow-up notified", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn link_thread(
        &self,
        conversation_key: &str,
        case_id: CaseId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // A key links to the case that opened it last: a thread reused for a
        // newer case follows that case.
        let mut tx = self.write_tx().await?;
        let existing = q("SELECT case_id FROM case_threads WHERE conversation_key = $1")
            .bind(conversation_key.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error("read case thread", e))?;
        let changed = match existing {
            Some(row) if col::<i64>(&row, "case_id")? == case_id.0 => false,
            Some(_) => {
                q("UPDATE case_threads SET case_id = $1, created_at = $2 \
                   WHERE conversation_key = $3")
                .bind(case_id.0)
                .bind(ms(now))
                .bind(conversation_key.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("link case thread", e))?;
                true
            }
            None => {
                q(
                    "INSERT INTO case_threads (conversation_key, case_id, created_at) \
                   VALUES ($1, $2, $3) ON CONFLICT (conversation_key) \
                   DO UPDATE SET case_id = excluded.case_id",
                )
                .bind(conversation_key.to_string())
                .bind(case_id.0)
                .bind(ms(now))
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("link case thread", e))?;
                true
            }
        };
        if changed {
            insert_event(
                &mut tx,
                Some(case_id.0),
                "outbox",
                "case.thread_linked",
                None,
                Some(json!({"conversation_key": conversation_key})),
                now,
            )
            .await?;
        }
        commit(tx).await
    }

    async fn case_threads(&self, case_id: CaseId) -> Result<Vec<String>> {
        q(
            "SELECT conversation_key FROM case_threads WHERE case_id = $1 ORDER BY created_at, \
           conversation_key",
        )
        .bind(case_id.0)
        .fetch_all(self.pool())
        .await
        .map_err(|e| db_error("read case threads", e))?
        .iter()
        .map(|r| col(r, "conversation_key"))
        .collect()
    }
}
